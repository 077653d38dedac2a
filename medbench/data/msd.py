"""Medical Segmentation Decathlon task folders -> MONAI-style lists of dicts.

A task folder (downloaded by the user from http://medicaldecathlon.com/, CC BY-SA 4.0)
looks like::

    Task09_Spleen/
        dataset.json        {"name", "labels": {"0": "background", ...}, "modality": {"0": "CT"},
                             "training": [{"image": "./imagesTr/spleen_2.nii.gz",
                                           "label": "./labelsTr/spleen_2.nii.gz"}, ...], "test": [...]}
        imagesTr/  labelsTr/  imagesTs/

``load_msd_task`` returns ``(train, val)``, each a list of
``{"image": path, "label": path, "patient_id": str}`` ready for
``monai.transforms.LoadImaged(keys=["image", "label"])``. The split is by patient: all
cases of one patient land on the same side, so no patient leaks from training into
validation. The macOS ``._*`` files found in some MSD archives are never listed.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Callable

import numpy as np

from medbench.errors import ConfigError, DataError, DataNotFoundError

__all__ = ["load_msd_task", "msd_task_info", "read_msd_dataset_json", "msd_task_folder", "default_patient_id", "MSD_HOMEPAGE",
           "MSD_LICENCE"]

MSD_HOMEPAGE = "http://medicaldecathlon.com/"
MSD_LICENCE = "CC BY-SA 4.0"


def msd_task_folder(folder: str | os.PathLike) -> Path:
    """Resolve a task folder: a path, or a bare task name looked up in ``<data_dir>/msd/``."""
    path = Path(folder).expanduser()
    if path.is_dir():
        return path
    if not path.is_absolute() and len(path.parts) == 1:
        from medbench.settings import data_dir

        candidate = data_dir() / "msd" / path.name
        if candidate.is_dir():
            return candidate
        raise DataNotFoundError(
            f"MSD task folder {path.name!r} not found (looked in {Path.cwd()} and {candidate.parent}). Download "
            f"{path.name}.tar from {MSD_HOMEPAGE} ({MSD_LICENCE}) and extract it to {candidate}.")
    raise DataNotFoundError(f"MSD task folder {path} does not exist. Download the task from {MSD_HOMEPAGE} "
                            f"({MSD_LICENCE}) and extract it there, or pass the folder that holds dataset.json.")


def read_msd_dataset_json(folder: str | os.PathLike) -> dict:
    """The parsed ``dataset.json`` of a task folder, checked for the keys the reader needs."""
    folder = msd_task_folder(folder)
    path = folder / "dataset.json"
    if not path.is_file():
        raise DataNotFoundError(f"{path} not found: an MSD task folder holds dataset.json, imagesTr/ and labelsTr/. "
                                f"Is {folder} the extracted task folder (e.g. Task09_Spleen)?")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(info, dict):
        raise DataError(f"{path} must hold a JSON object, got {type(info).__name__}")
    training = info.get("training")
    if not isinstance(training, list) or not training:
        raise DataError(f"{path} has no 'training' list of {{'image', 'label'}} entries.")
    for i, entry in enumerate(training):
        if not isinstance(entry, dict) or "image" not in entry or "label" not in entry:
            raise DataError(f"{path}: training entry {i} must have 'image' and 'label', got {entry!r}")
    labels = info.get("labels", {})
    if not isinstance(labels, dict):
        raise DataError(f"{path}: 'labels' must map label values to names, got {labels!r}")
    return info


def msd_task_info(folder: str | os.PathLike) -> tuple[tuple[str, ...], str]:
    """Structure names of label ids ``1..n`` and the modality (``"ct"`` or ``"mri"``) of a task.

    Names come from ``dataset.json``'s ``labels`` (lower case, spaces as ``_``; a missing id
    becomes ``label<i>``), the modality from its channel ``"0"`` (MSD writes ``"CT"``, ``"MRI"``,
    ``"T2"``, ``"FLAIR"`` ...: everything but CT is MRI).

    Raises:
        DataError: ``labels`` lists no foreground label.
    """
    info = read_msd_dataset_json(folder)
    labels = {int(k): str(v) for k, v in (info.get("labels") or {}).items()}
    if not labels or max(labels) < 1:
        raise DataError(f"{msd_task_folder(folder) / 'dataset.json'} lists no foreground labels under 'labels'")
    names = tuple(labels.get(i, f"label{i}").lower().replace(" ", "_") for i in range(1, max(labels) + 1))
    modality = str((info.get("modality") or {}).get("0", "CT")).lower()
    return names, "ct" if modality.startswith("ct") else "mri"


_SUFFIX = re.compile(r"(\.nii\.gz|\.nii|\.nrrd|\.mha|\.mhd)$", re.IGNORECASE)
_MODALITY = re.compile(r"_\d{4}$")  # nnU-Net channel suffix, e.g. case_001_0000


def default_patient_id(path: str) -> str:
    """Case name from a file name: ``./imagesTr/la_003.nii.gz`` -> ``la_003`` (each MSD case is one patient)."""
    stem = _SUFFIX.sub("", Path(path).name)
    return _MODALITY.sub("", stem)


def _resolve(folder: Path, rel: str, json_path: Path, key: str) -> Path:
    p = Path(rel)
    p = p if p.is_absolute() else (folder / p)
    p = Path(os.path.normpath(p))
    if not p.is_file():
        raise DataNotFoundError(f"{p} is listed as {key} in {json_path} but does not exist; the download or "
                                "extraction is incomplete.")
    return p


def _header_check(image: Path, label: Path, atol: float) -> None:
    from medbench.data.nifti import _load  # same error messages as read_nifti

    img, lab = _load(image), _load(label)
    ishape, lshape = tuple(img.shape[:3]), tuple(lab.shape[:3])
    if ishape != lshape:
        raise DataError(f"image/label shape mismatch: {image} has spatial shape {ishape} but {label} has {lshape}.")
    diff = float(np.abs(img.affine - lab.affine).max())
    if diff > atol:
        raise DataError(f"image/label affine mismatch ({diff:.4g} mm > {atol} mm): {image} has "
                        f"{np.round(img.affine, 3).tolist()} but {label} has {np.round(lab.affine, 3).tolist()}.")


def _full_check(image: Path, label: Path, label_values: set[int], atol: float, allow_empty_label: bool) -> None:
    from medbench.data.nifti import check_image_label, read_nifti

    img = read_nifti(image, kind="image")
    lab = read_nifti(label, kind="label")
    check_image_label(img, lab, atol=atol, allow_empty_label=allow_empty_label)
    if label_values:
        found = set(np.unique(lab["image"]).tolist())
        extra = sorted(found - label_values)
        if extra:
            raise DataError(f"{label} holds label values {extra} that dataset.json does not declare "
                            f"(declared: {sorted(label_values)}).")


def load_msd_task(folder: str | os.PathLike, val_fraction: float = 0.2, seed: int = 0, *,
                  validate: str = "header", patient_id: Callable[[str], str] | str | None = None,
                  allow_empty_label: bool = False, atol: float = 1e-3) -> tuple[list[dict], list[dict]]:
    """Training cases of an MSD task, split into train and validation by patient.

    Args:
        folder: the task folder (holding ``dataset.json``), or a task name such as
            ``"Task09_Spleen"`` looked up in ``<data_dir>/msd/``.
        val_fraction: share of patients in validation, in ``[0, 1)``.
        seed: seed of the patient shuffle (the same seed gives the same split).
        validate: ``"none"``; ``"header"`` (default: both files readable NIfTI, equal spatial
            shape and affine, read from headers only); ``"full"`` (also reads voxels: NaN/inf,
            empty labels, label values not declared in dataset.json).
        patient_id: how to get a patient from an image path: a function, or a regular expression
            whose first group is the id (e.g. ``r"(pat\\d+)_"``); default
            :func:`default_patient_id` (one MSD case = one patient).
        allow_empty_label: accept label maps without foreground in ``validate="full"``.
        atol: largest accepted image/label affine difference (mm).

    Returns:
        ``(train, val)`` lists of ``{"image": str, "label": str, "patient_id": str}``, each sorted by
        image path.

    Raises:
        DataNotFoundError: the folder, dataset.json or a listed file is absent.
        DataError: dataset.json is malformed, or a pair is unreadable / mismatched (see ``validate``).
        ConfigError: bad ``val_fraction`` / ``validate``, or too few patients to split.
    """
    if validate not in ("none", "header", "full"):
        raise ConfigError(f"validate must be 'none', 'header' or 'full', got {validate!r}")
    if isinstance(val_fraction, bool) or not (0.0 <= float(val_fraction) < 1.0):
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    folder = msd_task_folder(folder)
    json_path = folder / "dataset.json"
    info = read_msd_dataset_json(folder)
    if patient_id is None:
        pid_fn = default_patient_id
    elif isinstance(patient_id, str):
        rx = re.compile(patient_id)

        def pid_fn(p: str, _rx=rx) -> str:
            m = _rx.search(Path(p).name)
            if not m:
                raise DataError(f"patient_id pattern {patient_id!r} does not match {Path(p).name} "
                                f"(listed in {json_path}).")
            return m.group(1) if m.groups() else m.group(0)
    else:
        pid_fn = patient_id
    try:
        label_values = {int(k) for k in info.get("labels", {})}
    except (TypeError, ValueError) as exc:
        raise DataError(f"{json_path}: label keys must be integers, got {list(info.get('labels', {}))}") from exc

    cases = []
    for entry in info["training"]:
        image = _resolve(folder, entry["image"], json_path, "image")
        label = _resolve(folder, entry["label"], json_path, "label")
        if validate == "header":
            _header_check(image, label, atol)
        elif validate == "full":
            _full_check(image, label, label_values, atol, allow_empty_label)
        cases.append({"image": str(image), "label": str(label), "patient_id": str(pid_fn(str(image)))})
    cases.sort(key=lambda c: c["image"])

    patients = sorted({c["patient_id"] for c in cases})
    n_val = int(round(val_fraction * len(patients)))
    if val_fraction > 0:
        n_val = max(1, n_val)
        if n_val >= len(patients):
            raise ConfigError(f"{folder} has {len(patients)} patient(s): too few to hold out "
                              f"val_fraction={val_fraction} and keep one for training.")
    if n_val:
        from medbench.data.sequences import split_patients

        val_patients = set(split_patients(patients, (len(patients) - n_val, n_val), seed)["test"].tolist())
    else:
        val_patients = set()
    train = [c for c in cases if c["patient_id"] not in val_patients]
    val = [c for c in cases if c["patient_id"] in val_patients]
    return train, val
