"""NIfTI reader (nibabel) returning the array with its geometry, plus image/label checks.

``read_nifti`` returns the same dictionary shape as :func:`medbench.data.dicom.read_dicom`::

    {"image":       np.ndarray (X, Y, Z) or (X, Y, Z, C) in the file's voxel order
                    (float32 for kind="image", smallest fitting integer type for kind="label"),
     "affine":      4x4 np.float64, voxel index -> world mm, RAS+ (NIfTI convention),
     "spacing":     tuple of mm per spatial axis (length of the affine columns),
     "orientation": axis codes, e.g. "RAS" or "LPS",
     "meta":        {"path", "dtype" (on disk), "shape", "scl_slope", "scl_inter", "qform_code", ...}}

MONAI users can turn it into a ``MetaTensor`` with :func:`to_metatensor` (the same object
``monai.transforms.LoadImage`` gives). Scaling (``scl_slope``/``scl_inter``) is applied to
images; labels are read unscaled and must hold whole numbers.

Bad input raises :class:`medbench.errors.DataError` naming the file: not NIfTI,
truncated or corrupt (gzip) data, NaN/inf voxels, a degenerate affine, non-integer label
values; :func:`read_image_label` and :func:`check_image_label` also reject image/label
shape or affine mismatches and empty labels.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from medbench.errors import ConfigError, DataError, DataNotFoundError

__all__ = ["read_nifti", "read_image_label", "check_image_label", "check_finite", "to_metatensor",
           "write_nifti", "NIFTI_SUFFIXES"]

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def check_finite(array: np.ndarray, where: str) -> None:
    """Raise :class:`DataError` if a float ``array`` holds NaN or inf; ``where`` names the source."""
    if array.dtype.kind in "fc":
        bad = ~np.isfinite(array)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(f"{where}: {int(bad.sum())} of {array.size} voxels are NaN or inf (first at index "
                            f"{first}). Fix the source, or replace them (e.g. numpy.nan_to_num) and save again.")


def _load(path: Path):
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    if not path.exists():
        raise DataNotFoundError(f"NIfTI file {path} does not exist.")
    if path.is_dir():
        raise DataError(f"{path} is a folder; read_nifti expects a .nii or .nii.gz file "
                        "(for a DICOM series folder use medbench.data.dicom.read_dicom).")
    try:
        img = nib.load(str(path))
    except (ImageFileError, OSError, EOFError, zlib.error, ValueError) as exc:
        raise DataError(f"cannot read NIfTI file {path}: {exc}. It is not a NIfTI-1/2 image, or it is "
                        "truncated/corrupt; export or download it again.") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise DataError(f"{path} is a {type(img).__name__}, not a NIfTI image.")
    return img


def _dataobj(img, path: Path, *, scaled: bool, dtype=None) -> np.ndarray:
    try:
        if scaled:
            return np.asarray(img.get_fdata(dtype=dtype or np.float32))
        return np.asarray(img.dataobj.get_unscaled())
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise DataError(f"cannot read the voxels of {path}: {str(exc).strip()}. The file is truncated or "
                        "corrupt; export or download it again.") from exc


def _geometry(affine: np.ndarray, path: Path) -> tuple[tuple[float, ...], str]:
    import nibabel as nib

    if not np.all(np.isfinite(affine)):
        raise DataError(f"{path}: the affine holds NaN or inf: {affine.tolist()}")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise DataError(f"{path}: degenerate affine (zero voxel size or collinear axes): "
                        f"{np.round(affine, 4).tolist()}; fix the header (pixdim / sform / qform).")
    spacing = tuple(float(v) for v in nib.affines.voxel_sizes(affine))
    return spacing, "".join(nib.aff2axcodes(affine))


def _label_dtype(arr: np.ndarray) -> np.dtype:
    if arr.size == 0:
        return np.dtype(np.uint8)
    lo, hi = int(arr.min()), int(arr.max())
    for dt in (np.uint8, np.int16, np.int32, np.int64):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dt)
    return np.dtype(np.int64)


def read_nifti(path: str | os.PathLike, *, kind: str = "image", dtype=np.float32, canonical: bool = False,
               check_values: bool = True) -> dict:
    """Read a ``.nii`` / ``.nii.gz`` file with its geometry.

    Args:
        path: the NIfTI file.
        kind: ``"image"`` (scaled to ``dtype``) or ``"label"`` (unscaled whole numbers, stored in the
            smallest integer type that holds them).
        dtype: float dtype of images.
        canonical: reorder/flip voxel axes to the closest RAS orientation first
            (``nibabel.as_closest_canonical``); the affine is updated to match.
        check_values: reject NaN/inf voxels (and non-integer label values).

    Returns:
        dict with "image", "affine", "spacing", "orientation", "meta" (see the module doc).

    Raises:
        DataNotFoundError: the file is absent.
        DataError: unreadable, truncated, NaN/inf voxels, degenerate affine, non-integer labels.
    """
    import nibabel as nib

    if kind not in ("image", "label"):
        raise ConfigError(f"kind must be 'image' or 'label', got {kind!r}")
    path = Path(path).expanduser()
    img = _load(path)
    on_disk = img.header.get_data_dtype()
    # nibabel moves scl_slope/scl_inter from the header into the array proxy on load
    slope, inter = getattr(img.dataobj, "slope", None), getattr(img.dataobj, "inter", None)
    if canonical:
        img = nib.as_closest_canonical(img)
    hdr = img.header
    if img.ndim < 2 or img.ndim > 5:
        raise DataError(f"{path}: expected a 2D-5D image, got shape {img.shape}")
    if kind == "image":
        arr = _dataobj(img, path, scaled=True, dtype=dtype)
        if check_values:
            check_finite(arr, str(path))
    else:
        arr = _dataobj(img, path, scaled=False)
        if arr.dtype.kind in "fc":
            if check_values:
                check_finite(arr, str(path))
                frac = arr != np.round(arr)
                if frac.any():
                    raise DataError(f"{path}: label file holds non-integer values (e.g. {float(arr[frac][0])!r}); "
                                    "a label map must hold class indices. Was an image passed as the label, or "
                                    "was the label resampled with linear interpolation?")
            arr = np.round(arr)
        arr = arr.astype(_label_dtype(arr), copy=False)
    arr = np.ascontiguousarray(arr)
    affine = np.asarray(img.affine, dtype=np.float64)
    spacing, orientation = _geometry(affine, path)
    meta: dict[str, Any] = {
        "path": str(path), "kind": kind, "dtype": str(on_disk), "shape": tuple(int(s) for s in img.shape),
        "scl_slope": None if slope is None or np.isnan(slope) or (slope == 1 and not inter) else float(slope),
        "scl_inter": None if inter is None or np.isnan(inter) or (slope == 1 and not inter) else float(inter),
        "qform_code": int(hdr["qform_code"]), "sform_code": int(hdr["sform_code"]),
        "units": hdr.get_xyzt_units()[0], "canonical": canonical,
    }
    return {"image": arr, "affine": affine, "spacing": spacing, "orientation": orientation, "meta": meta}


def check_image_label(image: dict, label: dict, *, atol: float = 1e-3, allow_empty_label: bool = False) -> None:
    """Check an image/label pair read by :func:`read_nifti` (or ``read_dicom``) belongs together.

    Spatial shapes (first three axes) must be equal, affines equal within ``atol`` mm, and the
    label must hold at least one foreground voxel unless ``allow_empty_label``.

    Raises:
        DataError: naming both files and what differs.
    """
    ip = image.get("meta", {}).get("path", "image")
    lp = label.get("meta", {}).get("path", "label")
    ishape = tuple(image["image"].shape[:3])
    lshape = tuple(label["image"].shape[:3]) if "image" in label else tuple(label["label"].shape[:3])
    if ishape != lshape:
        raise DataError(f"image/label shape mismatch: {ip} has spatial shape {ishape} but {lp} has {lshape}. "
                        "The label was made for another image or resampled; resample it onto the image grid.")
    diff = np.abs(np.asarray(image["affine"]) - np.asarray(label["affine"]))
    if diff.max() > atol:
        raise DataError(f"image/label affine mismatch ({float(diff.max()):.4g} mm > {atol} mm): {ip} has "
                        f"{np.round(image['affine'], 3).tolist()} but {lp} has {np.round(label['affine'], 3).tolist()}. "
                        "The two are not on the same grid (different origin, spacing or orientation).")
    lab = label["image"] if "image" in label else label["label"]
    if not allow_empty_label and not np.any(lab):
        raise DataError(f"empty label: {lp} holds only background (0) voxels. Check that it belongs to {ip}, "
                        "or pass allow_empty_label=True if empty cases are expected.")


def read_image_label(image_path: str | os.PathLike, label_path: str | os.PathLike, *, canonical: bool = False,
                     atol: float = 1e-3, allow_empty_label: bool = False) -> dict:
    """Read and cross-check an image and its label map.

    Returns:
        dict with "image" (float32), "label" (integer), "affine", "spacing", "orientation",
        "meta" ({"image": image meta, "label": label meta}).

    Raises:
        DataError: either file unreadable, NaN/inf, shape or affine mismatch, empty label.
    """
    img = read_nifti(image_path, kind="image", canonical=canonical)
    lab = read_nifti(label_path, kind="label", canonical=canonical)
    check_image_label(img, lab, atol=atol, allow_empty_label=allow_empty_label)
    return {"image": img["image"], "label": lab["image"], "affine": img["affine"], "spacing": img["spacing"],
            "orientation": img["orientation"], "meta": {"image": img["meta"], "label": lab["meta"]}}


def to_metatensor(d: dict, key: str = "image", channel_first: bool = False):
    """A MONAI ``MetaTensor`` carrying ``d[key]`` with ``d["affine"]`` (as ``LoadImage`` would give).

    Args:
        d: a dict from :func:`read_nifti` / ``read_dicom`` / a simulator.
        key: which array to wrap.
        channel_first: add a leading channel axis ``(1, X, Y, Z)`` (MONAI's ``EnsureChannelFirst``).
    """
    import torch
    from monai.data import MetaTensor

    arr = np.ascontiguousarray(d[key])
    if channel_first:
        arr = arr[None]
    meta = {"filename_or_obj": d.get("meta", {}).get("path", ""), "spacing": np.asarray(d.get("spacing", ())),
            "original_channel_dim": 0 if channel_first else "no_channel"}
    return MetaTensor(torch.as_tensor(arr), affine=torch.as_tensor(np.asarray(d["affine"]), dtype=torch.float64),
                      meta=meta)


def write_nifti(path: str | os.PathLike, array: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """Save ``array`` ``(X, Y, Z[, C])`` with ``affine`` (identity if None) as NIfTI; returns the path.

    The header's spatial unit is millimetres (``xyzt_units``), the unit of the affine; the
    qform and sform both hold ``affine`` (code 1, scanner space).

    Raises:
        DataError: ``array`` holds NaN or inf (:func:`read_nifti` would reject the file), or
            ``affine`` is not a finite 4x4 matrix. Nothing is written then.
    """
    import nibabel as nib

    path = Path(path)
    arr = np.asarray(array)
    check_finite(arr, f"write_nifti({path})")
    aff = np.eye(4) if affine is None else np.asarray(affine, dtype=np.float64)
    if aff.shape != (4, 4) or not np.all(np.isfinite(aff)):
        raise DataError(f"write_nifti({path}): affine must be a finite 4x4 matrix, got shape {aff.shape}"
                        f"{'' if aff.shape != (4, 4) else ' with NaN or inf'}.")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    elif arr.dtype == np.int64:  # NIfTI-1 readers commonly reject int64
        arr = arr.astype(_label_dtype(arr) if arr.size and arr.min() >= -2**31 and arr.max() < 2**31 else np.float64)
    img = nib.Nifti1Image(arr, aff)
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    img.header.set_xyzt_units("mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path
