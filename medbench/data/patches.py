"""2D CT patches for classification: nodule vs lung tissue, and benign vs malignant nodules.

Each simulated patient has one axial lung "canvas" at ``pixel_mm`` resolution, drawn with the
same HU calibration and texture model as the 3D phantom (:mod:`medbench.data.phantom`):
aerated lung around -850 HU with a smooth texture, bright vessels (blood ~40 HU) and, at one
side, the chest wall (muscle ~40 HU, subcutaneous fat ~-100 HU). Patches are crops of that
canvas. A nodule patch has a nodule drawn at its centre (solid, ~35 HU), cut by the image plane
at a random offset from the nodule's centre, with a smooth, lobulated or spiculated margin.

Ground truth is known: nodule size and margin come from
:func:`medbench.data.phantom.sample_nodule`, and the malignant flag is a Bernoulli draw with the
probability :func:`medbench.data.phantom.malignancy_probability` (stored per patch in
``meta["p_malignant"]``), so a chapter can report the best achievable AUC next to a model's.

Patients matter: a patient's patches share their background texture, noise level, and, for
nodule patches, the same few nodules seen at several slice offsets. Splitting patches at random
leaks patients between train and test; split by ``patient_ids`` (:meth:`PatchSet.split_by_patient`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from medbench.data.phantom import (
    HU_MEAN,
    margin_name,
    nodule_directions,
    nodule_occupancy,
    sample_nodule,
)
from medbench.errors import ConfigError
from medbench.settings import check_seed

TASKS = ("nodule", "malignancy")


@dataclass
class PatchSet:
    """A set of 2D patches with labels and patient ids.

    Attributes:
        images: ``(N, 1, size, size)`` float32, Hounsfield units.
        labels: ``(N,)`` int64 class labels (task ``"nodule"``: 1 nodule, 0 no nodule; task
            ``"malignancy"``: 1 malignant, 0 benign).
        patient_ids: ``(N,)`` int64 patient of each patch (split on these).
        meta: one row per patch (``patient_id``, ``label``, ``has_nodule``, ``nodule_id``,
            ``diameter_mm``, ``apparent_diameter_mm``, ``spiculation``, ``margin``,
            ``malignant``, ``p_malignant``, ``slice_offset_mm``, ``noise_hu``, ...).
        task: ``"nodule"`` or ``"malignancy"``.
        pixel_mm: pixel size in mm.
    """

    images: np.ndarray
    labels: np.ndarray
    patient_ids: np.ndarray
    meta: pd.DataFrame
    task: str = "nodule"
    pixel_mm: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index) -> "PatchSet":
        """The patches at ``index`` (integer array or boolean mask), meta re-indexed from 0."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return PatchSet(self.images[idx], self.labels[idx], self.patient_ids[idx],
                        self.meta.iloc[idx].reset_index(drop=True), self.task, self.pixel_mm, dict(self.info))

    def split_by_patient(self, test_fraction: float = 0.25, seed: int = 0) -> tuple["PatchSet", "PatchSet"]:
        """Split into (train, test) so that no patient appears in both.

        Patients are drawn by :func:`medbench.data.sequences.split_patients`, the one splitter.
        """
        from medbench.data.sequences import split_patients

        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
        test = split_patients(np.unique(self.patient_ids), (1 - test_fraction, test_fraction), seed)["test"]
        is_test = np.isin(self.patient_ids, test)
        return self.subset(~is_test), self.subset(is_test)

    def class_counts(self) -> dict[int, int]:
        """``{label: count}``."""
        vals, counts = np.unique(self.labels, return_counts=True)
        return {int(v): int(c) for v, c in zip(vals, counts)}


def _patient_canvas(rng: np.random.Generator, n: int, pixel_mm: float, lung_hu: float, tex_amp: float,
                    vessel_thr: float) -> tuple[np.ndarray, np.ndarray]:
    """An ``(n, n)`` axial lung region in HU and its lung mask (the rest is chest wall)."""
    # chest wall: the far side of a gently curved line, perpendicular to a random direction
    ang = rng.uniform(0, 2 * np.pi)
    c = (np.arange(n) - (n - 1) / 2.0) * pixel_mm
    gx, gy = np.meshgrid(c, c, indexing="ij")
    u = gx * np.cos(ang) + gy * np.sin(ang)
    w = -gx * np.sin(ang) + gy * np.cos(ang)
    half = n * pixel_mm / 2.0
    depth = u - (0.62 * half - (w ** 2) / (6.0 * half))  # > 0: chest wall (curved pleura)
    lung = depth < 0
    tex = ndimage.gaussian_filter(rng.standard_normal((n, n)).astype(np.float32), 2.0 / pixel_mm, mode="wrap")
    tex /= tex.std() + 1e-6
    ves = ndimage.gaussian_filter(rng.standard_normal((n, n)).astype(np.float32), 1.2 / pixel_mm, mode="wrap")
    ves /= ves.std() + 1e-6
    vfrac = np.clip((ves - vessel_thr) / 0.5, 0.0, 1.0)
    img = lung_hu + tex_amp * tex + vfrac * (HU_MEAN["aorta"] - lung_hu) * 0.85
    fat_mm = rng.uniform(6.0, 14.0)
    wall = np.where(depth < 12.0, HU_MEAN["body"], np.where(depth < 12.0 + fat_mm, HU_MEAN["fat"], HU_MEAN["body"]))
    wall = wall + 8.0 * tex
    img = np.where(lung, img, wall).astype(np.float32)
    return img, lung


