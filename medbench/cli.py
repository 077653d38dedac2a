"""The ``medbench`` command: ``list`` chapters and run ``report``s.

Exit codes: 0 success, 1 a chapter failed, 2 bad usage (unknown chapter, parameter,
profile, or a value of the wrong type) detected before any kernel starts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medbench.errors import MedbenchError


def _cmd_list(args) -> int:
    from medbench.reports import discover_chapters

    for ch in discover_chapters(args.notebooks):
        print(f"{ch.id}  {ch.name}: {ch.title}")
        for p in ch.parameters.values():
            help_ = f"  # {p.help}" if p.help else ""
            print(f"      {p.name}: {p.type} = {p.default!r}{help_}")
    return 0


def _cmd_report(args) -> int:
    from medbench.reports import run_report

    chapters = [c.strip() for c in args.chapters.split(",") if c.strip()] if args.chapters else None
    report = run_report(profile=args.profile, chapters=chapters, overrides=args.param, out=args.out,
                        jobs=args.jobs, timeout=args.timeout, notebooks_dir=args.notebooks)
    failed = [c["name"] for c in report.chapters if c["status"] != "ok"]
    if failed:
        print(f"[medbench] failed: {', '.join(failed)}", file=sys.stderr)
    print(f"[medbench] report: {report.index.resolve()}")
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medbench", description="Clinical data science workbench: chapters as reports.")
    parser.add_argument("--notebooks", type=Path, default=None,
                        help="directory of chapter notebooks (default: the repository's notebooks/)")
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="chapters with their titles and parameters")
    p_list.set_defaults(func=_cmd_list)

    p_rep = sub.add_parser("report", help="execute chapters with papermill into an HTML report")
    p_rep.add_argument("--profile", default="default", help="parameter profile: smoke, default, full (default: default)")
    p_rep.add_argument("--chapters", help="comma-separated chapter ids or names, e.g. 00,02 (default: all)")
    p_rep.add_argument("--jobs", type=int, default=1, help="chapters to run in parallel (default: 1)")
    p_rep.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                       help="override a parameter for every chapter that has it, or CHAPTER.KEY=VALUE for one")
    p_rep.add_argument("--out", type=Path, help="output directory (default: reports/<timestamp>, linked as reports/latest)")
    p_rep.add_argument("--timeout", type=float, help="per-cell execution timeout in seconds")
    p_rep.set_defaults(func=_cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MedbenchError as exc:
        print(f"medbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
