"""Every chapter executes at the smoke profile through `medbench report`'s own code path."""
from __future__ import annotations

import json

import pytest

from medbench.reports import load_profile, run_report

from conftest import NOTEBOOKS

CHAPTER_IDS = sorted(p.stem.split("_")[0] for p in NOTEBOOKS.glob("[0-9]*_*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTER_IDS)
def test_chapter_runs_at_smoke_and_meets_its_thresholds(chapter, tmp_path):
    report = run_report(profile="smoke", chapters=[chapter], out=tmp_path, progress=False)
    (entry,) = report.chapters
    assert entry["status"] == "ok", entry["error"]
    expect = load_profile("smoke", NOTEBOOKS)[chapter]["expect"]
    missing = set(expect) - set(entry["metrics"])
    assert not missing, f"metrics not recorded: {missing}"
    failed = [c for c in entry["checks"] if not c["passed"]]
    assert not failed, failed
    html = (tmp_path / entry["html"]).read_text()
    assert "application/vnd.jupyter.widget-state+json" in html or "jupyter-widgets" not in html
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["chapters"][0]["metrics"] == entry["metrics"]