def nodule_patches(
    n_patients: int = 40,
    patches_per_patient: int = 20,
    size: int = 32,
    task: str = "nodule",
    seed: int = 0,
    *,
    pixel_mm: float = 1.0,
    nodule_fraction: float = 0.25,
    max_nodules_per_patient: int = 3,
    blur_mm: float = 0.8,
) -> PatchSet:
    """Simulated 2D CT patches for nodule detection or nodule malignancy classification.

    Args:
        n_patients: number of patients (>= 1).
        patches_per_patient: patches drawn per patient (>= 1).
        size: patch side in pixels (>= 8).
        task: ``"nodule"`` (1 = nodule at the centre, 0 = lung tissue without nodule, about
            ``nodule_fraction`` positives) or ``"malignancy"`` (nodule patches only; 1 =
            malignant, 0 = benign; malignant nodules are larger and more irregular on average).
        seed: non-negative integer; patient ``i`` depends only on ``seed`` and ``i`` (not on
            ``n_patients``: its noise comes from its own generator).
        pixel_mm: pixel size in mm.
        nodule_fraction: expected fraction of nodule patches for task ``"nodule"``.
        max_nodules_per_patient: each patient has 1 to this many distinct nodules; each is
            seen in several patches at different slice offsets.
        blur_mm: std (mm) of the scanner point-spread function.

    Returns:
        :class:`PatchSet` with ``images`` ``(N, 1, size, size)`` float32 HU, ``N = n_patients *
        patches_per_patient``.

    Raises:
        ConfigError: a bad task, count, size or fraction.
    """
    if task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
    for name, val, lo in (("n_patients", n_patients, 1), ("patches_per_patient", patches_per_patient, 1),
                          ("size", size, 8), ("max_nodules_per_patient", max_nodules_per_patient, 1)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < lo:
            raise ConfigError(f"{name} must be an integer >= {lo}, got {val!r}")
    check_seed(seed)
    if not 0.0 < nodule_fraction < 1.0:
        raise ConfigError(f"nodule_fraction must be in (0, 1), got {nodule_fraction!r}")
    if pixel_mm <= 0:
        raise ConfigError(f"pixel_mm must be positive, got {pixel_mm!r}")

    size = int(size)
    n_canvas = 4 * size
    coords = (np.arange(size) - (size - 1) / 2.0) * pixel_mm
    px, py = np.meshgrid(coords, coords, indexing="ij")
    images = np.empty((n_patients * patches_per_patient, size, size), np.float32)
    rows: list[dict[str, Any]] = []
    nodule_counter = 0
    children = np.random.SeedSequence(int(seed)).spawn(int(n_patients))
    k = 0
    for pid, child in enumerate(children):
        rng = np.random.default_rng(child)
        lung_hu = HU_MEAN["lung"] + 20.0 * rng.standard_normal()
        tex_amp = rng.uniform(15.0, 35.0)
        noise = rng.uniform(10.0, 30.0)
        canvas, lung = _patient_canvas(rng, n_canvas, pixel_mm, lung_hu, tex_amp, rng.uniform(1.6, 2.1))
        # patch centres: lung pixels far enough from the canvas border
        h = size // 2
        ok = np.zeros_like(lung)
        ok[h:n_canvas - h, h:n_canvas - h] = True
        centres = np.flatnonzero(lung & ok)
        if task == "nodule":
            n_pos = int(rng.binomial(patches_per_patient, nodule_fraction))
        else:
            n_pos = patches_per_patient
        n_nod = int(min(max(n_pos, 0), rng.integers(1, max_nodules_per_patient + 1)))
        nod = sample_nodule(rng, n_nod, "lung_nodule") if n_nod else None
        dirs = [nodule_directions(rng) for _ in range(n_nod)]
        # each nodule patch shows one of the patient's nodules (every nodule at least once)
        which = np.concatenate([np.arange(n_nod), rng.integers(0, max(n_nod, 1), max(n_pos - n_nod, 0))])
        which = rng.permutation(which)[:n_pos] if n_nod else np.zeros(0, int)
        is_pos = rng.permutation(np.r_[np.ones(n_pos, bool), np.zeros(patches_per_patient - n_pos, bool)])
        j_pos = 0
        start = k
        for j in range(patches_per_patient):
            ci = np.unravel_index(centres[rng.integers(centres.size)], lung.shape)
            patch = canvas[ci[0] - h:ci[0] - h + size, ci[1] - h:ci[1] - h + size].copy()
            wall_frac = float(1.0 - lung[ci[0] - h:ci[0] - h + size, ci[1] - h:ci[1] - h + size].mean())
            row: dict[str, Any] = {"patient_id": pid, "patch_index": j, "has_nodule": bool(is_pos[j]),
                                   "nodule_id": -1, "diameter_mm": 0.0, "apparent_diameter_mm": 0.0,
                                   "spiculation": np.nan, "margin": "none", "malignant": -1,
                                   "p_malignant": np.nan, "slice_offset_mm": np.nan, "noise_hu": noise,
                                   "lung_hu": lung_hu, "wall_fraction": wall_frac}
            if is_pos[j]:
                m = int(which[j_pos])
                j_pos += 1
                d = float(nod["diameter_mm"][m])
                s = float(nod["spiculation"][m])
                r = d / 2.0
                dz = rng.uniform(-0.5, 0.5) * r
                off = rng.uniform(-1.5, 1.5, 2) * pixel_mm
                occ = nodule_occupancy(px - off[0], py - off[1], dz, r, s, dirs[m], edge_mm=0.8 * pixel_mm)
                nod_hu = HU_MEAN["lung_nodule"] + 6.0 * rng.standard_normal((size, size))
                patch = patch + occ * (nod_hu - patch)
                row.update(nodule_id=nodule_counter + m, diameter_mm=d,
                           apparent_diameter_mm=2.0 * float(np.sqrt(max(r * r - dz * dz, 0.0))),
                           spiculation=s, margin=margin_name(s), malignant=int(nod["malignant"][m]),
                           p_malignant=float(nod["p_malignant"][m]), slice_offset_mm=float(dz))
            images[k] = patch
            rows.append(row)
            k += 1
        nodule_counter += n_nod
        # scanner: point-spread blur (within each patch) and white noise from this patient's own
        # generator, so patient i depends only on (seed, i), never on n_patients
        block = images[start:k]
        if blur_mm > 0:
            block[:] = ndimage.gaussian_filter(block, (0, blur_mm / pixel_mm, blur_mm / pixel_mm), mode="nearest")
        block += rng.standard_normal(block.shape, dtype=np.float32) * np.float32(noise)
    np.clip(images, -1024.0, 3071.0, out=images)

    meta = pd.DataFrame(rows)
    if task == "nodule":
        labels = meta["has_nodule"].to_numpy().astype(np.int64)
    else:
        labels = meta["malignant"].to_numpy().astype(np.int64)
    meta.insert(1, "label", labels)
    meta["task"] = task
    return PatchSet(images=images[:, None], labels=labels, patient_ids=meta["patient_id"].to_numpy(np.int64),
                    meta=meta, task=task, pixel_mm=float(pixel_mm),
                    info={"seed": int(seed), "size": size, "nodule_fraction": nodule_fraction})


def patch_features(images: np.ndarray, pixel_mm: float = 1.0, dense_hu: float = -400.0) -> pd.DataFrame:
    """Hand-crafted intensity and size features of CT patches, for baselines that need no training.

    Args:
        images: ``(N, 1, H, W)`` or ``(N, H, W)`` Hounsfield units.
        pixel_mm: pixel size in mm.
        dense_hu: threshold (HU) separating soft tissue from aerated lung.

    Returns:
        ``pandas.DataFrame``, one row per patch: ``centre_mean_hu`` (mean of the central 4 x 4
        pixels: the "centre rule"), ``mean_hu``, ``std_hu``, ``p95_hu``, ``dense_area_mm2``
        (pixels above ``dense_hu`` after a 3 x 3 mean filter) and ``largest_blob_mm2`` (the
        largest connected dense region).
    """
    x = np.asarray(images, dtype=np.float32)
    x = x[:, 0] if x.ndim == 4 else x
    if x.ndim != 3 or min(x.shape[1:]) < 4:
        raise ConfigError(f"images must be (N, 1, H, W) or (N, H, W) with H, W >= 4, got shape {np.shape(images)}")
    n, hh, ww = x.shape
    ch, cw = hh // 2, ww // 2
    dense = ndimage.uniform_filter(x, (0, 3, 3)) > dense_hu
    largest = np.zeros(n)
    for i in range(n):
        lab, k = ndimage.label(dense[i])
        if k:
            largest[i] = np.bincount(lab.ravel())[1:].max()
    return pd.DataFrame({
        "centre_mean_hu": x[:, ch - 2:ch + 2, cw - 2:cw + 2].mean(axis=(1, 2)),
        "mean_hu": x.mean(axis=(1, 2)),
        "std_hu": x.std(axis=(1, 2)),
        "p95_hu": np.percentile(x.reshape(n, -1), 95, axis=1),
        "dense_area_mm2": dense.sum(axis=(1, 2)) * pixel_mm ** 2,
        "largest_blob_mm2": largest * pixel_mm ** 2,
    })
