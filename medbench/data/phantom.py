"""A 3D CT phantom of the chest and upper abdomen with known ground truth.

Every case is drawn from analytic shapes (ellipsoids, tubes, a diaphragm dome) evaluated on a
grid in millimetres, warped by a smooth random displacement field, filled with calibrated
Hounsfield units, texture and noise. All of it is vectorised NumPy: a 96 x 96 x 64 case takes a
fraction of a second.

Geometry: arrays are indexed ``(x, y, z)`` in a RAS-like world frame: +x towards the patient's
**right**, +y **anterior**, +z **superior**. The affine maps voxel indices to millimetres, with the
volume centred on the origin. So the liver lies at +x, the spleen and heart apex at -x, the spine
at -y.

Intensities (non-contrast CT, Hounsfield units). The values are the typical textbook values found
in standard radiology references, e.g. the Radiopaedia article "Hounsfield unit"
(https://radiopaedia.org/articles/hounsfield-unit), T. M. Buzug, *Computed Tomography*
(Springer, 2008), ch. 1 (table of tissue attenuation), and W. R. Webb, W. E. Brant, N. M. Major,
*Fundamentals of Body CT* (Elsevier): air -1000; aerated lung about -850 (range -900 to -700);
fat about -100 (-120 to -80); muscle and generic soft tissue about 40 (10 to 60); liver about 60
(50 to 70 unenhanced); spleen about 50 (40 to 55); kidney about 30 (20 to 40); unenhanced blood
about 40 (30 to 50); cancellous bone 200 to 400 and cortical bone up to 1000 and more. With
``contrast=True`` a portal-venous phase is simulated (blood/aorta ~180, liver ~110, spleen ~120,
kidney ~170), as after an iodinated contrast bolus. Exact numbers are in :data:`HU_MEAN` and the
ranges the tests check are in :data:`HU_RANGES`.

Lesions: lung nodules and liver lesions, each with a ``malignant`` flag drawn from a known
logistic model of diameter and margin irregularity (:func:`malignancy_probability`), so a
chapter can compare a classifier with the best achievable (Bayes) score.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import ndimage

from medbench.errors import ConfigError
from medbench.settings import check_seed

#: Label ids of the phantom's structures; the single source of truth.
PHANTOM_LABELS: dict[str, int] = {
    "background": 0,
    "body": 1,  # muscle, mediastinum, bowel and other soft tissue not listed below
    "lung_left": 2,
    "lung_right": 3,
    "heart": 4,
    "liver": 5,
    "spleen": 6,
    "kidney_left": 7,
    "kidney_right": 8,
    "bone": 9,  # spine (vertebral bodies, posterior elements), ribs, sternum
    "aorta": 10,
    "lesion": 11,  # lung nodules and liver lesions
    "fat": 12,  # subcutaneous, mediastinal, perirenal and intra-abdominal fat
    "airway": 13,  # trachea and main bronchi
}

#: Mean HU of each structure without contrast (see the module docstring for sources).
HU_MEAN: dict[str, float] = {
    "background": -1000.0,
    "body": 40.0,
    "lung": -850.0,
    "heart": 40.0,
    "liver": 60.0,
    "spleen": 50.0,
    "kidney": 30.0,
    "aorta": 40.0,
    "bone_cancellous": 330.0,
    "bone_cortical": 900.0,
    "rib": 650.0,
    "fat": -100.0,
    "disc": 80.0,
    "csf": 10.0,
    "lung_nodule": 35.0,
    "liver_cyst": 10.0,
    "liver_metastasis": 35.0,
}

#: Portal-venous phase values that replace :data:`HU_MEAN` entries when ``contrast=True``.
HU_CONTRAST: dict[str, float] = {
    "heart": 170.0,
    "aorta": 180.0,
    "liver": 110.0,
    "spleen": 120.0,
    "kidney": 170.0,
    "liver_metastasis": 60.0,
}

#: Calibrated range of the median HU per label (non-contrast), as checked by the tests.
HU_RANGES: dict[str, tuple[float, float]] = {
    "background": (-1010.0, -990.0),
    "body": (10.0, 60.0),
    "lung_left": (-900.0, -700.0),
    "lung_right": (-900.0, -700.0),
    "heart": (30.0, 50.0),
    "liver": (50.0, 70.0),
    "spleen": (40.0, 55.0),
    "kidney_left": (20.0, 40.0),
    "kidney_right": (20.0, 40.0),
    "bone": (300.0, 1000.0),
    "aorta": (30.0, 50.0),
    "fat": (-120.0, -80.0),
    "airway": (-1010.0, -850.0),
}

#: Texture amplitude (HU, std of a smooth random field) per tissue.
_TEXTURE_HU = {"body": 10.0, "fat": 8.0, "lung": 25.0, "heart": 5.0, "liver": 6.0, "spleen": 5.0,
               "kidney": 6.0, "aorta": 3.0, "bone": 60.0}


# --------------------------------------------------------------------------------------------
# lesion ground-truth model, shared with medbench.data.patches
# --------------------------------------------------------------------------------------------
def malignancy_probability(diameter_mm, spiculation):
    """Known probability that a nodule is malignant, given its size and margin.

    A logistic model in the spirit of clinical nodule risk calculators (larger and more
    spiculated nodules are more often malignant):
    ``logit p = -1.2 + 0.28 * (diameter_mm - 10) + 5.0 * (spiculation - 0.4)``.

    Args:
        diameter_mm: nodule diameter(s) in mm, scalar or array.
        spiculation: margin irregularity in [0, 1] (0 smooth, ~0.5 lobulated, 1 spiculated).

    Returns:
        Probability (same shape as the inputs).
    """
    d = np.asarray(diameter_mm, dtype=float)
    s = np.asarray(spiculation, dtype=float)
    z = -1.2 + 0.28 * (d - 10.0) + 5.0 * (s - 0.4)
    return 1.0 / (1.0 + np.exp(-z))


def margin_name(spiculation: float) -> str:
    """``"smooth"`` (< 0.25), ``"lobulated"`` (< 0.6) or ``"spiculated"``."""
    return "smooth" if spiculation < 0.25 else ("lobulated" if spiculation < 0.6 else "spiculated")


def sample_nodule(rng: np.random.Generator, n: int = 1, kind: str = "lung_nodule") -> dict[str, np.ndarray]:
    """Draw nodule size, margin and malignancy from the known generative model.

    Diameter is log-normal (median 8 mm for lung nodules, 14 mm for liver lesions, clipped to
    4-32 mm); spiculation is a Beta(1.4, 2.6) draw shifted up for larger nodules; the malignant
    flag is a Bernoulli draw with :func:`malignancy_probability`.

    Returns:
        dict of arrays of length ``n``: ``diameter_mm``, ``spiculation``, ``p_malignant``,
        ``malignant`` (bool).
    """
    median = 8.0 if kind == "lung_nodule" else 14.0
    d = np.clip(median * np.exp(0.45 * rng.standard_normal(n)), 4.0, 32.0)
    s = np.clip(rng.beta(1.4, 2.6, n) + 0.015 * (d - 10.0), 0.0, 1.0)
    p = malignancy_probability(d, s)
    m = rng.random(n) < p
    return {"diameter_mm": d, "spiculation": s, "p_malignant": p, "malignant": m}


def nodule_directions(rng: np.random.Generator, n_spikes: int = 16, n_lobes: int = 4) -> np.ndarray:
    """Random unit vectors ``(n_lobes + n_spikes, 3)``: lobulation axes, then spike directions."""
    v = rng.standard_normal((n_lobes + n_spikes, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def nodule_occupancy(dx, dy, dz, radius_mm: float, spiculation: float, dirs: np.ndarray,
                     edge_mm: float = 0.7, n_lobes: int = 4) -> np.ndarray:
    """Fraction of a voxel/pixel inside a (possibly spiculated) nodule, vectorised.

    The surface radius depends on the direction ``u``:
    ``R(u) = r (1 + 0.5 s mean_j (u . a_j)) + 1.8 r s^2 sum_k max(0, u . d_k)^80``; the first
    term lobulates along the axes ``a_j``, the second sends thin spikes (about 8 degrees wide)
    along the directions ``d_k``, longer for a higher spiculation ``s``.

    Args:
        dx, dy, dz: offsets from the nodule centre in mm (broadcastable arrays).
        radius_mm: base radius.
        spiculation: margin irregularity in [0, 1].
        dirs: ``(n_lobes + K, 3)`` unit vectors (:func:`nodule_directions`).
        edge_mm: width of the partial-volume ramp at the surface.
        n_lobes: how many of ``dirs`` are lobulation axes.

    Returns:
        Array in [0, 1] of the broadcast shape; ``> 0.5`` is inside.
    """
    dx, dy, dz = np.broadcast_arrays(*(np.asarray(a, dtype=np.float32) for a in (dx, dy, dz)))
    r = np.sqrt(dx * dx + dy * dy + dz * dz) + 1e-6
    u = np.stack([dx / r, dy / r, dz / r], axis=-1)
    cos = u @ np.asarray(dirs, np.float32).T  # (..., n_dirs)
    lobes = cos[..., :n_lobes].mean(axis=-1) if n_lobes else 0.0
    c = np.clip(cos[..., n_lobes:], 0.0, None)
    c16 = c * c
    c16 *= c16
    c16 *= c16
    c16 *= c16  # c^16
    c64 = c16 * c16
    c64 *= c64  # c^64
    spikes = (c64 * c16).sum(axis=-1)  # sum_k c_k^80
    big_r = radius_mm * (1.0 + 0.5 * spiculation * lobes) + 1.8 * radius_mm * spiculation ** 2 * spikes
    return np.clip((big_r - r) / max(edge_mm, 1e-3) + 0.5, 0.0, 1.0).astype(np.float32)


def nodule_reach(radius_mm: float, spiculation: float) -> float:
    """Largest distance (mm) from the centre that :func:`nodule_occupancy` can mark inside."""
    return radius_mm * (1.0 + 0.5 * spiculation) + 1.8 * radius_mm * spiculation ** 2 * 2.0 + 1.0


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _check_triplet(name: str, value, kind) -> tuple:
    try:
        vals = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be three numbers (x, y, z), got {value!r}") from None
    if len(vals) != 3 or any(v <= 0 for v in vals):
        raise ConfigError(f"{name} must be three positive numbers (x, y, z), got {value!r}")
    return vals


def smooth_field(rng: np.random.Generator, shape: tuple[int, int, int], spacing, scale_mm: float,
                 amplitude: float = 1.0) -> np.ndarray:
    """A smooth random field of std ~``amplitude`` and correlation length ~``scale_mm``.

    Built separably: Gaussian-RBF interpolation of random values on a coarse control grid
    (three small matrix products), so it costs O(voxels) with a tiny constant.
    """
    mats = []
    for n, sp in zip(shape, spacing):
        extent = n * sp
        n_ctrl = int(np.ceil(extent / scale_mm)) + 3
        centres = np.linspace(-scale_mm, extent + scale_mm, n_ctrl)
        pos = (np.arange(n) + 0.5) * sp
        a = np.exp(-0.5 * ((pos[:, None] - centres[None, :]) / (0.75 * scale_mm)) ** 2)
        a /= np.sqrt((a ** 2).sum(axis=1, keepdims=True))
        mats.append(a.astype(np.float32))
    coeff = rng.standard_normal(tuple(m.shape[1] for m in mats)).astype(np.float32)
    a, b, c = coeff.shape
    f = (mats[0] @ coeff.reshape(a, b * c)).reshape(-1, b, c)  # (X, b, c)
    f = np.matmul(mats[1][None], f)  # (X, Y, c)
    f = f @ (amplitude * mats[2].T)  # (X, Y, Z)
    return np.ascontiguousarray(f, dtype=np.float32)


def fine_texture(rng: np.random.Generator, shape, sigma_vox: float = 1.0) -> np.ndarray:
    """Band-limited white noise (Gaussian-filtered, normalised to unit std), float32."""
    t = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma_vox, mode="wrap")
    return t / (t.std() + 1e-6)


def _ellipsoid(x, y, z, c, semi) -> np.ndarray:
    return ((x - c[0]) / semi[0]) ** 2 + ((y - c[1]) / semi[1]) ** 2 + ((z - c[2]) / semi[2]) ** 2 <= 1.0


def _segment_distance(x, y, z, p0, p1) -> np.ndarray:
    p0 = np.asarray(p0, np.float32)
    d = np.asarray(p1, np.float32) - p0
    t = ((x - p0[0]) * d[0] + (y - p0[1]) * d[1] + (z - p0[2]) * d[2]) / float(d @ d)
    t = np.clip(t, 0.0, 1.0)
    return np.sqrt((x - p0[0] - t * d[0]) ** 2 + (y - p0[1] - t * d[1]) ** 2 + (z - p0[2] - t * d[2]) ** 2)


def _box(axes, lo_mm, hi_mm) -> tuple[slice, slice, slice]:
    """Index slices of the voxels whose (unwarped) world coordinates lie in [lo_mm, hi_mm]."""
    out = []
    for ax, lo, hi in zip(axes, lo_mm, hi_mm):
        idx = np.flatnonzero((ax >= lo) & (ax <= hi))
        out.append(slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else slice(0, 0))
    return tuple(out)


def phantom_affine(shape, spacing) -> np.ndarray:
    """The 4x4 voxel-to-mm affine of a phantom: diagonal ``spacing``, volume centred on 0."""
    aff = np.eye(4)
    for i in range(3):
        aff[i, i] = spacing[i]
        aff[i, 3] = -(shape[i] - 1) / 2.0 * spacing[i]
    return aff


# --------------------------------------------------------------------------------------------
# main generator
# --------------------------------------------------------------------------------------------
def make_ct_phantom(
    shape=(96, 96, 64),
    spacing=(4.0, 4.0, 5.0),
    seed: int = 0,
    lesions: bool = True,
    *,
    n_lung_nodules: int | None = None,
    n_liver_lesions: int | None = None,
    contrast: bool = False,
    noise_hu: float = 12.0,
    elastic_mm: float = 6.0,
    variation: float = 1.0,
    blur_mm: float = 1.2,
) -> dict[str, Any]:
    """One synthetic chest/upper-abdomen CT with per-structure labels and lesions.

    The field of view is ``shape * spacing`` mm centred on the body; the default (96, 96, 64)
    at (4, 4, 5) mm covers 384 x 384 x 320 mm, from the lung apices to the kidneys. A smaller
    field of view crops the body; a finer spacing with a larger shape gives a sharper image of
    the same anatomy.

    Args:
        shape: ``(X, Y, Z)`` voxels.
        spacing: ``(sx, sy, sz)`` mm.
        seed: non-negative integer; the same seed and arguments give the same case.
        lesions: add lesions (``False`` gives a lesion-free case).
        n_lung_nodules: number of lung nodules (default: 1-3, random). A count that does not fit
            in the field of view places fewer and warns (``UserWarning``).
        n_liver_lesions: number of liver lesions (default: 0-2, random).
        contrast: simulate a portal-venous contrast phase (see :data:`HU_CONTRAST`).
        noise_hu: std of the white Gaussian noise in HU.
        elastic_mm: std of the smooth random displacement (elastic deformation) in mm.
        variation: scales all between-case variation (0 gives the mean anatomy, still noisy).
        blur_mm: std (mm) of the scanner point-spread function applied before the noise.

    Returns:
        dict with ``"image"`` (float32 HU, ``shape``), ``"label"`` (uint8, ``shape``, ids from
        :data:`PHANTOM_LABELS`), ``"spacing"`` (3 floats, mm), ``"affine"`` (4x4), ``"lesions"``
        (list of dicts: ``kind``, ``organ``, ``centre_vox``, ``centre_mm``, ``radius_mm``,
        ``diameter_mm``, ``spiculation``, ``margin``, ``p_malignant``, ``malignant``,
        ``n_voxels``), ``"seed"`` and ``"params"`` (the sampled anatomy parameters).

    Raises:
        ConfigError: a bad shape, spacing, seed or count.
    """
    shape = _check_triplet("shape", shape, int)
    if min(shape) < 8:
        raise ConfigError(f"shape must be at least 8 voxels along each axis, got {shape}")
    spacing = _check_triplet("spacing", spacing, float)
    seed = check_seed(seed)
    for name, v in (("n_lung_nodules", n_lung_nodules), ("n_liver_lesions", n_liver_lesions)):
        if v is not None and (not isinstance(v, (int, np.integer)) or v < 0):
            raise ConfigError(f"{name} must be a non-negative integer or None, got {v!r}")
    rng = np.random.default_rng(seed)
    v = float(variation)

    def jit(std, n=None):
        return v * std * rng.standard_normal(n) if n else v * std * rng.standard_normal()

    # ---- case parameters --------------------------------------------------------------
    p: dict[str, Any] = {
        "body_scale": 1.0 + jit(0.06, 2),
        "height_scale": 1.0 + jit(0.04),
        "shift_mm": jit(6.0, 3),
        "fat_mm": float(np.clip(16.0 + jit(6.0), 5.0, 35.0)),
        "organ_scale": {k: 1.0 + jit(0.07) for k in ("lung", "heart", "liver", "spleen", "kidney")},
        "organ_shift": {k: jit(5.0, 3) for k in ("lung", "heart", "liver", "spleen", "kidney")},
        "dome_right_mm": -20.0 + jit(8.0),
        "dome_left_mm": -35.0 + jit(8.0),
    }
    bx, by = 158.0 * p["body_scale"][0], 112.0 * p["body_scale"][1]
    hs = p["height_scale"]

    # ---- world coordinates, warped by a smooth displacement field ---------------------
    axes = [((np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * s) for n, s in zip(shape, spacing)]
    dfield = [smooth_field(rng, shape, spacing, 60.0, amplitude=v * elastic_mm) for _ in range(3)]
    x = axes[0][:, None, None] + dfield[0] - p["shift_mm"][0]
    y = axes[1][None, :, None] + dfield[1] - p["shift_mm"][1]
    z = (axes[2][None, None, :] + dfield[2] - p["shift_mm"][2]) / hs

    def oc(name, c):  # organ centre with its own shift
        return np.asarray(c, np.float32) + p["organ_shift"][name]

    def osz(name, s):
        return np.asarray(s, np.float32) * p["organ_scale"][name]

    reach = 5.0 * v * elastic_mm + 2.0 * max(spacing)  # how far the warp can move a point

    def region(lo, hi):
        """Index box (on the unwarped grid) that holds a model-space box after the warp."""
        lo_w = [lo[0] + p["shift_mm"][0], lo[1] + p["shift_mm"][1], min(lo[2] * hs, lo[2]) + p["shift_mm"][2]]
        hi_w = [hi[0] + p["shift_mm"][0], hi[1] + p["shift_mm"][1], max(hi[2] * hs, hi[2]) + p["shift_mm"][2]]
        return _box(axes, np.array(lo_w) - reach, np.array(hi_w) + reach)

    def paint(c, semi, value, *conds):
        """Label the warped ellipsoid (centre ``c``, semi-axes ``semi``) where all ``conds`` hold."""
        c = np.asarray(c, np.float32)
        box = region(c - semi, c + semi)
        m = _ellipsoid(x[box], y[box], z[box], c, semi)
        for cond in conds:
            m &= cond[box]
        label[box][m] = value
        return box, m

    # ---- body contour (super-ellipse cylinder), fat, muscle wall -------------------
    # super-ellipse of exponent 2.5 (|u|^2.5 = u^2 sqrt|u|, cheaper than a power); rp = rho^2.5
    taper = 1.0 + 0.04 * np.clip(z / 150.0, -1, 1)  # slightly wider chest than abdomen
    ux, uy = x / (bx * taper), y / by
    rp = ux * ux * np.sqrt(np.abs(ux)) + uy * uy * np.sqrt(np.abs(uy))
    del ux, uy, taper
    body = rp <= 1.0
    mean_r = 0.5 * (bx + by)
    rho_fat = 1.0 - p["fat_mm"] / mean_r
    rho_wall = rho_fat - 14.0 / mean_r  # muscle wall inside the subcutaneous fat
    label = np.zeros(shape, np.uint8)
    L = PHANTOM_LABELS
    label[body] = L["body"]
    label[body & (rp > rho_fat ** 2.5)] = L["fat"]
    cavity = rp < rho_wall ** 2.5

    # diaphragm dome: lungs above, abdominal organs below
    dome = (-75.0 + (p["dome_right_mm"] + 75.0) * np.exp(-0.5 * (((x - 55) / 55) ** 2 + (y / 80) ** 2))
            + (p["dome_left_mm"] + 75.0) * np.exp(-0.5 * (((x + 55) / 55) ** 2 + (y / 80) ** 2)))
    above = z > dome + 4.0
    below = z < dome - 4.0

    # intra-abdominal fat: blobs of a smooth field below the diaphragm; mediastinal fat above it
    fat_field = smooth_field(rng, shape, spacing, 25.0)
    label[cavity & below & (fat_field > 0.7)] = L["fat"]
    label[cavity & above & (fat_field > -0.4)] = L["fat"]

    # ---- lungs -------------------------------------------------------------------------
    lc, ls = oc("lung", (0.0, -5.0, 55.0)), osz("lung", (60.0, 88.0, 110.0))
    paint((lc[0] + 0.50 * bx, lc[1], lc[2]), ls, L["lung_right"], cavity, above)
    paint((lc[0] - 0.50 * bx, lc[1], lc[2]), ls * (0.95, 1, 1), L["lung_left"], cavity, above)

    # ---- abdominal organs (perirenal fat first: organs sit on it, kidneys inside it) --------
    ck, sk = oc("kidney", (0.0, -48.0, -100.0)), osz("kidney", (30.0, 26.0, 52.0))
    kl, kr = (ck[0] - 68.0, ck[1], ck[2] + 12.0), (ck[0] + 68.0, ck[1], ck[2] - 5.0)
    paint(kl, sk * 1.35, L["fat"], cavity, below)
    paint(kr, sk * 1.35, L["fat"], cavity, below)
    c, s = oc("liver", (55.0, 8.0, -60.0)), osz("liver", (95.0, 85.0, 85.0))
    paint(c, s, L["liver"], cavity, below, x > c[0] - 110.0)
    c, s = oc("spleen", (-88.0, -32.0, -68.0)), osz("spleen", (32.0, 55.0, 55.0))
    paint(c, s, L["spleen"], cavity, below)
    paint(kl, sk, L["kidney_left"], cavity)
    paint(kr, sk, L["kidney_right"], cavity)

    # ---- heart (rotated ellipsoid on the left dome) ------------------------------------
    c, s = oc("heart", (-18.0, 35.0, 2.0)), osz("heart", (62.0, 46.0, 50.0))
    ang = np.deg2rad(35.0)
    rmax = float(max(s[0], s[1]))
    box = region(c - (rmax, rmax, s[2]), c + (rmax, rmax, s[2]))
    xb, yb, zb = x[box] - c[0], y[box] - c[1], z[box] - c[2]
    xr = xb * np.cos(ang) + yb * np.sin(ang)
    yr = -xb * np.sin(ang) + yb * np.cos(ang)
    heart = ((xr / s[0]) ** 2 + (yr / s[1]) ** 2 + (zb / s[2]) ** 2 <= 1.0) & cavity[box]
    label[box][heart] = L["heart"]

    # ---- aorta: ascending, arch, descending (tube along a polyline) ---------------------
    hc = oc("heart", (0, 0, 0))
    pts = [(5, 30, 20), (5, 32, 80), (-8, 20, 100), (-22, -5, 100), (-22, -24, 80), (-20, -25, -60),
           (-8, -32, -170)]
    pts = [np.asarray(q, np.float32) + (hc[0], hc[1], 0.0) * np.asarray((1, 1, 0)) for q in pts]
    aorta_r = 12.5 * float(np.clip(1.0 + jit(0.08), 0.8, 1.25))
    margin = aorta_r + 4.0 * v * elastic_mm + np.abs(p["shift_mm"]).max() + 4.0
    pa = np.stack(pts)
    box = _box(axes, pa.min(0) - margin, pa.max(0) + margin)
    xb, yb, zb = (np.broadcast_to(q, shape)[box] for q in (x, y, z))
    dist = np.full(xb.shape, np.inf, np.float32)
    for a, b in zip(pts[:-1], pts[1:]):
        dist = np.minimum(dist, _segment_distance(xb, yb, zb, a, b))
    label[box][(dist <= aorta_r) & body[box]] = L["aorta"]

    # ---- airway: trachea down to the carina, then the two main bronchi ------------------
    tr = [np.asarray(q, np.float32) for q in ((2, -6, 200), (2, -6, 75))]
    br = [np.asarray(q, np.float32) for q in ((40, -12, 55), (-38, -12, 50))]
    box = _box(axes, (-60.0, -60.0, 20.0), (60.0, 40.0, 400.0))
    xb, yb, zb = (np.broadcast_to(q, shape)[box] for q in (x, y, z))
    airway = _segment_distance(xb, yb, zb, tr[0], tr[1]) <= 8.0
    for end in br:
        airway |= _segment_distance(xb, yb, zb, tr[1], end) <= 5.0
    label[box][airway & cavity[box]] = L["airway"]

    # ---- bone: vertebral bodies with discs, posterior elements, ribs, sternum ---------
    spine_y = -50.0
    vert_r = 17.0 * p["body_scale"].mean()
    canal_c = spine_y - vert_r - 9.0
    # the spine lives in a narrow box: compute it there, then place it in full-size masks
    sbox = region((-vert_r - 2.0, canal_c - 35.0, -1e4), (vert_r + 2.0, spine_y + vert_r + 2.0, 1e4))
    xs, ys, zs = x[sbox], y[sbox], z[sbox]
    rr = np.sqrt(xs * xs + (ys - spine_y) ** 2)
    phase = np.mod(zs + 7.0, 30.0)
    rc = np.sqrt(xs * xs + (ys - canal_c) ** 2)
    parts = {
        "vert": (rr <= vert_r) & (phase > 6.0),
        "cortex": (rr <= vert_r) & (rr > vert_r - 3.0) & (phase > 6.0),
        "disc": (rr <= vert_r) & (phase <= 6.0),
        "canal": rc <= 8.0,
        "lamina": (rc > 8.0) & (rc <= 13.5) & (ys < canal_c + 4.0),
        "spinous": ((xs / 6.0) ** 2 + ((ys - (canal_c - 20.0)) / 12.0) ** 2) <= 1.0,
    }
    for key, small in parts.items():
        full = np.zeros(shape, bool)
        full[sbox] = small
        parts[key] = full
    vert, cortex, disc, canal, lamina, spinous = (parts[k] for k in
                                                  ("vert", "cortex", "disc", "canal", "lamina", "spinous"))
    inner_rho = rho_wall - 0.02
    rib_band = (rp > (inner_rho - 0.06) ** 2.5) & (rp <= inner_rho ** 2.5) & (z > -120.0)
    rib_phase = np.mod(z + 0.35 * y, 26.0)
    ribs = rib_band & (rib_phase < 9.0) & ~((np.abs(x) < 25.0) & (y > 0))
    sternum = (np.abs(x) < 14.0) & (y > by * (inner_rho - 0.07)) & (y < by * inner_rho) & (z > -40.0) & (z < 120.0)
    bone = (vert | lamina | spinous | ribs | sternum) & body
    label[disc & body] = L["body"]
    label[canal & body] = L["body"]
    label[bone] = L["bone"]

    # ---- intensities -----------------------------------------------------------------
    hu = dict(HU_MEAN)
    if contrast:
        hu.update(HU_CONTRAST)
    tex = fine_texture(rng, shape, 1.0)
    img = np.full(shape, hu["background"], np.float32)
    lut = np.zeros(len(L), np.float32)
    amp = np.zeros(len(L), np.float32)
    for name, tissue in (("body", "body"), ("fat", "fat"), ("lung_left", "lung"), ("lung_right", "lung"),
                         ("heart", "heart"), ("liver", "liver"), ("spleen", "spleen"),
                         ("kidney_left", "kidney"), ("kidney_right", "kidney"), ("aorta", "aorta")):
        lut[L[name]] = hu[tissue]
        amp[L[name]] = _TEXTURE_HU[tissue]
    lut[L["bone"]] = hu["bone_cancellous"]
    amp[L["bone"]] = _TEXTURE_HU["bone"]
    lut[L["background"]] = hu["background"]
    lut[L["airway"]] = hu["background"]
    img = lut[label] + amp[label] * tex
    # bone: cortical shell of vertebrae, denser ribs and sternum
    img[cortex & body] = hu["bone_cortical"]
    img[(ribs | sternum | lamina | spinous) & body & (label == L["bone"])] = hu["rib"]
    img[disc & body & (label == L["body"])] = hu["disc"]
    img[canal & body & (label == L["body"])] = hu["csf"]
    # lung vessels: bright tubes/blobs of a band-limited field inside the lungs
    lung = (label == L["lung_left"]) | (label == L["lung_right"])
    vess = fine_texture(rng, shape, 0.8)
    vfrac = np.clip((vess - 1.9) / 0.6, 0.0, 1.0)
    img = np.where(lung, img + vfrac * (hu["aorta"] - hu["lung"]) * 0.8, img)

    # ---- lesions --------------------------------------------------------------------
    lesion_list: list[dict[str, Any]] = []
    if lesions:
        n_nod = int(rng.integers(1, 4)) if n_lung_nodules is None else int(n_lung_nodules)
        n_liv = int(rng.integers(0, 3)) if n_liver_lesions is None else int(n_liver_lesions)
        lesion_list += _add_lesions(rng, img, label, lung, "lung_nodule", n_nod, spacing, hu, axes)
        liver_mask = label == L["liver"]
        lesion_list += _add_lesions(rng, img, label, liver_mask, "liver_lesion", n_liv, spacing, hu, axes)
        placed_nod = sum(les["kind"] == "lung_nodule" for les in lesion_list)
        placed_liv = len(lesion_list) - placed_nod
        if ((n_lung_nodules is not None and placed_nod < n_nod)
                or (n_liver_lesions is not None and placed_liv < n_liv)):  # warn when counts were asked
            warnings.warn(f"make_ct_phantom(seed={seed}): placed {placed_nod}/{n_nod} lung nodules and "
                          f"{placed_liv}/{n_liv} liver lesions; the organs in this field of view "
                          f"({shape} x {spacing} mm) are too small for the rest. Use a larger shape or spacing.",
                          stacklevel=2)

    # ---- scanner: point-spread blur, noise, clipping to the 12-bit CT range --------------
    if blur_mm > 0:
        img = ndimage.gaussian_filter(img, [blur_mm / s for s in spacing], mode="nearest")
    if noise_hu > 0:
        img = img + rng.standard_normal(shape, dtype=np.float32) * np.float32(noise_hu)
    img = np.clip(img, -1024.0, 3071.0).astype(np.float32)

    p["n_lesions"] = len(lesion_list)
    p["contrast"] = bool(contrast)
    return {
        "image": img,
        "label": label,
        "spacing": tuple(float(s) for s in spacing),
        "affine": phantom_affine(shape, spacing),
        "lesions": lesion_list,
        "seed": seed,
        "params": p,
    }


def _add_lesions(rng, img, label, organ_mask, kind, n, spacing, hu, axes) -> list[dict[str, Any]]:
    """Place ``n`` lesions fully inside ``organ_mask`` (in place on img/label)."""
    out: list[dict[str, Any]] = []
    if n <= 0:
        return out
    L = PHANTOM_LABELS
    shape = label.shape
    cand = np.flatnonzero(organ_mask)
    if cand.size == 0:
        return out
    draws = sample_nodule(rng, n, kind)
    sp = np.asarray(spacing, np.float32)
    for i in range(n):
        d, s = float(draws["diameter_mm"][i]), float(draws["spiculation"][i])
        r = d / 2.0
        dirs = nodule_directions(rng)
        reach = nodule_reach(r, s)
        half = np.ceil(reach / sp).astype(int) + 1
        for _ in range(60):  # rejection sampling of the centre (a loop over tries, not voxels)
            ci = np.array(np.unravel_index(cand[rng.integers(cand.size)], shape))
            lo, hi = ci - half, ci + half + 1
            if np.any(lo < 0) or np.any(hi > np.array(shape)):
                continue
            box = tuple(slice(a, b) for a, b in zip(lo, hi))
            gx = (np.arange(lo[0], hi[0]) - ci[0])[:, None, None] * sp[0]
            gy = (np.arange(lo[1], hi[1]) - ci[1])[None, :, None] * sp[1]
            gz = (np.arange(lo[2], hi[2]) - ci[2])[None, None, :] * sp[2]
            occ = nodule_occupancy(gx, gy, gz, r, s, dirs, edge_mm=float(sp.min()) * 0.8)
            inside = occ > 0.5
            # the lesion must lie inside its organ (and not on another lesion)
            if not np.all(organ_mask[box][occ > 0.0]) or np.any(label[box][inside] == L["lesion"]):
                continue
            if kind == "lung_nodule":
                les_hu = hu["lung_nodule"]
                organ = "lung_right" if label[tuple(ci)] == L["lung_right"] else "lung_left"
            else:
                les_hu = hu["liver_metastasis"] if draws["malignant"][i] else hu["liver_cyst"]
                organ = "liver"
            if not inside.any():
                inside = np.zeros_like(inside)
                inside[tuple(half)] = True
                occ = np.maximum(occ, inside.astype(np.float32))
            sub = img[box]
            img[box] = sub + occ * (les_hu - sub) + occ * 4.0 * rng.standard_normal(sub.shape).astype(np.float32)
            label[box][inside] = L["lesion"]
            out.append({
                "kind": kind,
                "organ": organ,
                "centre_vox": tuple(int(c) for c in ci),
                "centre_mm": tuple(float(axes[k][ci[k]]) for k in range(3)),
                "radius_mm": r,
                "diameter_mm": d,
                "spiculation": s,
                "margin": margin_name(s),
                "p_malignant": float(draws["p_malignant"][i]),
                "malignant": bool(draws["malignant"][i]),
                "hu": float(les_hu),
                "n_voxels": int(inside.sum()),
            })
            break
    return out


def make_ct_cohort(n_cases: int, seed: int = 0, **kw) -> list[dict[str, Any]]:
    """``n_cases`` independent phantoms, deterministic for a given ``seed``.

    Case ``i`` uses a seed spawned from ``seed`` by :class:`numpy.random.SeedSequence`, so two
    cohorts with different seeds share no case; each dict also holds ``"case_id"``.

    Args:
        n_cases: number of cases (>= 1).
        seed: cohort seed.
        **kw: passed to :func:`make_ct_phantom` (shape, spacing, lesions, contrast, ...).
    """
    if isinstance(n_cases, bool) or not isinstance(n_cases, (int, np.integer)) or n_cases < 1:
        raise ConfigError(f"n_cases must be a positive integer, got {n_cases!r}")
    seed = check_seed(seed)
    children = np.random.SeedSequence(seed).spawn(int(n_cases))
    cases = []
    for i, child in enumerate(children):
        case = make_ct_phantom(seed=int(child.generate_state(1)[0]), **kw)
        case["case_id"] = i
        cases.append(case)
    return cases


def label_statistics(case: dict[str, Any]) -> "Any":
    """Median/mean HU and voxel count per label of a phantom case, as a pandas DataFrame."""
    import pandas as pd

    img, lab = case["image"], case["label"]
    vox = float(np.prod(case["spacing"])) / 1000.0
    rows = []
    for name, idx in PHANTOM_LABELS.items():
        m = lab == idx
        n = int(m.sum())
        rows.append({"label": name, "id": idx, "n_voxels": n, "volume_ml": n * vox,
                     "median_hu": float(np.median(img[m])) if n else np.nan,
                     "mean_hu": float(img[m].mean()) if n else np.nan})
    return pd.DataFrame(rows)
