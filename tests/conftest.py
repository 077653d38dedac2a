from __future__ import annotations

from pathlib import Path

import matplotlib
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

# Figures drawn in the test process itself go nowhere. (Not via $MPLBACKEND: the chapter
# kernels that papermill starts would inherit it and reports would lose their figures.)
matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MEDBENCH_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (tiny models on a shared 2-core machine), restored after."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def notebooks_dir() -> Path:
    return NOTEBOOKS


def write_chapter_notebook(path: Path, params: str, body: list[str]) -> None:
    """A tiny chapter for tests of the report machinery: a title cell, a ``parameters`` cell
    holding ``params`` and one code cell per string of ``body``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem} title"), p] + [nbformat.v4.new_code_cell(s) for s in body]
    nbformat.write(nb, path)
