"""A real 3D brain MRI with tissue labels (MNI152 from nilearn) and random "patients" made from it.

:func:`load_mni152` returns the ICBM 2009a nonlinear asymmetric MNI152 T1 template at 1 mm,
shipped inside the ``nilearn`` package (loads offline), with tissue labels taken as the argmax of
four probabilities: background (outside nilearn's brain mask), CSF-or-other (inside the mask,
``1 - p_GM - p_WM``), grey matter and white matter (nilearn's GM/WM templates).
Source: Fonov et al., NeuroImage 2011 and 2009, via ``nilearn.datasets.load_mni152_template``,
``load_mni152_gm_template``, ``load_mni152_wm_template``, ``load_mni152_brain_mask``; the ICBM
templates are free to use with the copyright notice of the McConnell Brain Imaging Centre.

:func:`deformed_brain` turns the template into a new "subject" for segmentation training: a
random affine plus a smooth elastic deformation (one warp applied to the image with linear and
to the labels with nearest-neighbour interpolation, so they stay aligned), a multiplicative bias
field (MONAI ``RandBiasField``), a contrast (gamma) change and Rician noise as in magnitude MRI.
It can resample to a small ``shape`` (or by ``zoom``) so a 3D network trains on a CPU.

Arrays are indexed ``(x, y, z)`` in RAS+ (MNI) orientation: +x right, +y anterior, +z superior.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from scipy import ndimage

from medbench.data.phantom import smooth_field
from medbench.errors import ConfigError, DataNotFoundError
from medbench.settings import check_seed

_CROP_MARGIN = 16  # voxels (mm) kept around the brain's bounding box

#: Tissue label ids of the brain volumes.
BRAIN_LABELS: dict[str, int] = {"background": 0, "csf_other": 1, "grey_matter": 2, "white_matter": 3}


@lru_cache(maxsize=1)
def _mni152_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(T1, probabilities (4, X, Y, Z), label, affine), loaded once per process, read-only."""
    try:
        from nilearn import datasets
    except ImportError as exc:  # pragma: no cover - nilearn is a declared dependency
        raise DataNotFoundError(
            "the MNI152 template comes with the 'nilearn' package, which is not installed: "
            "run `pip install nilearn` (it is listed in pyproject.toml)"
        ) from exc
    t1_img = datasets.load_mni152_template(resolution=1)
    t1 = np.asarray(t1_img.get_fdata(), np.float32)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=1).get_fdata(), np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=1).get_fdata(), np.float32)
    mask = np.asarray(datasets.load_mni152_brain_mask(resolution=1).get_fdata(), np.float32)
    if not (t1.shape == gm.shape == wm.shape == mask.shape):
        raise DataNotFoundError(f"nilearn's MNI152 maps disagree in shape: {t1.shape}, {gm.shape}, "
                                f"{wm.shape}, {mask.shape}; reinstall nilearn")
    gm = gm * mask
    wm = wm * mask
    other = np.clip(mask - gm - wm, 0.0, 1.0)
    prob = np.stack([1.0 - mask, other, gm, wm]).astype(np.float32)
    label = np.argmax(prob, axis=0).astype(np.uint8)
    aff = np.asarray(t1_img.affine, float)
    for a in (t1, prob, label, aff):
        a.setflags(write=False)
    return t1, prob, label, aff


def load_mni152(with_probabilities: bool = False) -> dict[str, Any]:
    """The MNI152 T1 template (1 mm) with tissue labels, from nilearn (offline).

    Args:
        with_probabilities: also return ``"probabilities"`` ``(4, X, Y, Z)`` float32 (background,
            CSF/other, GM, WM), whose argmax is ``"label"``.

    Returns:
        dict: ``"image"`` float32 ``(197, 233, 189)`` T1 intensity scaled to [0, 1];
        ``"label"`` uint8 (:data:`BRAIN_LABELS`); ``"affine"`` 4x4 voxel-to-MNI-mm;
        ``"spacing"`` ``(1.0, 1.0, 1.0)``; ``"source"`` a one-line provenance string.
    """
    t1, prob, label, aff = _mni152_arrays()
    out = {
        "image": t1.copy(),
        "label": label.copy(),
        "affine": aff.copy(),
        "spacing": tuple(float(v) for v in np.sqrt((aff[:3, :3] ** 2).sum(axis=0))),
        "source": "MNI152 ICBM 2009a nonlinear asymmetric T1 + GM/WM maps, via nilearn.datasets (offline)",
    }
    if with_probabilities:
        out["probabilities"] = prob.copy()
    return out


def _rotation(angles_rad) -> np.ndarray:
    a, b, c = angles_rad
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


