"""Segmentation cases from each source, as MONAI-style dicts: phantoms, brains, MSD folders.

Every builder returns a :class:`SegData`: case dicts ``{"image", "label", "case"}`` whose
``image``/``label`` are ``(1, X, Y, Z)`` MetaTensors (generated data) or file paths (MSD),
the structure names of label ids ``1..n`` and the modality (``"ct"`` or ``"mri"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from medbench.errors import ConfigError, DataError

__all__ = ["BRAIN_STRUCTURES", "PHANTOM_STRUCTURES", "SegData", "brain_cases", "msd_cases", "phantom_cases"]

#: Phantom structures segmented by default (lesions are switched off; body, fat and bone are
#: background, since bone is many components and body/fat are trivial).
PHANTOM_STRUCTURES: tuple[str, ...] = (
    "lung_left", "lung_right", "heart", "liver", "spleen", "kidney_left", "kidney_right",
)
#: Brain tissue classes of :func:`medbench.data.brain.deformed_brain` (label ids 1, 2, 3).
BRAIN_STRUCTURES: tuple[str, ...] = ("csf_other", "grey_matter", "white_matter")


@dataclass
class SegData:
    """Cases of one segmentation task, before transforms.

    Attributes:
        train, val, test: lists of case dicts, ``{"image": ..., "label": ..., "case": name}``;
            ``image``/``label`` are ``(1, X, Y, Z)`` MetaTensors (``kind="array"``) or file
            paths (``kind="file"``).
        structures: names of label ids ``1..n`` (id 0 is background).
        modality: ``"ct"`` or ``"mri"``.
        kind: ``"array"`` or ``"file"``.
        spacing: voxel spacing in mm of the volumes the network sees.
        source: a line saying where the data came from.

    ``val`` chooses the model (best epoch, settings); ``test`` is scored once, at the end.
    """

    train: list[dict]
    val: list[dict]
    structures: tuple[str, ...]
    modality: str
    kind: str
    spacing: tuple[float, float, float]
    source: str = ""
    test: list[dict] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.structures) + 1

    def split(self, n_train: int, n_val: int) -> "SegData":
        """Cases in order (of ``train + val + test``): ``n_train`` for training, ``n_val`` for validation, the rest test."""
        cases = self.train + self.val + self.test
        return replace(self, train=cases[:n_train], val=cases[n_train:n_train + n_val], test=cases[n_train + n_val:])


def _array_case(image: np.ndarray, label: np.ndarray, affine, name: str) -> dict:
    """``{"image": (1, X, Y, Z) float32, "label": (1, X, Y, Z) uint8, "case": name}`` MetaTensors."""
    import torch
    from monai.data import MetaTensor

    aff = torch.as_tensor(np.asarray(affine, dtype=np.float64))
    return {
        "image": MetaTensor(torch.as_tensor(np.ascontiguousarray(image, dtype=np.float32))[None], affine=aff),
        "label": MetaTensor(torch.as_tensor(np.ascontiguousarray(label, dtype=np.uint8))[None], affine=aff),
        "case": name,
    }


def phantom_cases(n: int, *, seed: int = 0, shape=(64, 64, 40), spacing=(6.0, 6.0, 8.0), contrast: bool = True,
                  structures: Sequence[str] | None = None) -> SegData:
    """``n`` CT phantoms (:func:`medbench.data.phantom.make_ct_cohort`, no lesions), all in ``train``.

    Args:
        structures: phantom structures to segment, relabelled ``1..len(structures)`` in this
            order (``None``: :data:`PHANTOM_STRUCTURES`); every other tissue is background.
    """
    from medbench.data.phantom import PHANTOM_LABELS, make_ct_cohort

    structures = tuple(structures or PHANTOM_STRUCTURES)
    unknown = [s for s in structures if s not in PHANTOM_LABELS or s == "background"]
    if unknown:
        raise ConfigError(f"unknown phantom structure(s) {unknown}; choose from "
                          f"{[k for k in PHANTOM_LABELS if k != 'background']}")
    lut = np.zeros(max(PHANTOM_LABELS.values()) + 1, np.uint8)  # phantom label id -> 1..n, others 0
    lut[[PHANTOM_LABELS[s] for s in structures]] = np.arange(1, len(structures) + 1)
    cohort = make_ct_cohort(n, seed=seed, shape=shape, spacing=spacing, lesions=False, contrast=contrast)
    items = [_array_case(c["image"], lut[c["label"]], c["affine"], f"phantom_{i:03d}") for i, c in enumerate(cohort)]
    return SegData(items, [], structures, "ct", "array", tuple(float(s) for s in spacing),
                   f"medbench.data.phantom.make_ct_cohort(seed={seed}, shape={tuple(shape)}, "
                   f"spacing={tuple(spacing)}, contrast={contrast})")


def brain_cases(n: int, *, seed: int = 0, shape=None) -> SegData:
    """``n`` deformed MNI152 T1 brains (:func:`medbench.data.brain.deformed_brain`), all in ``train``."""
    from medbench.data.brain import deformed_brain

    items, spacing = [], (1.0, 1.0, 1.0)
    for i in range(n):
        c = deformed_brain(seed=seed * 1000 + i, **({"shape": tuple(shape)} if shape is not None else {}))
        spacing = tuple(float(s) for s in c["spacing"])
        lab = np.asarray(c["label"]).astype(np.uint8)
        lab[lab > len(BRAIN_STRUCTURES)] = 0
        items.append(_array_case(c["image"], lab, c["affine"], f"brain_{i:03d}"))
    return SegData(items, [], BRAIN_STRUCTURES, "mri", "array", spacing,
                   "medbench.data.brain.deformed_brain (MNI152 2009 template from nilearn, deformed)")


def msd_cases(folder: str, n_train: int, n_val: int, n_test: int = 0, *, seed: int = 0,
              pixdim=(3.0, 3.0, 4.0)) -> SegData:
    """An MSD task folder's training cases (file paths), split by patient with :func:`load_msd_task`.

    Args:
        folder: a task folder name in ``<data dir>/msd/`` (``"Task09_Spleen"``) or a path.
        n_train, n_val, n_test: at most this many cases on each side; the held-out share is
            ``(n_val + n_test) / (n_train + n_val + n_test)`` of the patients, its first ``n_val``
            cases validate and the rest are the test cases.
        pixdim: the spacing (mm) the pipelines resample to.
    """
    from medbench.data.msd import load_msd_task, msd_task_folder, msd_task_info

    if not folder:
        raise ConfigError("dataset 'msd:' needs a task folder, e.g. dataset='msd:Task09_Spleen' (looked up in "
                          "<data dir>/msd/) or 'msd:/path/to/Task09_Spleen'")
    path = msd_task_folder(folder)
    structures, modality = msd_task_info(path)
    held = n_val + n_test
    train, rest = load_msd_task(path, val_fraction=held / (n_train + held), seed=seed)
    train = [dict(d, case=d["patient_id"]) for d in train[:n_train]]
    rest = [dict(d, case=d["patient_id"]) for d in rest]
    val, test = rest[:n_val], rest[n_val:held]
    if not train or not val or (n_test and not test):
        raise DataError(f"{path}: need at least one training, one validation{' and one test' if n_test else ''} "
                        f"case, got {len(train)}, {len(val)} and {len(test)}")
    return SegData(train, val, structures, modality, "file", tuple(float(p) for p in pixdim),
                   f"Medical Segmentation Decathlon folder {path}", test)
