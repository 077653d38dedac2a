"""De-identifying DICOM files and folders, fail-closed.

:func:`deidentify_file` de-identifies one file with :func:`medbench.privacy.deid.deidentify_dataset`,
checks the output with :func:`medbench.privacy.verify.verify` and writes it atomically only if it
passes; :func:`deidentify_path` does that for a file or a folder (what ``medbench deid`` runs):
the input is never touched, one bad file is reported and the others continue, and a report row
(no PHI: counts and tag names) is kept per file.

Dependencies point one way: this module imports :mod:`~medbench.privacy.deid` and
:mod:`~medbench.privacy.verify`; neither imports it.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from medbench.errors import ConfigError, DataError
from medbench.privacy.deid import DeidOptions, deidentify_dataset
from medbench.privacy.verify import verify

__all__ = ["deidentify_file", "deidentify_path"]


def _atomic_save(ds: Dataset, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    try:
        ds.save_as(tmp, enforce_file_format=False)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def deidentify_file(src: str | os.PathLike, dst: str | os.PathLike, opts: DeidOptions) -> dict:
    """De-identify one file, verify it, and write it atomically to ``dst`` only if it passes.

    Returns:
        a report row: ``input``, ``output``, ``status`` ("ok" / "failed"), ``error``, ``modality``,
        ``burned_in_review``, ``burned_in_reason``, ``tags_checked``, ``violations``, ``phi_leaks``,
        ``date_shift_days``, ``pseudonym``. The row holds no PHI (only counts and the first problems' tag names).

    Raises:
        DataError: the input is not a readable DICOM file.
    """
    src, dst = Path(src), Path(dst)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(src)
            ds.PixelData if "PixelData" in ds else None  # noqa: B018 - forces reading a truncated file now
    except Exception as exc:  # pydicom raises many kinds: turn each into one DataError naming the file
        raise DataError(f"{src}: not a readable DICOM file ({type(exc).__name__}: {exc}); "
                        "check the file or remove it from the input.") from exc
    res = deidentify_dataset(ds, opts)
    v = verify(ds, res.dataset, opts)
    row = {"input": str(src), "output": str(dst), "status": "ok" if v.ok else "failed", "error": "",
           "modality": str(ds.get("Modality", "")), "burned_in_review": res.burned_in_review,
           "burned_in_reason": res.burned_in_reason, "tags_checked": v.tags_checked,
           "violations": len(v.violations), "phi_leaks": len(v.leaks),
           "date_shift_days": res.date_shift_days, "pseudonym": res.pseudonym}
    if v.ok:
        _atomic_save(res.dataset, dst)
    else:
        row["error"] = "verification failed, output not written: " + "; ".join(
            [x.split(":")[0] + ": violation" for x in v.violations[:3]] + [x.split(":")[0] + ": PHI" for x in v.leaks[:3]])
    return row


def _inputs(src: Path) -> list[tuple[Path, Path]]:
    if src.is_file():
        return [(src, Path(src.name))]
    from medbench.data.dicom import list_dicom_files

    return [(f, f.relative_to(src)) for f in list_dicom_files(src)]


def deidentify_path(src: str | os.PathLike, out: str | os.PathLike, opts: DeidOptions, *,
                    report: str | os.PathLike | None = None, progress: bool = False):
    """De-identify a file or a folder (recursively) into ``out``, file by file; one bad file does not stop the rest.

    Args:
        src: a DICOM file or a folder.
        out: output folder (created); must not be ``src`` or lie inside it. Inputs are never modified.
        opts: :class:`DeidOptions`.
        report: where to write the per-file report (``.csv`` or ``.json``); default ``out/deid_report.csv``.
        progress: tqdm bar over files.

    Returns:
        ``pandas.DataFrame`` of report rows (see :func:`deidentify_file`), one per input file.

    Raises:
        DataNotFoundError: ``src`` does not exist. ConfigError: ``out`` is the input or inside it.
    """
    import pandas as pd

    from medbench.errors import DataNotFoundError

    src, out = Path(src).expanduser(), Path(out).expanduser()
    if not src.exists():
        raise DataNotFoundError(f"input {src} does not exist; pass a DICOM file or a folder.")
    s, o = src.resolve(), out.resolve()
    if o == s or (src.is_dir() and s in o.parents) or (src.is_file() and o == s.parent):
        raise ConfigError(f"output {out} is the input or lies inside it; choose a separate folder "
                          "(the input is never modified).")
    pairs = _inputs(src)
    it = pairs
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(pairs, desc="de-identify", unit="file")
    rows = []
    for f, rel in it:
        try:
            rows.append(deidentify_file(f, out / rel, opts))
        except Exception as exc:  # one bad file is reported, the others continue
            msg = str(exc) if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
            rows.append({"input": str(f), "output": "", "status": "failed", "error": msg})
    table = pd.DataFrame(rows)
    report = Path(report) if report is not None else out / "deid_report.csv"
    report.parent.mkdir(parents=True, exist_ok=True)
    if report.suffix.lower() == ".json":
        report.write_text(json.dumps(rows, indent=2, default=str))
    else:
        table.to_csv(report, index=False)
    return table
