"""DICOM reader: one file (single- or multi-frame) or a folder holding one series.

``read_dicom`` returns the same dictionary for every input::

    {"image":   np.float32, (X, Y) for one 2D image, (X, Y, Z) for a series or a
                multi-frame file; colour images get a trailing channel axis (..., 3),
     "spacing": (sx, sy) or (sx, sy, sz) in mm, matching the image axes,
     "affine":  4x4 np.float64, voxel index (i, j, k) -> patient coordinates in mm, RAS+
                (the NIfTI / MONAI convention; DICOM itself is LPS+),
     "orientation": axis codes of the affine, e.g. "LPS" for a plain axial series,
     "padding_mask": bool array like "image" marking PixelPaddingValue voxels, or None,
     "meta":    a few tags (modality, units, window, transfer syntax, files, ...)}

Axes: X runs along a row (DICOM columns, left to right on screen), Y along a column
(top to bottom), Z along the slice normal, slices sorted by ImagePositionPatient
(projected on the normal), ties broken by InstanceNumber. Values are the modality
values: RescaleSlope/RescaleIntercept (or the Modality LUT) applied, so CT comes out
in Hounsfield units. MONOCHROME1 images (e.g. many radiographs, where larger stored
values are darker) are inverted by default so that larger values are brighter, like
every other image.

Compressed transfer syntaxes (JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, RLE)
decode through pydicom's pixel backends with the ``pylibjpeg`` plugins medbench depends
on.

Bad input raises :class:`medbench.errors.DataError` (or ``DataNotFoundError`` for an
absent path) naming the file and what is wrong: not DICOM / truncated, no pixel data,
undecodable compression, mixed series, inconsistent orientation, pixel spacing, size
or slice spacing, duplicate slice positions, NaN/inf values.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from medbench.errors import DataError, DataNotFoundError

__all__ = ["read_dicom", "list_dicom_files", "NON_DICOM_SUFFIXES"]

#: Files in a series folder with these suffixes are ignored (notes, exports, archives).
NON_DICOM_SUFFIXES = frozenset({
    ".txt", ".json", ".md", ".csv", ".tsv", ".xml", ".html", ".htm", ".pdf", ".png", ".jpg", ".jpeg",
    ".gif", ".bmp", ".tif", ".tiff", ".nii", ".gz", ".zip", ".tar", ".bz2", ".xz", ".7z", ".py", ".ipynb",
    ".log", ".yaml", ".yml", ".ini", ".npz", ".npy",
})
_IGNORED_NAMES = frozenset({"DICOMDIR", "Thumbs.db", "desktop.ini"})

_DECODER_HINT = ("install the decoders medbench depends on: pip install pylibjpeg pylibjpeg-libjpeg "
                 "pylibjpeg-openjpeg pylibjpeg-rle (or python-gdcm)")


# --------------------------------------------------------------------------- file level
def list_dicom_files(folder: str | os.PathLike) -> list[Path]:
    """Candidate DICOM files in ``folder`` (recursively), sorted by path.

    Hidden files, ``DICOMDIR`` and files whose suffix is in :data:`NON_DICOM_SUFFIXES`
    are skipped; every other file must be DICOM (``read_dicom`` says which one is not).
    """
    folder = Path(folder)
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith(".") or name in _IGNORED_NAMES:
                continue
            if Path(name).suffix.lower() in NON_DICOM_SUFFIXES:
                continue
            out.append(Path(root) / name)
    return sorted(out)


def _not_dicom_message(path: Path, folder: Path | None) -> str:
    """medbench's own message for a file that is not DICOM (pydicom's suggests a ``force`` option we lack)."""
    what = (f"{path} is not a DICOM Part-10 file: it has no 'DICM' preamble (bytes 128-131) and does not "
            "parse as a DICOM data set without one.")
    if folder is not None:
        return f"{what} Remove it from the series folder {folder}, or export the series again."
    hint = ""
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        hint = " It looks like NIfTI: read it with medbench.data.read_nifti."
    return (f"{what}{hint} Pass a DICOM file exported from the scanner or PACS (usually .dcm), or a folder "
            "holding the slices of one series.")


def _dcmread(path: Path, *, stop_before_pixels: bool = False, folder: Path | None = None):
    """Read one file with pydicom; every failure becomes a :class:`DataError` naming ``path``.

    Args:
        path: the file.
        stop_before_pixels: skip the pixel data.
        folder: the series folder ``path`` was found in (changes the advice), or ``None``
            for a file the user passed directly.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
        except InvalidDicomError:
            pass
        except Exception as exc:  # pydicom raises many kinds on corrupt headers
            raise DataError(f"cannot read DICOM file {path}: {type(exc).__name__}: {exc}. "
                            "The file is truncated or corrupt; copy or export it again.") from exc
        # Files written without the 128-byte preamble and meta header are still common
        # (old scanners, some exports): accept them if they parse to an image.
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
            looks_dicom = any(k in ds for k in ("SOPClassUID", "Rows", "PixelData", "Modality"))
        except Exception:  # arbitrary bytes fail in arbitrary ways
            looks_dicom = False
        if not looks_dicom:
            raise DataError(_not_dicom_message(path, folder)) from None
        return ds


