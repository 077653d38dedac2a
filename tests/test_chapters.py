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


@pytest.mark.slow
def test_chapter_03_brain_dataset_at_smoke(tmp_path):
    """Chapter 03's `dataset="brain"` branch: MRI tissues, no largest-component step, MR viewers."""
    report = run_report(profile="smoke", chapters=["03"], overrides=["03.dataset=brain"], out=tmp_path,
                        progress=False)
    (entry,) = report.chapters
    assert entry["status"] == "ok", entry["error"]
    m = entry["metrics"]
    assert {"dice_csf_other", "dice_grey_matter", "dice_white_matter", "mean_hd95_mm"} <= set(m)
    assert not any(k.startswith("dice_liver") for k in m)
    # 12 short epochs learn the largest tissue first (0.53 measured; all-background scores 0)
    assert m["dice_white_matter"] > 0.3, m
