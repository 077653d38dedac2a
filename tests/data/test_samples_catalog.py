"""Real bundled DICOM samples (offline), the dataset catalogue and ``medbench data list``."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")

from medbench.cli import main  # noqa: E402
from medbench.data.catalog import DATASETS, datasets_table, get_dataset, n_available  # noqa: E402
from medbench.data.samples import SAMPLES, sample_cr, sample_ct, sample_mr, sample_path  # noqa: E402
from medbench.errors import ConfigError  # noqa: E402
from medbench.settings import data_dir  # noqa: E402


# ----------------------------------------------------------------------------- samples
def test_sample_ct_is_a_512_head_ct_in_hounsfield_units():
    d = sample_ct()
    img, pad = d["image"], d["padding_mask"]
    assert img.shape == (512, 512) and img.dtype == np.float32
    assert d["meta"]["modality"] == "CT" and d["meta"]["units"] == "HU"
    assert d["spacing"] == pytest.approx((0.478516, 0.478516))
    assert pad is not None and 0.1 < pad.mean() < 0.4  # outside the reconstruction circle
    assert np.all(img[pad] == -3024.0)
    inside = img[~pad]
    air = inside[inside < -900]
    assert -1010 < np.median(air) < -970  # air around the head is about -1000 HU
    assert inside.max() > 1000  # skull
    soft = inside[(inside > -100) & (inside < 100)]
    assert soft.size > 10_000 and 0 < np.median(soft) < 60  # brain ~ 20-40 HU
    assert d["meta"]["sample"]["licence"].startswith("CC BY-NC-SA 4.0")


def test_compressed_samples_decode_identically():
    np.testing.assert_array_equal(sample_ct(compressed=True)["image"], sample_ct()["image"])
    mr, mr_j2k = sample_mr(), sample_mr(compressed=True)
    assert "JPEG 2000" in mr_j2k["meta"]["transfer_syntax"]
    np.testing.assert_array_equal(mr_j2k["image"], mr["image"])


def test_sample_mr_is_an_enhanced_multiframe_mr():
    d = sample_mr()
    assert d["image"].shape == (64, 64, 10) and d["meta"]["sop_class"] == "Enhanced MR Image Storage"
    assert d["meta"]["modality"] == "MR" and d["spacing"][2] == pytest.approx(1.2)
    assert d["image"].max() > 100


@pytest.mark.slow
def test_sample_cr_is_an_inverted_chest_radiograph_and_j2k_matches():
    d = sample_cr()
    assert d["image"].shape == (1841, 1955) and d["meta"]["modality"] == "CR"
    assert d["meta"]["inverted"] and d["meta"]["body_part"] == "CHEST"
    # after inversion the lungs (centre left/right) are darker than the mediastinum (centre)
    img = d["image"]
    lung = np.median(img[500:900, 700:1100])
    mediastinum = np.median(img[880:960, 700:1100])
    assert mediastinum > lung
    np.testing.assert_array_equal(sample_cr(compressed=True)["image"], img)


def test_sample_paths_are_local_files():
    for key in SAMPLES:
        assert sample_path(key).is_file() and sample_path(key, compressed=True).is_file()
    with pytest.raises(ConfigError, match="unknown sample"):
        sample_path("pet")


# ----------------------------------------------------------------------------- catalogue
def test_catalogue_entries_are_complete_and_unique():
    names = [d.name for d in DATASETS]
    assert len(names) == len(set(names))
    for d in DATASETS:
        assert d.source and d.licence and d.kind and d.loader.startswith("medbench.data.")
    for required in ["dicom-ct-head", "dicom-mr-enhanced", "dicom-cr-chest", "mni152", "ct-phantom",
                     "brain-mri-sim", "breast-cancer-wisconsin", "medmnist/pathmnist", "medmnist/synapsemnist3d",
                     "msd/Task09_Spleen"]:
        assert required in names
    assert sum(n.startswith("medmnist/") for n in names) == 18


def test_offline_entries_are_available_and_downloads_are_not():
    for name in ["dicom-ct-head", "dicom-mr-enhanced", "dicom-cr-chest", "breast-cancer-wisconsin"]:
        assert get_dataset(name).available(), get_dataset(name).status()
    # the test data directory is empty: nothing the user downloads is there
    assert not get_dataset("medmnist/pathmnist").available()
    ok, detail = get_dataset("msd/Task09_Spleen").status()
    assert not ok and str(data_dir() / "msd" / "Task09_Spleen") in detail
    assert all(d.offline for d in DATASETS if d.name.startswith(("dicom-", "mni152", "ct-phantom")))
    assert not any(d.offline for d in DATASETS if d.name.startswith(("medmnist/", "msd/")))


def test_availability_follows_the_data_directory():
    before = n_available()
    folder = data_dir() / "medmnist"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pneumoniamnist_64.npz").write_bytes(b"")
    ok, detail = get_dataset("medmnist/pneumoniamnist").status()
    assert ok and "sizes 64" in detail and n_available() == before + 1


def test_loaders_resolve_and_load():
    d = get_dataset("dicom-mr-enhanced").load()
    assert d["image"].shape == (64, 64, 10)
    split = get_dataset("breast-cancer-wisconsin").load()
    assert split.X_train.shape[1] == 30
    with pytest.raises(ConfigError, match="unknown dataset"):
        get_dataset("imagenet")


def test_table_has_the_provenance_columns():
    table = datasets_table()
    assert list(table.columns) == ["name", "kind", "offline", "available", "detail", "source", "licence", "loader"]
    assert len(table) == len(DATASETS)
    assert len(datasets_table(offline_only=True)) == sum(d.offline for d in DATASETS)


# ----------------------------------------------------------------------------- CLI
def test_data_list_prints_a_table(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:6] == ["NAME", "KIND", "OFFLINE", "AVAILABLE", "LICENCE", "SOURCE"]
    ct = next(line for line in out if line.startswith("dicom-ct-head"))
    assert "yes" in ct and "CC BY-NC-SA 4.0" in ct and "CQ500" in ct
    assert any(line.startswith("medmnist/dermamnist") and "CC BY-NC 4.0" in line for line in out)
    assert out[-1].endswith("($MEDBENCH_DATA_DIR).") and f"of {len(DATASETS)} datasets available" in out[-1]


def test_data_list_json_offline_and_verbose(capsys):
    assert main(["data", "list", "--json", "--offline"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records and all(r["offline"] for r in records)
    assert main(["data", "list", "-v"]) == 0
    assert "-> 693_UNCR.dcm in pydicom-data  [medbench.data.samples.sample_ct]" in capsys.readouterr().out


def test_data_list_through_the_console_script():
    exe = Path(sys.executable).with_name("medbench")
    res = subprocess.run([str(exe), "data", "list"], capture_output=True, text=True)
    assert res.returncode == 0 and "dicom-cr-chest" in res.stdout
    bad = subprocess.run([str(exe), "data"], capture_output=True, text=True)
    assert bad.returncode == 2  # a data action is required