def _has_pixels(ds) -> bool:
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


def _pixel_array(ds, path: Path) -> np.ndarray:
    if not _has_pixels(ds):
        sop = getattr(getattr(ds, "SOPClassUID", None), "name", None) or ds.get("SOPClassUID", "unknown")
        raise DataError(f"{path} has no pixel data (SOP class: {sop}); it is not an image, or the file "
                        "is truncated before the Pixel Data element.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.asarray(ds.pixel_array)
            if str(ds.get("PhotometricInterpretation", "")).upper() == "PALETTE COLOR":
                from pydicom.pixels import apply_color_lut

                arr = np.asarray(apply_color_lut(arr, ds))  # indices -> RGB
            return arr
    except Exception as exc:
        ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        ts_name = getattr(ts, "name", ts) or "unknown"
        msg = str(exc)
        if "number of bytes of pixel data is less than expected" in msg or "truncat" in msg.lower():
            raise DataError(f"{path}: pixel data is truncated ({msg.split(' - ')[0]}); copy or export the file again.") from exc
        if any(w in msg.lower() for w in ("plugin", "decoder", "no pixel data handlers", "unable to decompress",
                                          "not supported", "missing required dependencies")):
            raise DataError(f"{path}: cannot decode pixel data in transfer syntax {ts_name!s}: {msg}. "
                            f"To fix, {_DECODER_HINT}.") from exc
        raise DataError(f"{path}: cannot decode pixel data (transfer syntax {ts_name!s}): "
                        f"{type(exc).__name__}: {msg}") from exc


# --------------------------------------------------------------------------- tag helpers
def _floats(value, n: int | None = None) -> list[float] | None:
    """Tag value -> list of floats (``None`` if absent, unparsable or not ``n`` long)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        value = [value]
    try:
        vals = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    if n is not None and len(vals) != n:
        return None
    return vals


def _first(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and not isinstance(value, (str, bytes))):
        value = list(value)
        return value[0] if value else None
    return value


def _fg(ds, frame: int, seq: str, attr: str):
    """An attribute from the per-frame functional group of ``frame``, else the shared group."""
    for group_name, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        groups = ds.get(group_name)
        if groups is None or len(groups) <= index:
            continue
        item = groups[index]
        if seq in item and len(item[seq].value) > 0 and attr in item[seq].value[0]:
            return item[seq].value[0][attr].value
    return None


def _pixel_spacing(ds, frame: int | None = None) -> tuple[tuple[float, float], str]:
    """(row spacing, column spacing) in mm and where it came from."""
    candidates = []
    if frame is not None:
        candidates.append(("PixelMeasuresSequence", _fg(ds, frame, "PixelMeasuresSequence", "PixelSpacing")))
    for key in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        candidates.append((key, ds.get(key)))
    for source, value in candidates:
        vals = _floats(value, 2)
        if vals is not None and all(np.isfinite(vals)) and min(vals) > 0:
            return (vals[0], vals[1]), source
    return (1.0, 1.0), "default 1 mm (no valid PixelSpacing / ImagerPixelSpacing)"


def _orientation(value) -> np.ndarray | None:
    vals = _floats(value, 6)
    if vals is None:
        return None
    iop = np.asarray(vals, dtype=np.float64)
    if np.linalg.norm(iop[:3]) < 1e-6 or np.linalg.norm(iop[3:]) < 1e-6:
        return None
    return iop


def _tag_pair(ds, frame: int | None, sequence: str, a: str, b: str) -> tuple:
    """Two top-level tags, falling back to a multi-frame functional-group ``sequence``."""
    va, vb = ds.get(a), ds.get(b)
    if (va is None or vb is None) and frame is not None:
        va, vb = _fg(ds, frame, sequence, a), _fg(ds, frame, sequence, b)
    return va, vb


def _window(ds, frame: int | None = None) -> tuple[float | None, float | None]:
    wc, ww = _tag_pair(ds, frame, "FrameVOILUTSequence", "WindowCenter", "WindowWidth")
    try:
        wc, ww = _first(wc), _first(ww)
        return (float(wc) if wc is not None else None, float(ww) if ww is not None else None)
    except (TypeError, ValueError):
        return None, None


def _rescale(ds, frame: int | None = None) -> tuple[float, float]:
    slope, inter = _tag_pair(ds, frame, "PixelValueTransformationSequence", "RescaleSlope", "RescaleIntercept")
    try:
        return (float(slope) if slope is not None else 1.0, float(inter) if inter is not None else 0.0)
    except (TypeError, ValueError):
        return 1.0, 0.0


def _stored_range(ds) -> tuple[float, float]:
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        return -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    return 0.0, 2.0 ** bits - 1


def _padding_mask(ds, raw: np.ndarray) -> np.ndarray | None:
    pad = ds.get("PixelPaddingValue")
    if pad is None or raw.dtype.kind not in "iu":
        return None
    try:
        pad = int(pad)
    except (TypeError, ValueError):
        return None
    limit = ds.get("PixelPaddingRangeLimit")
    if limit is not None:
        lo, hi = sorted((pad, int(limit)))
        return (raw >= lo) & (raw <= hi)
    return raw == pad


def _to_modality(ds, raw: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """Stored values -> modality values (HU for CT), float32."""
    if "ModalityLUTSequence" in ds and "RescaleSlope" not in ds:
        from pydicom.pixels import apply_modality_lut

        return np.asarray(apply_modality_lut(raw, ds), dtype=np.float32)
    out = raw.astype(np.float32)
    if slope != 1.0:
        out *= np.float32(slope)
    if intercept != 0.0:
        out += np.float32(intercept)
    return out


def _units(ds) -> str:
    rtype = str(ds.get("RescaleType", "") or "").upper()
    if rtype and rtype not in ("US", "OD"):
        return rtype
    return "HU" if ds.get("Modality") == "CT" else (rtype or "arbitrary")


def _meta(ds, path: Path) -> dict[str, Any]:
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    sop = ds.get("SOPClassUID")
    return {
        "path": str(path),
        "modality": str(ds.get("Modality", "") or ""),
        "sop_class": str(getattr(sop, "name", sop) or ""),
        "transfer_syntax": str(getattr(ts, "name", ts) or ""),
        "photometric": str(ds.get("PhotometricInterpretation", "") or ""),
        "patient_id": str(ds.get("PatientID", "") or ""),
        "study_description": str(ds.get("StudyDescription", "") or ""),
        "series_description": str(ds.get("SeriesDescription", "") or ""),
        "body_part": str(ds.get("BodyPartExamined", "") or ""),
        "manufacturer": str(ds.get("Manufacturer", "") or ""),
        "series_uid": str(ds.get("SeriesInstanceUID", "") or ""),
        "bits_stored": int(ds.get("BitsStored", 0) or 0),
        "units": _units(ds),
    }


def _affine(row_cos, col_cos, spacing_rc, origin, slice_vec) -> np.ndarray:
    """LPS voxel->patient affine for axes (X = along row, Y = along column, Z), converted to RAS."""
    a = np.eye(4)
    a[:3, 0] = np.asarray(row_cos) * spacing_rc[1]
    a[:3, 1] = np.asarray(col_cos) * spacing_rc[0]
    a[:3, 2] = slice_vec
    a[:3, 3] = origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ a


def _axcodes(affine: np.ndarray) -> str:
    import nibabel as nib

    try:
        return "".join(c or "?" for c in nib.aff2axcodes(affine))
    except Exception:  # degenerate affine
        return "???"


def _check_finite(image: np.ndarray, where: str) -> None:
    if image.dtype.kind == "f":
        bad = ~np.isfinite(image)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(f"{where}: {int(bad.sum())} of {image.size} values are NaN or inf "
                            f"(first at index {first}); the file is corrupt or its rescale tags are invalid.")


def _xy(arr: np.ndarray) -> np.ndarray:
    """(rows, cols[, C]) -> (X=cols, Y=rows[, C])."""
    return np.swapaxes(arr, 0, 1)


# --------------------------------------------------------------------------- geometry
def _check_gaps(positions: np.ndarray, names: list[str], where: str, tol: float) -> float:
    """Median slice gap, after checking duplicates and uniformity. ``positions`` sorted ascending."""
    gaps = np.diff(positions)
    dup = np.flatnonzero(gaps < 1e-4)
    if dup.size:
        i = int(dup[0])
        raise DataError(f"{where}: two slices at the same position {positions[i]:.3f} mm: {names[i]} and "
                        f"{names[i + 1]}. The folder may hold a duplicated file or two acquisitions; keep one.")
    step = float(np.median(gaps))
    bad = np.flatnonzero(np.abs(gaps - step) > max(1e-3, tol * step))
    if bad.size:
        touched: dict[int, int] = {}
        for g in bad:
            touched[int(g)] = touched.get(int(g), 0) + 1
            touched[int(g) + 1] = touched.get(int(g) + 1, 0) + 1
        culprits = [names[i] for i, c in touched.items() if c >= 2]
        details = ", ".join(f"{names[g]} -> {names[g + 1]}: {gaps[g]:.3f} mm" for g in bad[:4])
        hint = f" {culprits[0]} looks misplaced." if culprits else " A slice may be missing."
        raise DataError(f"{where}: inconsistent slice spacing: most slices are {step:.3f} mm apart but {details}."
                        f"{hint} Fix the series, or pass spacing_tolerance= to accept it (the volume would "
                        "then be resampled wrongly by anything that assumes even spacing).")
    return step


# --------------------------------------------------------------------------- readers
def _read_single(path: Path, *, invert_monochrome1: bool, spacing_tolerance: float) -> dict:
    ds = _dcmread(path)
    raw = _pixel_array(ds, path)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    meta = _meta(ds, path)
    meta["files"] = [str(path)]
    if n_frames > 1:
        return _read_multiframe(ds, raw, path, meta, spp, n_frames, invert_monochrome1=invert_monochrome1,
                                spacing_tolerance=spacing_tolerance)
    slope, inter = _rescale(ds, 0)
    pad = _padding_mask(ds, raw) if spp == 1 else None
    image = _to_modality(ds, raw, slope, inter) if spp == 1 else raw.astype(np.float32)
    (rs, cs), sp_source = _pixel_spacing(ds, 0 if "SharedFunctionalGroupsSequence" in ds else None)
    wc, ww = _window(ds, 0)
    image, wc = _maybe_invert(ds, image, slope, inter, wc, meta, invert_monochrome1)
    iop = _orientation(ds.get("ImageOrientationPatient") or _fg(ds, 0, "PlaneOrientationSequence",
                                                                   "ImageOrientationPatient"))
    ipp = _floats(ds.get("ImagePositionPatient") or _fg(ds, 0, "PlanePositionSequence", "ImagePositionPatient"), 3)
    thick = _floats(ds.get("SliceThickness"), 1)
    dz = thick[0] if thick and thick[0] > 0 else 1.0
    if iop is not None and ipp is not None:
        normal = np.cross(iop[:3], iop[3:])
        affine = _affine(iop[:3], iop[3:], (rs, cs), ipp, normal * dz)
        meta["geometry"] = "ImagePositionPatient / ImageOrientationPatient"
    else:
        affine = _affine([1, 0, 0], [0, 1, 0], (rs, cs), [0, 0, 0], [0, 0, dz])
        meta["geometry"] = "no patient geometry in the file: identity orientation, origin 0"
    image = _xy(image)
    pad = _xy(pad) if pad is not None else None
    _check_finite(image, str(path))
    meta.update(n_slices=1, spacing_source=sp_source, rescale_slope=slope, rescale_intercept=inter,
                window_center=wc, window_width=ww, samples_per_pixel=spp)
    return {"image": image, "spacing": (cs, rs), "affine": affine, "orientation": _axcodes(affine),
            "padding_mask": pad, "meta": meta}


def _maybe_invert(ds, image, slope, inter, wc, meta, invert: bool):
    meta["inverted"] = False
    if invert and str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        lo, hi = _stored_range(ds)
        lo, hi = sorted((lo * slope + inter, hi * slope + inter))
        image = np.float32(lo + hi) - image
        wc = (lo + hi - wc) if wc is not None else None
        meta["inverted"] = True
    return image, wc


def _read_multiframe(ds, raw, path, meta, spp, n_frames, *, invert_monochrome1, spacing_tolerance) -> dict:
    if raw.shape[0] != n_frames:
        raise DataError(f"{path}: NumberOfFrames is {n_frames} but the pixel data holds {raw.shape[0]} frames.")
    frames = []
    slopes = []
    for f in range(n_frames):
        slope, inter = _rescale(ds, f)
        slopes.append((slope, inter))
        frames.append(_to_modality(ds, raw[f], slope, inter) if spp == 1 else raw[f].astype(np.float32))
    vol = np.stack(frames)  # (F, rows, cols[, C])
    pad = _padding_mask(ds, raw) if spp == 1 else None
    wc, ww = _window(ds, 0)
    vol, wc = _maybe_invert(ds, vol, slopes[0][0], slopes[0][1], wc, meta, invert_monochrome1)
    (rs, cs), sp_source = _pixel_spacing(ds, 0)
    iops = [_orientation(_fg(ds, f, "PlaneOrientationSequence", "ImageOrientationPatient")
                         or ds.get("ImageOrientationPatient")) for f in range(n_frames)]
    ipps = [_floats(_fg(ds, f, "PlanePositionSequence", "ImagePositionPatient"), 3) for f in range(n_frames)]
    order = np.arange(n_frames)
    names = [f"{path.name} frame {f + 1}" for f in range(n_frames)]
    iop = iops[0]
    step_vec = None
    if iop is not None and all(p is not None for p in ipps):
        for f, other in enumerate(iops):
            if other is None or np.abs(other - iop).max() > 1e-3:
                raise DataError(f"{path}: inconsistent orientation within the multi-frame image: frame 1 has "
                                f"ImageOrientationPatient {np.round(iop, 4).tolist()} but frame {f + 1} has "
                                f"{None if other is None else np.round(other, 4).tolist()}.")
        normal = np.cross(iop[:3], iop[3:])
        pos = np.asarray(ipps, dtype=np.float64)
        d = pos @ normal
        if np.ptp(d) < 1e-4 and n_frames > 1:
            meta["geometry"] = "all frames at one position: Z is the frame (time) axis"
            dz = 1.0
            step_vec = normal * dz
        else:
            order = np.lexsort((np.arange(n_frames), d))
            dz = _check_gaps(d[order], [names[i] for i in order], str(path), spacing_tolerance)
            step_vec = (pos[order[-1]] - pos[order[0]]) / (n_frames - 1)
            meta["geometry"] = "per-frame PlanePositionSequence / PlaneOrientationSequence"
        origin = pos[order[0]]
        affine = _affine(iop[:3], iop[3:], (rs, cs), origin, step_vec)
    else:
        between = _floats(ds.get("SpacingBetweenSlices"), 1) or _floats(ds.get("SliceThickness"), 1)
        dz = between[0] if between and between[0] > 0 else 1.0
        if iop is not None:
            affine = _affine(iop[:3], iop[3:], (rs, cs), ipps[0] or [0, 0, 0], np.cross(iop[:3], iop[3:]) * dz)
        else:
            affine = _affine([1, 0, 0], [0, 1, 0], (rs, cs), [0, 0, 0], [0, 0, dz])
        meta["geometry"] = ("frames in stored order (no per-frame ImagePositionPatient); slice spacing from "
                            + ("SpacingBetweenSlices/SliceThickness" if between else "default 1 mm"))
    vol = vol[order]
    image = np.moveaxis(vol, 0, 2)  # (rows, cols, F[, C])
    image = np.swapaxes(image, 0, 1)  # (X, Y, Z[, C])
    if pad is not None:
        pad = np.swapaxes(np.moveaxis(pad[order], 0, 2), 0, 1)
    _check_finite(image, str(path))
    meta.update(n_slices=n_frames, spacing_source=sp_source, rescale_slope=slopes[0][0],
                rescale_intercept=slopes[0][1], window_center=wc, window_width=ww, samples_per_pixel=spp,
                frame_order=[int(i) for i in order])
    return {"image": image.astype(np.float32, copy=False), "spacing": (cs, rs, float(dz)), "affine": affine,
            "orientation": _axcodes(affine), "padding_mask": pad, "meta": meta}


def _read_series(folder: Path, *, series_uid: str | None, invert_monochrome1: bool,
                 spacing_tolerance: float) -> dict:
    files = list_dicom_files(folder)
    if not files:
        raise DataNotFoundError(f"no DICOM files in {folder} (hidden files, DICOMDIR and "
                                f"{', '.join(sorted(list(NON_DICOM_SUFFIXES))[:6])}... are ignored).")
    datasets = [(f, _dcmread(f, folder=folder)) for f in files]
    no_pix = [f for f, ds in datasets if not _has_pixels(ds)]
    if no_pix:
        raise DataError(f"{no_pix[0]} has no pixel data (SOP class: {datasets[files.index(no_pix[0])][1].get('SOPClassUID', 'unknown')}); "
                        f"{len(no_pix)} such file(s) in {folder}. A series folder must hold only image slices.")
    by_series: dict[str, list] = {}
    for f, ds in datasets:
        by_series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((f, ds))
    if series_uid is not None:
        if series_uid not in by_series:
            raise DataError(f"series {series_uid} is not in {folder}; found: {', '.join(sorted(by_series))}")
        items = by_series[series_uid]
    elif len(by_series) > 1:
        desc = "; ".join(f"{uid or '(no SeriesInstanceUID)'}: {len(v)} files, e.g. {v[0][0].name}"
                         for uid, v in sorted(by_series.items()))
        raise DataError(f"{folder} holds {len(by_series)} series ({desc}). Pass series_uid= to pick one, "
                        "or put each series in its own folder.")
    else:
        items = next(iter(by_series.values()))

    if len(items) == 1:
        return _read_single(items[0][0], invert_monochrome1=invert_monochrome1, spacing_tolerance=spacing_tolerance)
    multi = [f for f, ds in items if int(ds.get("NumberOfFrames", 1) or 1) > 1]
    if multi:
        raise DataError(f"{folder} mixes {len(items)} files including multi-frame file {multi[0].name}; "
                        "read multi-frame files one at a time with read_dicom(file).")

    ref_f, ref = items[0]
    shape = (int(ref.Rows), int(ref.Columns))
    spp = int(ref.get("SamplesPerPixel", 1) or 1)
    (rs, cs), sp_source = _pixel_spacing(ref)
    iop = _orientation(ref.get("ImageOrientationPatient"))
    for f, ds in items[1:]:
        other = (int(ds.Rows), int(ds.Columns))
        if other != shape:
            raise DataError(f"{folder}: inconsistent image size: {ref_f.name} is {shape[0]}x{shape[1]} but "
                            f"{f.name} is {other[0]}x{other[1]} (rows x columns).")
        o_iop = _orientation(ds.get("ImageOrientationPatient"))
        if (iop is None) != (o_iop is None) or (iop is not None and np.abs(o_iop - iop).max() > 1e-3):
            raise DataError(f"{folder}: inconsistent orientation: {ref_f.name} has ImageOrientationPatient "
                            f"{None if iop is None else np.round(iop, 4).tolist()} but {f.name} has "
                            f"{None if o_iop is None else np.round(o_iop, 4).tolist()}. A series must be one stack "
                            "of parallel slices; the folder may mix a localiser or a reformat.")
        (o_rs, o_cs), _ = _pixel_spacing(ds)
        if abs(o_rs - rs) > 1e-4 * rs or abs(o_cs - cs) > 1e-4 * cs:
            raise DataError(f"{folder}: inconsistent pixel spacing: {ref_f.name} has {rs:g} x {cs:g} mm but "
                            f"{f.name} has {o_rs:g} x {o_cs:g} mm.")

    ipps = [_floats(ds.get("ImagePositionPatient"), 3) for _, ds in items]
    inst = np.array([int(ds.get("InstanceNumber", 0) or 0) for _, ds in items])
    missing = [items[i][0].name for i, p in enumerate(ipps) if p is None]
    if iop is not None and not missing:
        normal = np.cross(iop[:3], iop[3:])
        pos = np.asarray(ipps, dtype=np.float64)
        d = pos @ normal
        order = np.lexsort((inst, d))
        names = [items[i][0].name for i in order]
        dz = _check_gaps(d[order], names, str(folder), spacing_tolerance)
        step_vec = (pos[order[-1]] - pos[order[0]]) / (len(items) - 1)
        affine = _affine(iop[:3], iop[3:], (rs, cs), pos[order[0]], step_vec)
        geometry = "ImagePositionPatient / ImageOrientationPatient"
    elif len(missing) == len(items) or iop is None:
        order = np.argsort(inst, kind="stable")
        if len(set(inst.tolist())) < len(items):
            raise DataError(f"{folder}: slices have no ImagePositionPatient/ImageOrientationPatient and repeated "
                            "InstanceNumbers, so their order is unknown.")
        between = _floats(ref.get("SpacingBetweenSlices"), 1) or _floats(ref.get("SliceThickness"), 1)
        dz = between[0] if between and between[0] > 0 else 1.0
        affine = _affine([1, 0, 0], [0, 1, 0], (rs, cs), [0, 0, 0], [0, 0, dz])
        geometry = "no ImagePositionPatient: sorted by InstanceNumber, identity orientation"
    else:
        raise DataError(f"{folder}: {len(missing)} slice(s) lack ImagePositionPatient (e.g. {missing[0]}) while "
                        "others have it; the slices cannot be placed.")

    slices, pads, slopes = [], [], []
    for i in order:
        f, ds = items[i]
        raw = _pixel_array(ds, f)
        slope, inter = _rescale(ds)
        slopes.append((slope, inter))
        slices.append(_to_modality(ds, raw, slope, inter) if spp == 1 else raw.astype(np.float32))
        pads.append(_padding_mask(ds, raw) if spp == 1 else None)
    vol = np.stack(slices)
    meta = _meta(ref, folder)
    wc, ww = _window(ref)
    vol, wc = _maybe_invert(ref, vol, slopes[0][0], slopes[0][1], wc, meta, invert_monochrome1)
    image = np.swapaxes(np.moveaxis(vol, 0, 2), 0, 1)
    pad = None
    if all(p is not None for p in pads):
        pad = np.swapaxes(np.moveaxis(np.stack(pads), 0, 2), 0, 1)
    _check_finite(image, str(folder))
    meta.update(files=[str(items[i][0]) for i in order], n_slices=len(items), spacing_source=sp_source,
                geometry=geometry, rescale_slope=slopes[0][0], rescale_intercept=slopes[0][1],
                window_center=wc, window_width=ww, samples_per_pixel=spp)
    return {"image": image.astype(np.float32, copy=False), "spacing": (cs, rs, float(dz)), "affine": affine,
            "orientation": _axcodes(affine), "padding_mask": pad, "meta": meta}


def read_dicom(path_or_folder: str | os.PathLike, *, series_uid: str | None = None,
               invert_monochrome1: bool = True, spacing_tolerance: float = 0.01) -> dict:
    """Read a DICOM file (single- or multi-frame) or a folder holding one series.

    Args:
        path_or_folder: a ``.dcm`` file, or a folder whose files are the slices of one series
            (searched recursively; hidden files, DICOMDIR and obvious non-DICOM suffixes ignored).
        series_uid: pick one series when the folder holds several.
        invert_monochrome1: invert MONOCHROME1 images so larger values are brighter
            (``meta["inverted"]`` records it).
        spacing_tolerance: largest accepted relative deviation of a slice gap from the
            median gap (0.01 = 1 %).

    Returns:
        dict with "image" (np.float32, ``(X, Y)`` or ``(X, Y, Z)``, modality units: HU for CT),
        "spacing" (mm per image axis), "affine" (4x4 RAS), "orientation" (axis codes),
        "padding_mask" (bool like "image", or None) and "meta" (a few tags, see module doc).

    Raises:
        DataNotFoundError: the path does not exist or the folder has no DICOM files.
        DataError: the input is corrupt or inconsistent (the message names the file and the problem).
    """
    path = Path(path_or_folder).expanduser()
    if not path.exists():
        raise DataNotFoundError(f"DICOM path {path} does not exist; pass a .dcm file or a folder of one series.")
    with warnings.catch_warnings():
        # pydicom warns about every slightly non-conformant tag value; the reader checks
        # what matters itself and raises DataError with the file name.
        warnings.simplefilter("ignore", UserWarning)
        if path.is_dir():
            return _read_series(path, series_uid=series_uid, invert_monochrome1=invert_monochrome1,
                                spacing_tolerance=spacing_tolerance)
        return _read_single(path, invert_monochrome1=invert_monochrome1, spacing_tolerance=spacing_tolerance)
