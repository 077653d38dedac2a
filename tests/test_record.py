import math

import nbformat
import numpy as np
import pytest
import torch

from medbench import ConfigError, record
from medbench.record import METRIC_MIMETYPE, metrics_from_notebook


def test_record_outside_a_kernel_prints_and_returns_plain_values(capsys):
    assert record("auc", np.float32(0.5)) == 0.5
    assert isinstance(record("n", np.int64(3)), int)
    assert record("t", torch.tensor(2.5)) == 2.5
    assert "auc = 0.5" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["", "1abc", "a b", None])
def test_record_rejects_bad_names(name):
    with pytest.raises(ConfigError):
        record(name, 1.0)


def test_record_rejects_arrays():
    with pytest.raises(ConfigError, match="number"):
        record("x", np.ones(3))


def _nb_with(*items):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data={METRIC_MIMETYPE: it, "text/plain": "x"})
                    for it in items]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), cell]
    return nb


def test_metrics_read_back_from_notebook_last_value_wins_and_nan_survives():
    nb = _nb_with({"name": "a", "value": 1}, {"name": "a", "value": 2}, {"name": "b", "value": "nan"})
    m = metrics_from_notebook(nb)
    assert m["a"] == 2
    assert math.isnan(m["b"])
