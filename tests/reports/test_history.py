"""Run history: provenance in summary.json, the history page with sparklines and red flags,
and `medbench report --compare` (with --fail-on-regression)."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from medbench.cli import main
from medbench.reports.history import compare, format_comparison, run_values, sparkline

from conftest import write_chapter_notebook


@pytest.fixture
def drift_notebooks(tmp_path) -> Path:
    """One chapter whose `auroc` moves with the parameter `shift`; `stable` never moves."""
    root = tmp_path / "notebooks"
    (root / "profiles").mkdir(parents=True)
    write_chapter_notebook(root / "20_drift.ipynb", "shift = 0.0  # moves the auroc\nseed = 0", [
        "import medbench\nmedbench.record('auroc', 0.8 + shift)\nmedbench.record('stable', 1.0)",
    ])
    (root / "profiles" / "smoke.yaml").write_text(
        'chapters:\n  "20":\n    expect:\n      auroc: {min: 0.5, max: 0.84, tolerance: 0.01}\n'
        '    tolerance: {stable: 0.1}\n')
    return root


@pytest.mark.slow
def test_two_runs_one_metric_beyond_tolerance_flag_the_history_and_fail_compare(drift_notebooks, tmp_path,
                                                                                 monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default out folder: reports/<timestamp>, history in reports/index.html
    base = ["--notebooks", str(drift_notebooks), "report", "--profile", "smoke"]
    assert main(base) == 0
    assert main(base + ["-p", "shift=0.05"]) == 0  # the 0.84 bound now fails (a check, not a failed chapter)
    runs = sorted(p for p in (tmp_path / "reports").iterdir() if p.is_dir() and not p.is_symlink())
    assert len(runs) == 2
    runs.sort(key=lambda r: json.loads((r / "summary.json").read_text())["started"])
    first, second = (json.loads((r / "summary.json").read_text()) for r in runs)

    # provenance of every run
    prov = second["provenance"]
    assert prov["medbench"] and prov["versions"]["torch"] and prov["versions"]["monai"] and prov["versions"]["papermill"]
    assert prov["cpu"] and prov["cpu_count"] >= 1 and isinstance(prov["gpu"], list)
    assert prov["git"] is None or re.fullmatch(r"[0-9a-f]{40}", prov["git"]["commit"])
    assert second["profile"] == "smoke" and second["duration_s"] >= 0 and second["ended"] >= second["started"]
    assert second["parameters"] == {"20_drift": {"shift": 0.05}}
    assert second["chapters"][0]["tolerance"] == {"auroc": 0.01, "stable": 0.1}
    # a tolerance is not a bound: the checks are min and max only
    assert [c["rule"] for c in second["chapters"][0]["checks"]] == [">= 0.5", "<= 0.84"]

    index = (tmp_path / "reports" / "index.html").read_text()
    # the link text, delimited: a run finished in the same second is named `<first>-2`, so the bare name is a prefix
    link = ">{}</a>".format
    assert index.index(link(runs[1].name)) < index.index(link(runs[0].name)), "newest run first"
    assert f"href='{runs[0].name}/index.html'" in index
    assert index.count("<svg class='spark'") == 2  # auroc and stable
    auroc_row = re.search(r"<tr class='([^']*)'><td>20</td><td><code>auroc</code>.*?</tr>", index).group(0)
    stable_row = re.search(r"<tr class='([^']*)'><td>20</td><td><code>stable</code>.*?</tr>", index).group(0)
    assert "class='flag'" in auroc_row and "fill='#c00'" in auroc_row and "+0.05" in auroc_row
    assert "class=''" in stable_row
    assert "check 20 auroc &lt;= 0.84 newly fails" in index and "chapter 20 newly fails" not in index
    assert "../index.html" in (runs[1] / "index.html").read_text()  # a run links back to the history

    capsys.readouterr()
    a, b = (str(r) for r in runs)
    assert main(["report", "--compare", a, b, "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"20\s+auroc\s+0\.8\s+0\.85\s+\+0\.05\s+0\.01 \(profile\)\s+CHANGED", out), out
    assert re.search(r"20\s+stable\s+1\s+1\s+\+0\s+0\.1 \(profile\)\s*$", out, re.M), out
    assert "!! check 20 auroc <= 0.84 newly fails" in out
    assert main(["report", "--compare", a, b]) == 0  # without --fail-on-regression: a report, not a verdict
    assert main(["report", "--compare", a, a, "--fail-on-regression"]) == 0
    assert main(["report", "--compare", "reports/latest", a, "--fail-on-regression"]) == 1  # names under reports/


def test_compare_of_a_missing_run_exits_2(tmp_path, capsys):
    assert main(["report", "--compare", str(tmp_path / "nope"), str(tmp_path), "--fail-on-regression"]) == 2
    assert "no report there" in capsys.readouterr().err


def test_bad_tolerance_exits_2_before_any_kernel(drift_notebooks, tmp_path, capsys):
    (drift_notebooks / "profiles" / "smoke.yaml").write_text('chapters:\n  "20":\n    tolerance: {auroc: -1}\n')
    out = tmp_path / "never"
    assert main(["--notebooks", str(drift_notebooks), "report", "--profile", "smoke", "--out", str(out)]) == 2
    assert "tolerance of 'auroc' must be a number >= 0" in capsys.readouterr().err
    assert not out.exists()


def _entry(cid, metrics, grid=None, status="ok", tolerance=None, checks=()):
    return {"id": cid, "name": f"{cid}_x", "run": f"{cid}_x", "status": status, "metrics": metrics,
            "grid": grid or {}, "tolerance": tolerance or {}, "checks": list(checks)}


def test_without_a_profile_tolerance_a_seed_grid_gives_it_and_single_runs_are_not_judged():
    old = {"chapters": [_entry("01", {"auc": v}, {"seed": s}) for s, v in enumerate([0.70, 0.74, 0.81])]
                       + [_entry("02", {"loss": 1.0})]}
    new = {"chapters": [_entry("01", {"auc": v}, {"seed": s}) for s, v in enumerate([0.72, 0.76, 0.80])]
                       + [_entry("02", {"loss": 5.0})]}
    vals = run_values(old)
    assert vals[("01", "auc")]["value"] == pytest.approx(0.75)
    assert vals[("01", "auc")]["sd"] == pytest.approx(math.sqrt(0.0031))
    cmp = compare(old, new)
    rows = {(r["chapter"], r["metric"]): r for r in cmp.rows}
    auc = rows[("01", "auc")]
    assert auc["source"] == "2 sd seeds" and auc["tolerance"] == pytest.approx(2 * math.sqrt(0.0031))
    assert auc["delta"] == pytest.approx(0.76 - 0.75) and not auc["flag"]
    assert rows[("02", "loss")]["tolerance"] is None and not rows[("02", "loss")]["flag"]  # not judged
    assert cmp.n_flags == 0
    # a mean that moves by more than twice the seed sd is flagged
    moved = {"chapters": [_entry("01", {"auc": v}, {"seed": s}) for s, v in enumerate([0.90, 0.92, 0.95])]}
    assert [r["flag"] for r in compare(old, moved).rows if r["metric"] == "auc"] == [True]
    text = format_comparison(compare(old, moved), "A", "B")
    assert "CHANGED" in text and "0.75 ± 0.056" in text


def test_a_chapter_and_a_check_that_newly_fail_are_flagged_once():
    check = {"metric": "auc", "rule": ">= 0.7", "value": 0.8, "passed": True}
    old = {"chapters": [_entry("01", {"auc": 0.8}, checks=[check])]}
    new = {"chapters": [_entry("01", {}, status="failed", checks=[dict(check, value=None, passed=False)])]}
    cmp = compare(old, new)
    assert cmp.events == ["chapter 01 newly fails", "check 01 auc >= 0.7 newly fails"]
    assert compare(new, new).n_flags == 0  # failing twice is not news


def test_sparkline_is_inline_svg_with_gaps_and_a_red_last_point():
    svg = sparkline([1.0, None, 3.0, 2.0], flagged=True)
    assert svg.startswith("<svg") and "http" not in svg.replace("xmlns", "")
    assert svg.count(",") == 3 + 2  # three points in the polyline, the circle's cx/cy, the title "1, 3, 2"
    assert "fill='#c00'" in svg and "<title>1, 3, 2</title>" in svg
    assert "points='60.0,14.0'" in sparkline([5.0])
    assert sparkline([None, float("nan")]) == "–"
