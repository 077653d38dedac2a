"""Per chapter: how many exercises, how many points, and how long `medbench exercises check` takes.

Measured in one run, one notebook at a time (so the times are comparable on a noisy machine):
  1. a baseline: an exercises notebook with one trivial exercise, checked the same way (kernel
     start, restoring the tests, executing, scoring): the grader's own overhead;
  2. for each chapter, `check` on the instructor version (must score full marks) and on the
     released student version (must score 0); the time of each, and its ratio to the baseline.
The issue's budget is 2 minutes per chapter notebook on 2 CPU cores.

Usage:
    .venv/bin/python benchmarks/exercises_summary.py [--chapters 00,03] [--json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import nbformat

from medbench.reports.exercises import check, discover_exercises, release


def _baseline_notebook(path: Path) -> Path:
    def cell(kind, source, gid, **extra):
        c = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        c.metadata["nbgrader"] = {"grade": kind == "test", "grade_id": gid, "locked": kind != "solution",
                                  "schema_version": 3, "solution": kind == "solution", "task": False, **extra}
        return c

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [cell("md", "## Exercise 1 · baseline", "ex1_intro"),
                cell("solution", "### BEGIN SOLUTION\nanswer = 1\n### END SOLUTION", "ex1_solution"),
                cell("test", "assert answer == 1", "ex1_tests", points=1)]
    nbformat.write(nb, path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chapters", help="comma-separated chapter ids (default: every chapter with exercises)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = ap.parse_args(argv)
    chapters = [c.strip() for c in args.chapters.split(",")] if args.chapters else None

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base_nb = _baseline_notebook(tmp / "99_baseline_exercises.ipynb")
        t0 = time.perf_counter()
        check(base_nb, instructor=base_nb)
        baseline = time.perf_counter() - t0
        for path in discover_exercises(chapters=chapters):
            (student,) = release(chapters=[path.name[:2]], out=tmp / "release")
            t0 = time.perf_counter()
            inst = check(path)
            t_inst = time.perf_counter() - t0
            t0 = time.perf_counter()
            stud = check(student, instructor=path)
            t_stud = time.perf_counter() - t0
            rows.append({"chapter": path.stem.removesuffix("_exercises"), "exercises": len(inst.exercises),
                         "points": inst.max_points, "instructor": f"{inst.points:g}/{inst.max_points:g}",
                         "student_release": f"{stud.points:g}/{stud.max_points:g}",
                         "check_instructor_s": round(t_inst, 1), "check_student_s": round(t_stud, 1),
                         "instructor_vs_baseline": round(t_inst / baseline, 1)})

    head = ["chapter", "exercises", "points", "instructor", "student_release", "check_instructor_s",
            "check_student_s", "instructor_vs_baseline"]
    cells = [[f"{r[h]:g}" if isinstance(r[h], float) else str(r[h]) for h in head] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))
    print(f"baseline: a one-exercise notebook checks in {baseline:.1f} s (kernel start, restore, execute, score); "
          "instructor_vs_baseline = check_instructor_s / baseline. Budget: 120 s per chapter notebook on 2 cores.")
    if args.json:
        print(json.dumps({"baseline_s": round(baseline, 2), "chapters": rows}, indent=2))
    return 0 if all(r["instructor"].split("/")[0] == r["instructor"].split("/")[1]
                    and r["student_release"].startswith("0/") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
