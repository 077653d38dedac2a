"""The ``medbench`` command: ``list`` chapters, run ``report``s, list ``data``, ``train`` a task, ``export`` a model,
release and check ``exercises``, ``deid`` DICOM files.

Exit codes: 0 success, 1 a chapter failed (``exercises check``: less than full marks), 2 bad usage (unknown chapter, parameter,
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

    if args.compare:
        from medbench.reports.history import compare, format_comparison, load_summary, resolve_run

        run_a, run_b = (resolve_run(r) for r in args.compare)
        cmp = compare(load_summary(run_a), load_summary(run_b))
        print(format_comparison(cmp, run_a.resolve().name, run_b.resolve().name))
        return 1 if args.fail_on_regression and cmp.n_flags else 0
    chapters = [c.strip() for c in args.chapters.split(",") if c.strip()] if args.chapters else None
    report = run_report(profile=args.profile, chapters=chapters, overrides=args.param, out=args.out,
                        jobs=args.jobs, timeout=args.timeout, notebooks_dir=args.notebooks, force=args.force,
                        grid=args.grid, scheduler=args.scheduler, dask=args.dask)
    failed = [c["run"] for c in report.chapters if c["status"] != "ok"]
    if failed:
        print(f"[medbench] failed: {', '.join(failed)}", file=sys.stderr)
    print(f"[medbench] report: {report.index.resolve()}")
    return 0 if report.ok else 1


def _cmd_data_list(args) -> int:
    from medbench.data.catalog import datasets_table

    table = datasets_table(offline_only=args.offline)
    if args.json:
        print(table.to_json(orient="records", indent=2))
        return 0
    cols = [("name", "NAME"), ("kind", "KIND"), ("offline", "OFFLINE"), ("available", "AVAILABLE"),
            ("licence", "LICENCE"), ("source", "SOURCE")]
    cells = [[("yes" if v is True else "no" if v is False else str(v)) for v in (row[c] for c, _ in cols)]
             for _, row in table.iterrows()]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, (_, h) in enumerate(cols[:-1])]
    print("  ".join(h.ljust(w) for (_, h), w in zip(cols[:-1], widths)) + "  " + cols[-1][1])
    for r, (_, row) in zip(cells, table.iterrows()):
        print("  ".join(v.ljust(w) for v, w in zip(r[:-1], widths)) + "  " + r[-1])
        if args.verbose and row["detail"]:
            print(" " * 4 + f"-> {row['detail']}  [{row['loader']}]")
    print(f"{int(table['available'].sum())} of {len(table)} datasets available; "
          "datasets you download go in the data directory ($MEDBENCH_DATA_DIR).")
    return 0


def _save_segmentation_run(res, out: Path) -> dict:
    """Write ``metrics.json``, ``per_case.csv`` and ``model.pt`` (config, structures, data, weights) to ``out``."""
    import json
    import os

    import torch

    out.mkdir(parents=True, exist_ok=True)
    metrics = dict(res.metrics, world_size=int(os.environ.get("WORLD_SIZE", 1)), epochs=len(res.history),
                   precision=res.history.precision)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    res.result.table.to_csv(out / "per_case.csv", index=False)
    d = res.data  # modality, spacing ...: what `medbench export bundle` needs to rebuild the preprocessing
    torch.save({"config": res.cfg.to_dict(), "structures": list(d.structures),
                "data": {"modality": d.modality, "kind": d.kind, "spacing": list(d.spacing), "source": d.source},
                "model": res.model.state_dict()}, out / "model.pt")
    return metrics


def _cmd_train_segmentation(args) -> int:
    import json
    import os

    import torch

    from medbench.tasks.segmentation import SegConfig, run

    cfg = SegConfig.from_yaml(args.config, args.set or ())
    res = run(cfg, progress=args.progress)
    if int(os.environ.get("RANK", 0)) == 0:
        metrics = _save_segmentation_run(res, Path(args.out or cfg.out_dir or "segmentation_run"))
        print(json.dumps(metrics, indent=2))
    if torch.distributed.is_available() and torch.distributed.is_initialized():  # under torchrun
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return 0


def _cmd_export_bundle(args) -> int:
    from medbench.models.bundle import export_run

    print(f"[medbench] bundle: {export_run(args.run, args.out).resolve()}")
    return 0


def _exercises_dir(args) -> Path | None:
    """--exercises, else <--notebooks>/exercises, else the default (notebooks/exercises)."""
    return args.exercises or (args.notebooks / "exercises" if args.notebooks else None)


def _cmd_exercises_release(args) -> int:
    from medbench.reports.exercises import release

    chapters = [c.strip() for c in args.chapters.split(",") if c.strip()] if args.chapters else None
    for path in release(chapters=chapters, out=args.out, exercises_dir=_exercises_dir(args)):
        print(f"[medbench] student version: {path}")
    return 0


def _cmd_exercises_check(args) -> int:
    import json

    from medbench.reports.exercises import check

    result = check(args.notebook, instructor=args.instructor, timeout=args.timeout, exercises_dir=_exercises_dir(args),
                   partial=args.partial)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.format())
    return 0 if result.full_marks else 1


def _cmd_deid(args) -> int:
    from medbench.privacy.deid import DeidOptions
    from medbench.privacy.deid_files import deidentify_path
    from medbench.privacy.pseudonym import load_key

    opts = DeidOptions(key=load_key(args.key_file), shift_dates=not args.no_date_shift,
                       keep_patient_characteristics=not args.no_patient_characteristics)
    table = deidentify_path(args.input, args.output, opts, report=args.report, progress=args.progress)
    failed = table[table["status"] != "ok"]
    flagged = int(table["burned_in_review"].eq(True).sum()) if "burned_in_review" in table else 0  # NaN: failed files
    print(f"[medbench] de-identified {len(table) - len(failed)} of {len(table)} files into {args.output}; "
          f"{flagged} flagged for burned-in text review; report: {args.report or Path(args.output) / 'deid_report.csv'}")
    for _, row in failed.iterrows():
        print(f"[medbench] failed: {row['input']}: {row['error']}", file=sys.stderr)
    return 1 if len(failed) else 0


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
    p_rep.add_argument("--force", action="store_true",
                       help="write into --out even if that folder is not empty (its files are overwritten)")
    p_rep.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                       help="run the cross-product of these values (KEY or CHAPTER.KEY, checked like -p); metrics "
                            "are summarised across seeds (mean, sd, t-based 95%% CI)")
    p_rep.add_argument("--dask", action="store_true",
                       help="run on a Dask cluster: a loopback LocalCluster of --jobs single-threaded workers")
    p_rep.add_argument("--scheduler", metavar="ADDRESS", help="run on the Dask scheduler at ADDRESS (tcp://host:8786)")
    p_rep.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                       help="run nothing: print how the metrics of report RUN_B differ from RUN_A")
    p_rep.add_argument("--fail-on-regression", action="store_true",
                       help="with --compare: exit 1 when a metric moved beyond tolerance or a check newly fails")
    p_rep.set_defaults(func=_cmd_report)

    p_data = sub.add_parser("data", help="datasets: where they come from, licences, availability")
    data_sub = p_data.add_subparsers(dest="data_command", required=True)
    p_dlist = data_sub.add_parser("list", help="every dataset with source, licence, offline and available columns")
    p_dlist.add_argument("--offline", action="store_true", help="only datasets that need no download")
    p_dlist.add_argument("-v", "--verbose", action="store_true", help="also say where each file is or how to get it")
    p_dlist.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    p_dlist.set_defaults(func=_cmd_data_list)

    p_train = sub.add_parser("train", help="train a model from a YAML config (works under torchrun)")
    train_sub = p_train.add_subparsers(dest="train_command", required=True)
    p_tseg = train_sub.add_parser("segmentation", help="3D segmentation (medbench.tasks.segmentation.SegConfig keys)")
    p_tseg.add_argument("--config", required=True, type=Path, help="YAML file with SegConfig keys")
    p_tseg.add_argument("--out", type=Path, help="output folder (default: the config's out_dir, else ./segmentation_run)")
    p_tseg.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config key, e.g. epochs=5 or lr=2e-3 (Python literal, else YAML)")
    p_tseg.add_argument("--progress", action="store_true", help="show progress bars")
    p_tseg.set_defaults(func=_cmd_train_segmentation)

    p_export = sub.add_parser("export", help="export a trained model for use outside medbench")
    export_sub = p_export.add_subparsers(dest="export_command", required=True)
    p_ebun = export_sub.add_parser("bundle", help="a `medbench train segmentation` run as a MONAI Bundle folder")
    p_ebun.add_argument("--run", required=True, type=Path, help="output folder of `medbench train segmentation`")
    p_ebun.add_argument("--out", required=True, type=Path, help="bundle folder to write (configs/, models/, docs/)")
    p_ebun.set_defaults(func=_cmd_export_bundle)

    p_ex = sub.add_parser("exercises", help="student versions of the exercises, and the autograder")
    ex_sub = p_ex.add_subparsers(dest="exercises_command", required=True)
    p_exrel = ex_sub.add_parser("release", help="write student versions (solutions and hidden tests removed)")
    p_exrel.add_argument("--chapters", help="comma-separated chapter ids or names, e.g. 00,03 (default: all)")
    p_exrel.add_argument("--out", required=True, type=Path, help="folder for the student notebooks")
    p_exrel.add_argument("--exercises", type=Path, help="folder of instructor notebooks (default: notebooks/exercises)")
    p_exrel.set_defaults(func=_cmd_exercises_release)
    p_exchk = ex_sub.add_parser("check", help="grade a student's notebook (exit 0 only at full marks)")
    p_exchk.add_argument("notebook", type=Path, help="the student's NN_topic_exercises.ipynb")
    p_exchk.add_argument("--instructor", type=Path,
                         help="instructor version (default: the file of the same name in notebooks/exercises)")
    p_exchk.add_argument("--exercises", type=Path, help="folder of instructor notebooks (default: notebooks/exercises)")
    p_exchk.add_argument("--partial", action="store_true",
                         help="NOTEBOOK holds only some solution cells (e.g. notebooks/exercises/wrong/*): grade the "
                              "instructor version with them swapped in")
    p_exchk.add_argument("--json", action="store_true", help="print the scores as JSON")
    p_exchk.add_argument("--timeout", type=float, default=120, help="seconds each cell may run (default: 120)")
    p_exchk.set_defaults(func=_cmd_exercises_check)

    p_deid = sub.add_parser("deid", help="de-identify DICOM files or folders (PS3.15 Annex E Basic profile), verified")
    p_deid.add_argument("input", type=Path, help="a DICOM file or a folder (read recursively; never modified)")
    p_deid.add_argument("output", type=Path, help="output folder (same relative paths; not inside the input)")
    p_deid.add_argument("--key-file", type=Path,
                        help="file holding the secret for pseudonyms, UIDs and date shifts (else $MEDBENCH_DEID_KEY)")
    p_deid.add_argument("--no-date-shift", action="store_true",
                        help="remove dates instead of the Retain Longitudinal Temporal Information (Modified Dates) option")
    p_deid.add_argument("--no-patient-characteristics", action="store_true",
                        help="remove age, sex, size, weight ... instead of the Retain Patient Characteristics option")
    p_deid.add_argument("--report", type=Path, help="per-file report, .csv or .json (default: OUTPUT/deid_report.csv)")
    p_deid.add_argument("--progress", action="store_true", help="show a progress bar")
    p_deid.set_defaults(func=_cmd_deid)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MedbenchError as exc:
        print(f"medbench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `medbench list | head`: the reader left; as the Python docs advise
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
