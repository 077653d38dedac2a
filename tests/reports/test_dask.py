"""The Dask backend on a loopback LocalCluster of 2 single-threaded worker processes: the same
metrics as the local path, files back in the report folder, and a worker that dies fails only
the run it was executing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from medbench.cli import main
from medbench.reports import run_report

from conftest import write_chapter_notebook

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow


@pytest.fixture
def dask_notebooks(tmp_path) -> Path:
    root = tmp_path / "notebooks"
    (root / "profiles").mkdir(parents=True)
    write_chapter_notebook(root / "40_numbers.ipynb", "seed = 0\nn = 50", [
        "import numpy as np, medbench\nx = np.random.default_rng(seed).normal(size=n)\n"
        "medbench.record('mean_x', float(x.mean()))\nmedbench.record('n', n)",
    ])
    write_chapter_notebook(root / "41_figure.ipynb", "k = 3", [
        "import matplotlib.pyplot as plt, medbench\nplt.plot(range(k)); plt.show()\nmedbench.record('k_cubed', k ** 3)",
    ])
    # Kills the Dask worker process that executes it (MEDBENCH_DASK_WORKER_PID exists only there).
    write_chapter_notebook(root / "42_killer.ipynb", "x = 1", [
        "import os, signal, medbench\nmedbench.record('before', x)",
        "pid = os.environ.get('MEDBENCH_DASK_WORKER_PID')\nassert pid, 'only on a Dask worker'\n"
        "os.kill(int(pid), signal.SIGKILL)\nos._exit(1)",
    ])
    (root / "profiles" / "smoke.yaml").write_text(
        'chapters:\n  "40":\n    parameters: {n: 20}\n    expect:\n      n: {min: 20, max: 20}\n')
    return root


def test_dask_local_cluster_gives_the_local_metrics_and_files(dask_notebooks, tmp_path, capsys):
    local = run_report("smoke", ["40", "41"], ["40.seed=3"], tmp_path / "local", jobs=1,
                       notebooks_dir=dask_notebooks, progress=False)
    code = main(["--notebooks", str(dask_notebooks), "report", "--profile", "smoke", "--chapters", "40,41",
                 "-p", "40.seed=3", "--out", str(tmp_path / "dask"), "--dask", "--jobs", "2"])
    assert code == 0
    summary = json.loads((tmp_path / "dask" / "summary.json").read_text())
    assert summary["backend"] == "dask LocalCluster (2 workers)"
    assert [e["metrics"] for e in summary["chapters"]] == [e["metrics"] for e in local.chapters]
    assert summary["chapters"][0]["metrics"]["n"] == 20 and all(c["passed"] for c in summary["chapters"][0]["checks"])
    for e in summary["chapters"]:
        assert e["status"] == "ok" and e["worker"]
        assert (tmp_path / "dask" / e["notebook"]).is_file() and (tmp_path / "dask" / e["html"]).is_file()
    assert "data:image/png;base64" in (tmp_path / "dask" / "41_figure.html").read_text()
    assert (tmp_path / "dask" / "_static" / "embed-amd.js").is_file()
    assert "ok=2 failed=0 running=0" in capsys.readouterr().err


def test_a_killed_worker_fails_only_its_run(dask_notebooks, tmp_path):
    out = tmp_path / "killed"
    report = run_report("smoke", None, None, out, jobs=2, notebooks_dir=dask_notebooks, progress=False, dask=True,
                        grid=["40.seed=0,1"])
    by_run = {e["run"]: e for e in report.chapters}
    assert list(by_run) == ["40_numbers__seed-0", "40_numbers__seed-1", "41_figure", "42_killer"]
    killed = by_run["42_killer"]
    assert killed["status"] == "failed" and "the Dask worker running it died" in killed["error"]
    assert killed["notebook"] is None and killed["html"] is None
    others = [e for name, e in by_run.items() if name != "42_killer"]
    assert all(e["status"] == "ok" and e["metrics"] for e in others)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is False and len(summary["chapters"]) == 4
    assert summary["aggregates"][0]["runs"] == ["40_numbers__seed-0", "40_numbers__seed-1"]
    index = (out / "index.html").read_text()
    assert "the Dask worker running it died" in index and "41_figure.html" in index


def test_an_unreachable_scheduler_exits_2_before_writing(dask_notebooks, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("medbench.reports.grid.CONNECT_TIMEOUT", "2s")
    out = tmp_path / "never"
    code = main(["--notebooks", str(dask_notebooks), "report", "--profile", "smoke", "--chapters", "40",
                 "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 2
    assert "no Dask scheduler answered" in capsys.readouterr().err and not out.exists()
