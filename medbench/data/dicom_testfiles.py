"""Every real DICOM file that ships with pydicom and pydicom-data, located on disk (nothing downloads).

Chapter 08 de-identifies all of them; :func:`sample_series_folder` is a real 5-slice CT series.
Sources and licences: pydicom's test files (MIT; each file's origin in pydicom's
``data/test_files/README.txt``) and the pydicom-data package (MIT; its README lists the sources).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import pydicom

__all__ = ["shipped_dicom_files", "sample_series_folder"]


def shipped_dicom_files(pixel_data_only: bool = True) -> list[Path]:
    """Every real DICOM file that ships with pydicom (its test files) and pydicom-data, found on disk.

    Nothing downloads (the files are located from the installed packages, never through
    ``get_testdata_files``). With ``pixel_data_only`` only files holding (Float)PixelData are kept.
    """
    import pydicom.data.data_manager as dm

    roots = [Path(dm.DATA_ROOT) / "test_files"]
    try:
        import data_store  # the pydicom-data package

        roots.append(Path(data_store.__file__).parent / "data")
    except ImportError:  # pragma: no cover - pydicom-data is a dependency
        pass
    files = []
    for root in roots:
        for f in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
            if f.suffix.lower() in (".py", ".pyc", ".txt", ".json", ".gz", ".bz2", ".zip", ".md"):
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ds = pydicom.dcmread(f, stop_before_pixels=False, defer_size="1 KB")
            except Exception:  # not DICOM (charset files, raw streams, DICOMDIR-less fragments)
                continue
            if not pixel_data_only or any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
                files.append(f)
    return files


def sample_series_folder() -> Path:
    """A real 5-slice CT series that ships with pydicom (``dicomdirtests/98892001/CT5N``, 16 x 16 pixels)."""
    import pydicom.data.data_manager as dm

    return Path(dm.DATA_ROOT) / "test_files" / "dicomdirtests" / "98892001" / "CT5N"
