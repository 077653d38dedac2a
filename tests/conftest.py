from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
FIXTURE_NOTEBOOKS = Path(__file__).parent / "fixtures" / "notebooks"

# Tests never download and never touch the user's cache.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MEDBENCH_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture
def notebooks_dir() -> Path:
    return NOTEBOOKS
