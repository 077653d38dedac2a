"""2D CT patches for classification: nodule vs lung tissue, and benign vs malignant nodules.

Each simulated patient has one axial lung "canvas" at ``pixel_mm`` resolution, drawn with the
same HU calibration and texture model as the 3D phantom (:mod:`medbench.data.phantom`):
aerated lung around -850 HU with a smooth texture, explicit vessels (blood ~40 HU: in-plane
segments, branchings and round cross-sections, the classic nodule mimics) and, at one side, the
chest wall (muscle ~40 HU, subcutaneous fat ~-100 HU). Patches are crops of that canvas. A
nodule patch has a nodule drawn **anywhere** in it (solid ~35 HU, or sub-solid), cut by the
image plane at a random offset from the nodule's centre and averaged through the patient's
slice thickness (partial volume), with a smooth, lobulated or spiculated margin and possibly a
calcification (central or eccentric). Every patient has its own noise level, blur and slice
thickness, so neither position nor mean density gives the answer.

Ground truth is known: the malignant flag is a Bernoulli draw with the probability
:func:`patch_malignancy_probability` (calcification pattern and size; stored per patch in
``meta["p_malignant"]``), so a chapter can report the Bayes-optimal AUROC next to a model's.

Patients matter: a patient's patches share their background texture, scanner and, for nodule
patches, the same few nodules seen at several positions and slice offsets. Splitting patches
at random leaks patients between train and test; split by ``patient_ids``
(:meth:`PatchSet.split_by_patient`).
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
        masks: ``(N, size, size)`` bool, each patch's nodule (its cross-section's occupancy
            >= 0.5 before the scanner blur; all False in a patch without nodule), or ``None``.
    """

    images: np.ndarray
    labels: np.ndarray
    patient_ids: np.ndarray
    meta: pd.DataFrame
    task: str = "nodule"
    pixel_mm: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)
    masks: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index) -> "PatchSet":
        """The patches at ``index`` (integer array or boolean mask), meta re-indexed from 0."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return PatchSet(self.images[idx], self.labels[idx], self.patient_ids[idx],
                        self.meta.iloc[idx].reset_index(drop=True), self.task, self.pixel_mm, dict(self.info),
                        None if self.masks is None else self.masks[idx])

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


#: calcification patterns of the patch simulator's nodules and how often each is drawn
CALCIFICATION = ("none", "central", "eccentric")
CALCIFICATION_P = (0.4, 0.3, 0.3)
#: malignancy model of the patch simulator (:func:`patch_malignancy_probability`): intercept,
#: slope per mm of diameter (centred at ``centre_mm``) and the log-odds of each calcification pattern
MALIGNANCY_LOGIT = {"intercept": -0.6, "per_mm": 0.2, "centre_mm": 11.0, "none": 0.0, "central": -3.5,
                    "eccentric": 2.0}


def patch_malignancy_probability(diameter_mm, calcification):
    r"""Known probability that a patch-simulator nodule is malignant: its calcification pattern and its size.

    $$\operatorname{logit} p = -0.6 + 0.2\,(d - 11) + \beta_c, \qquad
    \beta_{\text{none}} = 0,\ \beta_{\text{central}} = -3.5,\ \beta_{\text{eccentric}} = +2$$

    with $d$ the diameter in mm and $c$ the calcification pattern. A central (or laminated,
    popcorn) calcification is a classic *benign* sign; an eccentric calcification does not
    exclude cancer (a tumour can engulf a calcified granuloma) and is treated as suspicious
    (Erasmus et al. 2000). Both patterns have the same calcified area and density, so size and
    intensity features cannot tell them apart: only *where* the calcium lies inside the nodule
    does, which a CNN can see. Margin shape is drawn independently of malignancy here (thin
    spicules, the real-world sign, are below what a 32-pixel CNN resolves).

    Args:
        diameter_mm: nodule diameter(s) in mm, scalar or array.
        calcification: pattern name(s) from :data:`CALCIFICATION`, or their indices.

    Returns:
        Probability, an array of the broadcast shape.
    """
    c = np.asarray(calcification)
    if c.dtype.kind in "iu":
        c = np.asarray(CALCIFICATION, dtype=object)[c]
    bad = set(np.unique(c).tolist()) - set(CALCIFICATION)
    if bad:
        raise ConfigError(f"calcification must be one of {CALCIFICATION}, got {sorted(bad)}")
    m = MALIGNANCY_LOGIT
    beta = np.vectorize(m.__getitem__, otypes=[float])(c) if c.size else np.zeros(c.shape)
    z = m["intercept"] + m["per_mm"] * (np.asarray(diameter_mm, dtype=float) - m["centre_mm"]) + beta
    return 1.0 / (1.0 + np.exp(-z))


def _segment_distance(gx, gy, p0, p1) -> np.ndarray:
    """Distance (mm) of grid points to the segment ``p0``-``p1``."""
    d = p1 - p0
    t = np.clip(((gx - p0[0]) * d[0] + (gy - p0[1]) * d[1]) / max(float(d @ d), 1e-9), 0.0, 1.0)
    return np.hypot(gx - p0[0] - t * d[0], gy - p0[1] - t * d[1])


def _vessels(rng: np.random.Generator, gx: np.ndarray, gy: np.ndarray, pixel_mm: float) -> np.ndarray:
    """Occupancy in [0, 1] of explicit vessels on a canvas grid (mm): the nodule look-alikes.

    In-plane vessel segments (radius 0.7-2 mm), half of them ending in a **branching** (two
    thinner children at 20-50 degrees), and vessel **cross-sections** (vessels running through
    the slice: round or slightly oval discs of radius 1-3.5 mm, the commonest nodule mimic).
    Each vessel's occupancy is scaled by a partial-volume factor (a thin vessel that only grazes
    the slice looks fainter).
    """
    occ = np.zeros(gx.shape, np.float32)
    half = float(gx.max())
    edge = 0.6 * pixel_mm

    def tube(p0, ang, length, rad, pv):
        p1 = p0 + length * np.array([np.cos(ang), np.sin(ang)])
        o = np.clip((rad - _segment_distance(gx, gy, p0, p1)) / edge + 0.5, 0.0, 1.0) * pv
        np.maximum(occ, o, out=occ)
        return p1

    for _ in range(int(rng.integers(4, 8))):
        p0 = rng.uniform(-half, half, 2)
        ang = rng.uniform(0, 2 * np.pi)
        rad = rng.uniform(0.7, 2.0)
        end = tube(p0, ang, rng.uniform(15.0, 45.0), rad, rng.uniform(0.6, 1.0))
        if rng.random() < 0.5:  # a branching: two thinner children from the end point
            for sign in (-1.0, 1.0):
                tube(end, ang + sign * np.deg2rad(rng.uniform(20.0, 50.0)), rng.uniform(10.0, 30.0),
                     0.75 * rad, rng.uniform(0.6, 1.0))
    for _ in range(int(rng.integers(10, 20))):  # cross-sections of vessels crossing the slice
        c = rng.uniform(-half, half, 2)
        rad = rng.uniform(1.0, 3.5)
        ang = rng.uniform(0, np.pi)
        ex = 1.0 + rng.uniform(0.0, 0.5)  # oblique vessels cut as ovals
        u = (gx - c[0]) * np.cos(ang) + (gy - c[1]) * np.sin(ang)
        w = -(gx - c[0]) * np.sin(ang) + (gy - c[1]) * np.cos(ang)
        o = np.clip((rad - np.hypot(u / ex, w)) / edge + 0.5, 0.0, 1.0) * rng.uniform(0.5, 1.0)
        np.maximum(occ, o, out=occ)
    return occ


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
    vfrac = np.maximum(np.clip((ves - vessel_thr) / 0.5, 0.0, 1.0) * 0.5, _vessels(rng, gx, gy, pixel_mm))
    img = lung_hu + tex_amp * tex + vfrac * (HU_MEAN["aorta"] - lung_hu) * 0.9
    fat_mm = rng.uniform(6.0, 14.0)
    wall = np.where(depth < 12.0, HU_MEAN["body"], np.where(depth < 12.0 + fat_mm, HU_MEAN["fat"], HU_MEAN["body"]))
    wall = wall + 8.0 * tex
    img = np.where(lung, img, wall).astype(np.float32)
    return img, lung


def _margin_shape(rng: np.random.Generator, n_spikes: tuple[int, int] = (6, 11)) -> dict[str, np.ndarray]:
    """Random in-plane margin of one nodule: lobulation harmonics and spike angles/lengths (unit radius)."""
    k = int(rng.integers(*n_spikes))
    return {"lobe_amp": rng.uniform(0.5, 1.0, 3), "lobe_phase": rng.uniform(0, 2 * np.pi, 3),
            "spike_angle": rng.uniform(0, 2 * np.pi) + np.sort(rng.uniform(0, 2 * np.pi, k)),
            "spike_len": rng.uniform(0.7, 1.4, k)}


def nodule_occupancy_2d(dx, dy, radius_mm: float, spiculation: float, shape: dict, edge_mm: float = 0.8,
                        spike_width_mm: float = 2.4) -> np.ndarray:
    r"""Fraction of each pixel inside a nodule's cross-section with a lobulated, spiculated margin.

    The body's radius at angle $\theta$ is $r\,(1 + 0.3\,s \sum_{j=1}^{3} a_j \cos((j+1)\theta + \phi_j))$
    (lobulation); each spike $k$ is a tapered line of length $1.2\,r\,s\,\ell_k$ and base width
    ``spike_width_mm`` leaving the body at angle $\theta_k$ (spiculation $s$ in [0, 1]).

    Args:
        dx, dy: offsets from the nodule centre in mm (arrays of one shape).
        radius_mm: radius of the cross-section.
        spiculation: margin irregularity $s$ in [0, 1].
        shape: :func:`_margin_shape` draws.
        edge_mm: width of the partial-volume ramp at the surface.
        spike_width_mm: spike width at its base.

    Returns:
        Array in [0, 1] of the shape of ``dx``.
    """
    rho = np.hypot(dx, dy)
    th = np.arctan2(dy, dx)
    lobes = sum(a * np.cos((j + 2) * th + ph) for j, (a, ph) in enumerate(zip(shape["lobe_amp"], shape["lobe_phase"])))
    body_r = radius_mm * (1.0 + 0.3 * spiculation * lobes / 3.0 * 2.0)
    occ = np.clip((body_r - rho) / edge_mm + 0.5, 0.0, 1.0)
    for ang, ln in zip(shape["spike_angle"], shape["spike_len"]):
        length = 1.8 * radius_mm * spiculation * ln
        if length < 0.5:
            continue
        along = rho * np.cos(th - ang)
        perp = np.abs(rho * np.sin(th - ang))
        frac = np.clip((along - 0.7 * radius_mm) / (0.3 * radius_mm + length), 0.0, 1.0)
        half_w = 0.5 * spike_width_mm * (1.0 - frac)
        o = np.clip((half_w - perp) / edge_mm + 0.5, 0.0, 1.0) * (along > 0) * (frac < 1.0)
        np.maximum(occ, o, out=occ)
    return occ.astype(np.float32)


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
    blur_mm: tuple[float, float] | float = (0.6, 1.1),
    noise_hu: tuple[float, float] = (10.0, 45.0),
    slice_mm: tuple[float, float] = (1.0, 2.5),
    subsolid_fraction: float = 0.25,
) -> PatchSet:
    """Simulated 2D CT patches for nodule detection or nodule malignancy classification.

    A nodule sits **anywhere** in its patch (its centre uniform over the positions where the
    nodule's body fits), among vessels: in-plane segments, **branchings** and round
    **cross-sections** that mimic small nodules. Every patient has its own scanner: noise level
    (``noise_hu``), point-spread blur (``blur_mm``) and slice thickness (``slice_mm``: the
    nodule's occupancy is averaged through the slab, the **partial-volume** effect that makes a
    nodule cut near its pole faint and small). A quarter of nodules are sub-solid (-450 to
    -100 HU instead of ~35 HU), whatever their malignancy. So neither position nor mean density
    gives the answer.

    Malignancy follows :func:`patch_malignancy_probability` (calcification pattern first, size
    second; margin shape is drawn independently of it); the true probability is
    ``meta["p_malignant"]`` for each patch, the pattern ``meta["calcification"]``.

    Args:
        n_patients: number of patients (>= 1).
        patches_per_patient: patches drawn per patient (>= 1).
        size: patch side in pixels (>= 8).
        task: ``"nodule"`` (1 = a nodule somewhere in the patch, 0 = lung tissue and vessels
            without nodule, about ``nodule_fraction`` positives) or ``"malignancy"`` (nodule
            patches only; 1 = malignant, 0 = benign).
        seed: non-negative integer; patient ``i`` depends only on ``seed`` and ``i`` (not on
            ``n_patients``).
        pixel_mm: pixel size in mm.
        nodule_fraction: expected fraction of nodule patches for task ``"nodule"``.
        max_nodules_per_patient: each patient has 1 to this many distinct nodules; each is
            seen in several patches at different positions and slice offsets.
        blur_mm: std (mm) of the scanner point-spread function, or a ``(low, high)`` range drawn per patient.
        noise_hu: ``(low, high)`` range of the per-patient white-noise std (HU).
        slice_mm: ``(low, high)`` range of the per-patient slice thickness (mm).
        subsolid_fraction: fraction of sub-solid (lower-density) nodules.

    Returns:
        :class:`PatchSet` with ``images`` ``(N, 1, size, size)`` float32 HU, ``N = n_patients *
        patches_per_patient``, and ``masks`` ``(N, size, size)`` bool: where each nodule is (the
        truth that chapter 07 scores explanations against).

    Raises:
        ConfigError: a bad task, count, size, fraction or range.
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
    if not 0.0 <= subsolid_fraction <= 1.0:
        raise ConfigError(f"subsolid_fraction must be in [0, 1], got {subsolid_fraction!r}")
    if pixel_mm <= 0:
        raise ConfigError(f"pixel_mm must be positive, got {pixel_mm!r}")
    ranges = {}
    for name, val in (("blur_mm", blur_mm), ("noise_hu", noise_hu), ("slice_mm", slice_mm)):
        lo_hi = (val, val) if np.isscalar(val) else tuple(val)
        if len(lo_hi) != 2 or not 0 <= lo_hi[0] <= lo_hi[1]:
            raise ConfigError(f"{name} must be a non-negative number or a (low, high) range, got {val!r}")
        ranges[name] = (float(lo_hi[0]), float(lo_hi[1]))

    size = int(size)
    n_canvas = 4 * size
    coords = (np.arange(size) - (size - 1) / 2.0) * pixel_mm
    px, py = np.meshgrid(coords, coords, indexing="ij")
    h = size // 2
    half_mm = h * pixel_mm
    images = np.empty((n_patients * patches_per_patient, size, size), np.float32)
    masks = np.zeros((n_patients * patches_per_patient, size, size), bool)
    rows: list[dict[str, Any]] = []
    children = np.random.SeedSequence(int(seed)).spawn(int(n_patients))
    k = 0
    for pid, child in enumerate(children):
        rng = np.random.default_rng(child)
        lung_hu = HU_MEAN["lung"] + 20.0 * rng.standard_normal()
        tex_amp = rng.uniform(15.0, 35.0)
        noise = rng.uniform(*ranges["noise_hu"])
        blur = rng.uniform(*ranges["blur_mm"])
        thick = rng.uniform(*ranges["slice_mm"])
        canvas, lung = _patient_canvas(rng, n_canvas, pixel_mm, lung_hu, tex_amp, rng.uniform(1.8, 2.3))
        # patch centres: lung pixels far enough from the canvas border
        ok = np.zeros_like(lung)
        ok[h:n_canvas - h, h:n_canvas - h] = True
        centres = np.flatnonzero(lung & ok)
        if task == "nodule":
            n_pos = int(rng.binomial(patches_per_patient, nodule_fraction))
        else:
            n_pos = patches_per_patient
        n_nod = int(min(max(n_pos, 0), rng.integers(1, max_nodules_per_patient + 1)))
        if n_nod:
            nod = {"diameter_mm": np.clip(11.0 * np.exp(0.3 * rng.standard_normal(n_nod)), 8.0, 22.0),
                   "spiculation": rng.beta(1.2, 3.0, n_nod),  # margin shape: independent of malignancy
                   "calcification": rng.choice(len(CALCIFICATION), n_nod, p=CALCIFICATION_P)}
            nod["p_malignant"] = patch_malignancy_probability(nod["diameter_mm"], nod["calcification"])
            nod["malignant"] = rng.random(n_nod) < nod["p_malignant"]
            # calcium: radius (fraction of the cross-section's), density, angle of an eccentric one
            calc = {"frac": rng.uniform(0.45, 0.55, n_nod), "hu": rng.uniform(800.0, 1500.0, n_nod),
                    "angle": rng.uniform(0.0, 2 * np.pi, n_nod)}
            nod_hu = np.where(rng.random(n_nod) < subsolid_fraction, rng.uniform(-450.0, -100.0, n_nod),
                              HU_MEAN["lung_nodule"])
        shapes = [_margin_shape(rng) for _ in range(n_nod)]
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
                                   "spiculation": np.nan, "margin": "none", "calcification": "none",
                                   "malignant": -1,
                                   "p_malignant": np.nan, "slice_offset_mm": np.nan, "nodule_hu": np.nan,
                                   "offset_x_mm": np.nan, "offset_y_mm": np.nan, "noise_hu": noise,
                                   "blur_mm": blur, "slice_mm": thick, "lung_hu": lung_hu,
                                   "wall_fraction": wall_frac}
            if is_pos[j]:
                m = int(which[j_pos])
                j_pos += 1
                d = float(nod["diameter_mm"][m])
                s = float(nod["spiculation"][m])
                r = d / 2.0
                dz = rng.uniform(-0.4, 0.4) * r
                lim = max(half_mm - r - 1.0, 0.0)  # the nodule's body stays in the patch, its centre in lung
                for _ in range(20):
                    off = rng.uniform(-lim, lim, 2)
                    if lung[ci[0] + int(round(off[0] / pixel_mm)), ci[1] + int(round(off[1] / pixel_mm))]:
                        break
                # partial volume: the cross-section averaged through the slab (radius shrinks off-centre)
                occ = np.mean([nodule_occupancy_2d(px - off[0], py - off[1], r * np.sqrt(max(1.0 - (z / r) ** 2, 0.0)),
                                                   s, shapes[m], edge_mm=0.8 * pixel_mm)
                               for z in dz + thick * np.array([-1 / 3, 0.0, 1 / 3])], axis=0)
                masks[k] = occ >= 0.5
                hu = nod_hu[m] + 6.0 * rng.standard_normal((size, size))
                patch = patch + occ * (hu - patch)
                ctype = CALCIFICATION[int(nod["calcification"][m])]
                if ctype != "none":  # same calcified area and density, only its place differs
                    r_cs = r * np.sqrt(max(1.0 - (dz / r) ** 2, 0.0))
                    rc = max(calc["frac"][m] * r_cs, 1.2 * pixel_mm)
                    ecc = max(r_cs - 0.3 * rc, 0.0) if ctype == "eccentric" else 0.0  # on the rim
                    cx = off[0] + ecc * np.cos(calc["angle"][m])
                    cy = off[1] + ecc * np.sin(calc["angle"][m])
                    cocc = np.clip((rc - np.hypot(px - cx, py - cy)) / (0.8 * pixel_mm) + 0.5, 0.0, 1.0)
                    patch = patch + cocc * (calc["hu"][m] - patch)
                row.update(nodule_id=pid * max_nodules_per_patient + m, diameter_mm=d,
                           apparent_diameter_mm=2.0 * float(np.sqrt(max(r * r - dz * dz, 0.0))),
                           spiculation=s, margin=margin_name(s), calcification=ctype,
                           malignant=int(nod["malignant"][m]),
                           p_malignant=float(nod["p_malignant"][m]), slice_offset_mm=float(dz),
                           nodule_hu=float(nod_hu[m]), offset_x_mm=float(off[0]), offset_y_mm=float(off[1]))
            images[k] = patch
            rows.append(row)
            k += 1
        # this patient's scanner: point-spread blur (within each patch) and white noise
        block = images[start:k]
        if blur > 0:
            block[:] = ndimage.gaussian_filter(block, (0, blur / pixel_mm, blur / pixel_mm), mode="nearest")
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
                    info={"seed": int(seed), "size": size, "nodule_fraction": nodule_fraction}, masks=masks)


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
