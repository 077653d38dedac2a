"""Wall time and peak memory of `medbench report`: backends for a grid, and whole profiles.

Runs, in one process tree and one session (so the numbers are comparable on a noisy
machine):
  1. an *empty* chapter (a parameters cell and `pass`) through the same runner: the cost
     of papermill + kernel start + HTML export per notebook;
  2. the grid `--grid 00.seed=0,1,2,3` (at `--grid-profile`, default smoke) with `--jobs 1`,
     `--jobs 2` and `--dask --jobs 2` (a loopback LocalCluster of 2 single-threaded
     workers, started inside the measured command), as ratios to the serial run, and
     whether the three gave the same metrics;
  3. with `--profiles`, `medbench report` at each profile over all chapters (or `--chapters`).

Peak memory is the largest summed RSS of the runner and its kernels (and Dask workers),
sampled every 50 ms.

Usage:
    .venv/bin/python benchmarks/report_suite.py [--grid 00.seed=0,1,2,3] [--profiles smoke default] [--chapters 00]
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
    ap.add_argument("--grid", default="00.seed=0,1,2,3", help="the grid the backends run ('' to skip)")
    ap.add_argument("--grid-profile", default="smoke", help="profile of the grid runs (default: smoke)")
    ap.add_argument("--profiles", nargs="*", default=[], help="also run whole profiles, e.g. smoke default")
    ap.add_argument("--chapters", default=None, help="comma-separated chapter ids for --profiles (default: all)")
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
        grid_rows = grid_backends(medbench, tmp, args.grid, args.grid_profile) if args.grid else []
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
    if grid_rows:
        serial = grid_rows[0][2]
        print(f"\n--grid {args.grid} at profile {args.grid_profile}:")
        print(f"{'backend':32s} {'runs':>5s} {'ok':>4s} {'wall s':>8s} {'x serial':>9s} {'peak MiB':>9s} "
              f"{'exit':>5s}  same metrics")
        for name, n, wall, mem, code, n_ok, same in grid_rows:
            print(f"{name:32s} {n:5d} {n_ok:4d} {wall:8.1f} {wall / serial:9.2f} {mem:9.0f} {code:5d}  "
                  f"{'yes' if same else 'NO'}")


def grid_backends(medbench: list[str], tmp: Path, grid: str, profile: str) -> list[tuple]:
    """The same grid with --jobs 1, --jobs 2 and a 2-worker Dask LocalCluster."""
    rows, reference = [], None
    chapter = grid.split("=")[0].rpartition(".")[0]
    for label, extra in (("--jobs 1 (serial)", ["--jobs", "1"]), ("--jobs 2 (local kernels)", ["--jobs", "2"]),
                         ("--dask --jobs 2 (LocalCluster)", ["--dask", "--jobs", "2"])):
        out = tmp / f"grid_{len(rows)}"
        cmd = medbench + ["report", "--profile", profile, "--grid", grid, "--out", str(out)] + extra
        if chapter:
            cmd += ["--chapters", chapter]
        wall, mem, code = run_measured(cmd)
        summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
        chapters = summary.get("chapters", [])
        metrics = [(c["run"], c["metrics"]) for c in chapters]
        reference = metrics if reference is None else reference
        rows.append((label, len(chapters), wall, mem, code, sum(c["status"] == "ok" for c in chapters),
                     metrics == reference))
        for c in chapters:
            print(f"  {label:32s} {c['run']:28s} {c['status']:7s} {c['duration_s']:7.1f} s", flush=True)
    return rows


if __name__ == "__main__":
    main()
