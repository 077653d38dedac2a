"""Parameter grids: cross-product per chapter, validation like -p, aggregation across seeds
(against a hand computation), every run kept and linked, and the progress bar."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from medbench.cli import main
from medbench.reports import discover_chapters
from medbench.reports.grid import RunProgress, expand_runs, mean_ci, parse_grid

from conftest import write_chapter_notebook

T_975_DF2 = 4.302652729911275  # Student t, 97.5% quantile, 2 degrees of freedom (tables: 4.303)
VALUES = [0.70, 0.74, 0.81]


@pytest.fixture
def seed_notebooks(tmp_path) -> Path:
    root = tmp_path / "notebooks"
    (root / "profiles").mkdir(parents=True)
    write_chapter_notebook(root / "30_seeded.ipynb", "seed = 0\nlr = 0.1", [
        f"import medbench\nmedbench.record('m', {VALUES}[seed])\nmedbench.record('constant', 2.0)",
        "if seed == 3:\n    raise RuntimeError('seed 3 breaks')",
    ])
    write_chapter_notebook(root / "31_other.ipynb", "seed = 0\nwidth = 4", ["import medbench\nmedbench.record('w', width)"])
    (root / "profiles" / "smoke.yaml").write_text('chapters:\n  "30":\n    parameters: {lr: 0.2}\n')
    return root


def test_hand_computed_mean_sd_and_t_interval():
    s = mean_ci(VALUES)
    sd = math.sqrt(((0.70 - 0.75) ** 2 + (0.74 - 0.75) ** 2 + (0.81 - 0.75) ** 2) / 2)  # = sqrt(0.0031)
    half = T_975_DF2 * sd / math.sqrt(3)
    assert s["n"] == 3 and s["mean"] == pytest.approx(0.75)
    assert s["sd"] == pytest.approx(sd) and sd == pytest.approx(0.0556776, abs=1e-6)
    assert (s["ci_low"], s["ci_high"]) == (pytest.approx(0.75 - half), pytest.approx(0.75 + half))
    assert half == pytest.approx(0.138311, abs=1e-5)
    one = mean_ci([0.5])
    assert one["mean"] == 0.5 and one["sd"] is None and one["ci_low"] is None


def test_cross_product_per_chapter_and_typed_values(seed_notebooks):
    chapters = discover_chapters(seed_notebooks)
    specs = expand_runs(chapters, {"30": {"parameters": {"lr": 0.2}}}, {"31.width": "8"},
                        parse_grid(["30.seed=0,1", "lr=0.001,0.003"]))
    assert [s.name for s in specs] == ["30_seeded__seed-0__lr-0.001", "30_seeded__seed-0__lr-0.003",
                                       "30_seeded__seed-1__lr-0.001", "30_seeded__seed-1__lr-0.003", "31_other"]
    assert specs[1].parameters == {"lr": 0.003, "seed": 0} and specs[1].grid == {"seed": 0, "lr": 0.003}
    assert specs[4].parameters == {"width": 8} and specs[4].grid == {}  # no axis applies: one run
    unscoped = expand_runs(chapters, {}, {}, parse_grid(["seed=5,6"]))
    assert [s.name for s in unscoped] == ["30_seeded__seed-5", "30_seeded__seed-6", "31_other__seed-5",
                                          "31_other__seed-6"]


@pytest.mark.parametrize("grid,message", [
    (["30.seed=0,x"], "parameter 'seed' (--grid) must be int, got 'x'"),
    (["nope=1,2"], "unknown parameter 'nope' (--grid)"),
    (["99.seed=1,2"], "--grid 99.seed: chapter '99' is not among the selected chapters"),
    (["seed"], "--grid expects KEY=V1,V2,..."),
    (["seed=1,,2"], "--grid expects KEY=V1,V2,..."),
    (["seed=1,1"], "a value is repeated"),
    (["seed=1", "seed=2"], "--grid seed is given twice"),
    (["seed=1,2", "30.seed=3,4"], "parameter 'seed' of chapter 30 already has a grid axis"),
])
def test_bad_grids_exit_2_before_any_kernel(seed_notebooks, tmp_path, capsys, grid, message):
    out = tmp_path / "never"
    args = ["--notebooks", str(seed_notebooks), "report", "--profile", "smoke", "--out", str(out)]
    assert main(args + [a for g in grid for a in ("--grid", g)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists(), "nothing may be written before validation passes"


@pytest.mark.slow
def test_grid_of_three_seeds_aggregates_keeps_and_links_every_run(seed_notebooks, tmp_path, capsys):
    out = tmp_path / "grid"
    code = main(["--notebooks", str(seed_notebooks), "report", "--profile", "smoke", "--out", str(out), "--jobs", "2",
                 "--chapters", "30", "--grid", "30.seed=0,1,2,3"])
    assert code == 1  # seed 3 fails; the other three are aggregated
    summary = json.loads((out / "summary.json").read_text())
    runs = [e["run"] for e in summary["chapters"]]
    assert runs == [f"30_seeded__seed-{s}" for s in range(4)]
    assert [e["status"] for e in summary["chapters"]] == ["ok", "ok", "ok", "failed"]
    assert summary["chapters"][1]["parameters"] == {"lr": 0.2, "seed": 1}
    assert summary["grid"] == ["30.seed=0,1,2,3"]
    for r in runs:  # every run is kept
        assert (out / f"{r}.ipynb").is_file() and (out / f"{r}.html").is_file()
    (agg,) = summary["aggregates"]
    assert agg["id"] == "30" and agg["point"] == "" and agg["runs"] == runs and agg["n_failed"] == 1
    m = agg["metrics"]["m"]
    sd = math.sqrt(0.0031)
    assert m["n"] == 3 and m["values"] == VALUES  # seed 3 failed before recording anything new
    assert m["mean"] == pytest.approx(0.75) and m["sd"] == pytest.approx(sd)
    assert m["ci_low"] == pytest.approx(0.75 - T_975_DF2 * sd / math.sqrt(3))
    assert m["ci_high"] == pytest.approx(0.75 + T_975_DF2 * sd / math.sqrt(3))
    c = agg["metrics"]["constant"]
    assert (c["mean"], c["sd"], c["ci_low"], c["ci_high"]) == (2.0, 0.0, 2.0, 2.0)
    index = (out / "index.html").read_text()
    assert "Across seeds" in index and "t-based 95% confidence interval" in index
    assert "<td>0.75</td><td>0.0557</td><td>[0.6117, 0.8883]</td><td>3 (1 failed)</td>" in index
    for r in runs:
        assert f"href='{r}.html'" in index
    assert "(seed=2)" in index
    err = capsys.readouterr().err
    assert "chapters: 100%" in err and "ok=3 failed=1 running=0" in err  # the progress bar


def test_progress_counts_ok_failed_running(capsys):
    bar = RunProgress(3)
    bar.started("a")
    bar.started("b")
    assert (bar.ok, bar.failed, bar.running) == (0, 0, 2)
    bar.finished({"run": "a", "status": "ok", "checks": [], "duration_s": 1.0, "error": None})
    bar.finished({"run": "b", "status": "failed", "checks": [], "duration_s": 1.0, "error": "boom"})
    bar.set_running(1)
    bar.finished({"run": "c", "status": "ok", "checks": [], "duration_s": 1.0, "error": None}, was_running=False)
    assert (bar.ok, bar.failed, bar.running, bar.bar.n) == (2, 1, 1, 3)
    bar.set_running(0)
    bar.close()
    captured = capsys.readouterr()
    assert "ok=2 failed=1 running=0" in captured.err  # the bar on stderr, the lines on stdout
    assert "[medbench] b: failed in 1.0s - boom" in captured.out
    assert RunProgress(1).bar is None  # one run: its lines, no bar
