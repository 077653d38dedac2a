from __future__ import annotations

from pathlib import Path

import matplotlib
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
def notebooks_dir() -> Path:
    return NOTEBOOKS