@lru_cache(maxsize=4)
def _source(crop: bool, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cropped (and for downsampling, anti-alias smoothed) T1, T1*p_GM, T1*p_WM, labels, crop offset."""
    t1, prob, label, _ = _mni152_arrays()
    lo = np.zeros(3, int)
    hi = np.array(t1.shape)
    if crop:
        idx = np.argwhere(label > 0)
        lo = np.maximum(idx.min(0) - _CROP_MARGIN, 0)
        hi = np.minimum(idx.max(0) + _CROP_MARGIN + 1, t1.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    img = np.ascontiguousarray(t1[box])
    img_gm = img * prob[2][box]
    img_wm = img * prob[3][box]
    if sigma > 0:
        img, img_gm, img_wm = (ndimage.gaussian_filter(a, sigma) for a in (img, img_gm, img_wm))
    lab = np.ascontiguousarray(label[box])
    for a in (img, img_gm, img_wm, lab):
        a.setflags(write=False)
    return img, img_gm, img_wm, lab, lo


def deformed_brain(
    seed: int = 0,
    shape: tuple[int, int, int] | None = None,
    *,
    zoom: float | None = None,
    crop: bool = True,
    elastic_mm: float = 4.0,
    elastic_scale_mm: float = 30.0,
    rotate_deg: float = 8.0,
    scale: float = 0.05,
    translate_mm: float = 4.0,
    bias_strength: float = 0.3,
    gamma_std: float = 0.2,
    tissue_contrast_std: float = 0.08,
    noise_std: float = 0.03,
) -> dict[str, Any]:
    """A new synthetic T1 "subject": the MNI152 template randomly deformed and degraded.

    One random spatial transform (affine about the volume centre plus a smooth displacement
    field) is sampled on the output grid and applied to the image (trilinear) and to the
    labels (nearest neighbour), so image and labels stay aligned. Then, on the image only:
    a tissue contrast change (GM and WM intensities scaled by ``1 + a`` and ``1 + b``, weighted by
    their probability maps, as between scanners and sequences), a gamma change, a multiplicative
    bias field (MONAI ``RandBiasField``) and Rician noise.

    Args:
        seed: non-negative integer; same seed and arguments give the same volume.
        shape: output ``(X, Y, Z)``; the (cropped) template's extent is resampled onto it, with
            spacing ``extent / shape`` (anisotropic if the ratios differ). Default: 1 mm.
        zoom: alternative to ``shape``: output = round(zoom * template shape), e.g. 0.5 for 2 mm.
        crop: crop the template to the brain's bounding box (+16 mm, room for the random scaling) first.
        elastic_mm: std of the elastic displacement (mm).
        elastic_scale_mm: correlation length of the displacement field (mm).
        rotate_deg: std of the rotation about each axis (degrees).
        scale: std of the log isotropic scaling (clipped at 2 std).
        translate_mm: std of the translation along each axis (mm).
        bias_strength: coefficient range of the bias field polynomial (0 = none).
        gamma_std: std of log(gamma) of the global contrast change (0 = none).
        tissue_contrast_std: std of the GM and WM intensity factors ``a``, ``b`` (0 = none).
        noise_std: Rician noise std relative to the image maximum (0 = none).

    Returns:
        dict: ``"image"`` float32 ``shape``; ``"label"`` uint8 ``shape`` (:data:`BRAIN_LABELS`);
        ``"affine"`` 4x4 (output voxel to MNI mm, for the undeformed grid); ``"spacing"``;
        ``"seed"``; ``"params"`` (the sampled rotation, scaling, translation, gamma).

    Raises:
        ConfigError: bad seed, shape, zoom or strengths.
    """
    check_seed(seed)
    if shape is not None and zoom is not None:
        raise ConfigError("give either shape or zoom to deformed_brain, not both")
    for name, val in (("elastic_mm", elastic_mm), ("rotate_deg", rotate_deg), ("scale", scale),
                      ("translate_mm", translate_mm), ("bias_strength", bias_strength),
                      ("gamma_std", gamma_std), ("tissue_contrast_std", tissue_contrast_std),
                      ("noise_std", noise_std)):
        if not np.isfinite(val) or val < 0:
            raise ConfigError(f"{name} must be a non-negative number, got {val!r}")
    if elastic_scale_mm <= 0:
        raise ConfigError(f"elastic_scale_mm must be positive, got {elastic_scale_mm!r}")

    _, _, _, mni_aff = _mni152_arrays()
    # the source extent (before smoothing) decides the output grid
    lab0 = _source(bool(crop), 0.0)[3]
    src_shape = np.array(lab0.shape)
    if shape is not None:
        try:
            out_shape = tuple(int(v) for v in shape)
        except (TypeError, ValueError):
            raise ConfigError(f"shape must be three integers, got {shape!r}") from None
        if len(out_shape) != 3 or min(out_shape) < 8:
            raise ConfigError(f"shape must be three integers >= 8, got {shape!r}")
    elif zoom is not None:
        if not (0.05 <= float(zoom) <= 2.0):
            raise ConfigError(f"zoom must be in [0.05, 2], got {zoom!r}")
        out_shape = tuple(int(max(8, round(n * float(zoom)))) for n in src_shape)
    else:
        out_shape = tuple(int(n) for n in src_shape)
    step = src_shape / np.array(out_shape)  # source voxels (= mm) per output voxel
    # anti-aliasing for downsampling, in steps of 0.5 voxel so that nearby sizes share the cache
    sigma = round(2.0 * float(max(0.0, 0.4 * (step.max() - 1.0)))) / 2.0
    src_img, src_gm, src_wm, src_lab, lo = _source(bool(crop), sigma)

    rng = np.random.default_rng(int(seed))
    angles = np.deg2rad(rotate_deg * rng.standard_normal(3))
    s = float(np.exp(scale * np.clip(rng.standard_normal(), -2.0, 2.0)))
    t = translate_mm * rng.standard_normal(3)
    gamma = float(np.exp(gamma_std * rng.standard_normal()))
    tissue = tissue_contrast_std * rng.standard_normal(2)  # GM, WM intensity factors - 1
    A = _rotation(angles) * s

    # output grid in source-voxel (= mm) coordinates, relative to the source centre
    centre = (src_shape - 1) / 2.0
    axes = [((np.arange(n) + 0.5) * st - 0.5 - c).astype(np.float32) for n, st, c in zip(out_shape, step, centre)]
    spacing_out = tuple(float(v) for v in step)
    disp = [smooth_field(rng, out_shape, spacing_out, elastic_scale_mm, amplitude=elastic_mm) for _ in range(3)]
    X, Y, Z = axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :]
    coords = np.empty((3,) + out_shape, np.float32)
    for i in range(3):
        coords[i] = A[i, 0] * X + A[i, 1] * Y + A[i, 2] * Z + (t[i] + centre[i]) + disp[i]
    img = ndimage.map_coordinates(src_img, coords, order=1, mode="constant", cval=0.0, prefilter=False)
    for factor, src in zip(tissue, (src_gm, src_wm)):
        if factor != 0.0:
            img += factor * ndimage.map_coordinates(src, coords, order=1, mode="constant", cval=0.0,
                                                    prefilter=False)
    lab = ndimage.map_coordinates(src_lab, coords, order=0, mode="constant", cval=0).astype(np.uint8)

    # contrast, bias field, noise
    img = np.clip(img, 0.0, None) ** gamma
    if bias_strength > 0:
        from monai.transforms import RandBiasField

        bf = RandBiasField(degree=3, coeff_range=(0.0, float(bias_strength)), prob=1.0)
        bf.set_random_state(seed=int(rng.integers(2**31)))
        img = np.asarray(bf(img[None].astype(np.float32)))[0]
    if noise_std > 0:
        sd = noise_std * float(img.max())
        n1 = rng.standard_normal(out_shape, dtype=np.float32) * sd
        n2 = rng.standard_normal(out_shape, dtype=np.float32) * sd
        img = np.sqrt((img + n1) ** 2 + n2 ** 2)

    # affine of the (undeformed) output grid in MNI mm
    aff = np.eye(4)
    aff[:3, :3] = mni_aff[:3, :3] @ np.diag(step)
    first = lo + (0.5 * step - 0.5)  # source index of output voxel 0
    aff[:3, 3] = mni_aff[:3, :3] @ first + mni_aff[:3, 3]
    return {
        "image": img.astype(np.float32),
        "label": lab,
        "affine": aff,
        "spacing": tuple(float(v) * float(np.abs(mni_aff[i, i])) for i, v in enumerate(step)),
        "seed": int(seed),
        "params": {"rotation_deg": np.rad2deg(angles).tolist(), "scale": s, "translation_mm": t.tolist(),
                   "gamma": gamma, "tissue_factors": (1.0 + tissue).tolist(), "elastic_mm": elastic_mm, "bias_strength": bias_strength,
                   "noise_std": noise_std},
    }


def make_brain_cohort(n_cases: int, seed: int = 0, **kw) -> list[dict[str, Any]]:
    """``n_cases`` deformed brains (:func:`deformed_brain`), deterministic for a ``seed``.

    Case ``i`` uses a seed spawned from ``seed`` by :class:`numpy.random.SeedSequence`; each dict
    also holds ``"case_id"``. ``**kw`` goes to :func:`deformed_brain` (e.g. ``shape=(64, 64, 64)``).
    """
    if isinstance(n_cases, bool) or not isinstance(n_cases, (int, np.integer)) or n_cases < 1:
        raise ConfigError(f"n_cases must be a positive integer, got {n_cases!r}")
    check_seed(seed)
    out = []
    for i, child in enumerate(np.random.SeedSequence(int(seed)).spawn(int(n_cases))):
        case = deformed_brain(seed=int(child.generate_state(1)[0] % 2**31), **kw)
        case["case_id"] = i
        out.append(case)
    return out
