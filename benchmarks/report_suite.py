"""Wall time and peak memory of `medbench report`, with papermill's own overhead as baseline.

Runs, in one process tree and one session (so the numbers are comparable on a noisy
machine):
  1. an *empty* chapter (a parameters cell and `pass`) through the same runner: the cost
     of papermill + kernel start + HTML export per notebook;
  2. `medbench report` at each requested profile over all chapters, one chapter at a time.

Peak memory is the largest summed RSS of the runner and its kernels, sampled every 50 ms.

Usage:
    .venv/bin/python benchmarks/report_suite.py [--profiles smoke default] [--chapters 00]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parent.parent


def run_measured(cmd: list[str]) -> tuple[float, float, int]:
    """Run ``cmd``; return (wall seconds, peak tree RSS in MiB, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        parent = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [parent] + parent.children(recursive=True)
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    code = proc.wait()
    done.set()
    t.join()
    return time.perf_counter() - start, peak / 2**20, code


def empty_chapter_dir(tmp: Path) -> Path:
    nbdir = tmp / "notebooks"
    (nbdir / "profiles").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("seed = 0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Empty"), params, nbformat.v4.new_code_cell("pass")]
    nbformat.write(nb, nbdir / "99_empty.ipynb")
    (nbdir / "profiles" / "smoke.yaml").write_text("chapters: {}\n")
    return nbdir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", nargs="+", default=["smoke", "default"])
    ap.add_argument("--chapters", default=None, help="comma-separated chapter ids (default: all)")
    args = ap.parse_args()
    medbench = [sys.executable, "-m", "medbench.cli"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nbdir = empty_chapter_dir(tmp)
        wall, mem, code = run_measured(medbench + ["--notebooks", str(nbdir), "report", "--profile", "smoke",
                                                   "--out", str(tmp / "empty")])
        rows.append(("empty notebook (papermill + kernel + HTML)", 1, wall, mem, code))
        baseline = wall
        for profile in args.profiles:
            out = tmp / profile
            cmd = medbench + ["report", "--profile", profile, "--out", str(out)]
            if args.chapters:
                cmd += ["--chapters", args.chapters]
            wall, mem, code = run_measured(cmd)
            summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
            n = len(summary.get("chapters", []))
            rows.append((f"medbench report --profile {profile}", n, wall, mem, code))
            for ch in summary.get("chapters", []):
                print(f"  {profile:8s} {ch['name']:28s} {ch['status']:7s} {ch['duration_s']:7.1f} s", flush=True)
    print()
    print(f"{'run':48s} {'chapters':>8s} {'wall s':>8s} {'x empty':>8s} {'peak MiB':>9s} {'exit':>5s}")
    for name, n, wall, mem, code in rows:
        print(f"{name:48s} {n:8d} {wall:8.1f} {wall / baseline:8.1f} {mem:9.0f} {code:5d}")
    print(f"\npapermill overhead per notebook (empty chapter): {baseline:.1f} s")


if __name__ == "__main__":
    main()
