import random

import numpy as np
import pytest
import torch

import medbench
from medbench import ConfigError, MedbenchError
from medbench.settings import data_dir, get_device, parse_sizes, seed_everything


def test_seed_everything_makes_python_numpy_torch_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3).tolist()

    seed_everything(7)
    first = draw()
    seed_everything(7)
    assert draw() == first
    seed_everything(8)
    assert draw() != first


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None])
def test_seed_everything_rejects_bad_seed(bad):
    with pytest.raises(ConfigError, match="seed"):
        seed_everything(bad)


def test_device_defaults_to_cpu_here_and_honours_override(monkeypatch):
    monkeypatch.delenv("MEDBENCH_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if expected == "cpu" and torch.backends.mps.is_available():
        expected = "mps"
    assert get_device().type == expected
    assert get_device("cpu").type == "cpu"
    monkeypatch.setenv("MEDBENCH_DEVICE", "cpu")
    assert get_device().type == "cpu"


def test_device_errors_name_the_choice():
    with pytest.raises(ConfigError, match="'tpu' is unknown"):
        get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="not available"):
            get_device("cuda")


def test_data_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDBENCH_DATA_DIR", str(tmp_path / "d"))
    assert data_dir() == tmp_path / "d"
    assert (tmp_path / "d").is_dir()
    monkeypatch.delenv("MEDBENCH_DATA_DIR")
    assert "medbench" in str(data_dir(create=False))


def test_error_family():
    assert issubclass(ConfigError, MedbenchError)
    assert issubclass(medbench.DataNotFoundError, FileNotFoundError)
    assert issubclass(medbench.DataNotFoundError, medbench.DataError)


def test_one_value_parser_for_report_and_train_overrides():
    from medbench.settings import parse_override, parse_value

    assert parse_value("2e-3") == 2e-3 and isinstance(parse_value("2e-3"), float)  # YAML 1.1 reads a string
    assert parse_value("[32, 32, 16]") == [32, 32, 16] and parse_value("None") is None
    assert parse_value("lung") == "lung" and parse_value("true") is True  # YAML after literals
    assert parse_override("lr=1e-4") == ("lr", 1e-4)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("lr")


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", None])
def test_one_seed_check_everywhere(bad):
    from medbench.data.brain import deformed_brain
    from medbench.data.phantom import make_ct_phantom
    from medbench.settings import check_seed

    for call in (check_seed, seed_everything, lambda s: make_ct_phantom(seed=s), lambda s: deformed_brain(seed=s)):
        with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
            call(bad)


def test_parse_sizes_reads_x_or_comma_and_names_the_parameter():
    assert parse_sizes("roi_size", "48x48x32", 3) == (48, 48, 32)
    assert parse_sizes("channels", "16,32,64") == (16, 32, 64) and parse_sizes("grid", [8, 8, 4], 3) == (8, 8, 4)
    for bad in ("big", "48x48", "0x8x8", None):
        with pytest.raises(ConfigError, match="roi_size must be 3 integers >= 1"):
            parse_sizes("roi_size", bad, 3)
    with pytest.raises(ConfigError, match=">= 8"):
        parse_sizes("ROI", "4x4x4", 3, minimum=8)
