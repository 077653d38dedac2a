import math

import nbformat
import numpy as np
import pytest
import torch

from medbench import ConfigError, record
from medbench.record import METRIC_MIMETYPE, metrics_from_notebook


def test_record_outside_a_kernel_prints_plain_values_and_returns_none(capsys):
    assert record("auc", np.float32(0.5)) is None
    record("n", np.int64(3))
    record("t", torch.tensor(2.5))
    out = capsys.readouterr().out
    assert "auc = 0.5\n" in out and "n = 3\n" in out and "t = 2.5\n" in out


def test_record_on_a_cell_s_last_line_displays_once():
    """In a real kernel: one display_data output carrying the metric, no Out[n] echo of the value."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np\nfrom medbench import record\n"
                                          "record('auc', np.float32(0.75))")]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data"], outputs
    assert outputs[0].data["text/plain"] == "auc = 0.75"
    assert metrics_from_notebook(nb) == {"auc": 0.75}


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
