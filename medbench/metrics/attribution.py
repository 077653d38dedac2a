"""Scores of attribution maps against a known truth (chapter 07).

- :func:`pointing_game`: does the map's maximum fall inside the lesion? (Zhang et al. 2018)
- :func:`relevance_mass`: the share of positive relevance inside the lesion (Arras et al. 2022,
  "relevance mass accuracy"); its chance level is :func:`mask_area_fraction`.
- :func:`rank_correlation`: Spearman correlation of two maps, per image (the sanity checks of
  Adebayo et al. 2018 compare a trained and a randomised model's maps this way).
- :func:`topk_agreement`: the share of the true top-k factors that a method's top-k recovers.

``quantus`` implements the first two, but it is GPL-3 and pulls opencv (and, through its torch
extras, a CUDA torch): these are a few lines of NumPy, written here instead (DESIGN.md).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage, stats

from medbench.errors import DataError

__all__ = ["pointing_game", "relevance_mass", "mask_area_fraction", "rank_correlation", "topk_agreement"]


def _as_maps(maps, masks) -> tuple[np.ndarray, np.ndarray]:
    """``(N, ...)`` maps and masks of one shape, as ``(N, P)`` float and bool (a channel axis of 1 is dropped)."""
    a = np.asarray(maps, dtype=np.float64)
    m = np.asarray(masks).astype(bool)
    if a.ndim == m.ndim + 1 and a.shape[1] == 1:
        a = a[:, 0]
    if m.ndim == a.ndim + 1 and m.shape[1] == 1:
        m = m[:, 0]
    if a.shape != m.shape or a.ndim < 2:
        raise DataError(f"maps {np.shape(maps)} and masks {np.shape(masks)} must have one shape (N, ...) "
                        "(a channel axis of size 1 is allowed on either)")
    if not m.reshape(len(m), -1).any(1).all():
        raise DataError("every mask must mark at least one pixel: score only the images that contain a lesion")
    return a.reshape(len(a), -1), m.reshape(len(m), -1)


def pointing_game(maps, masks, tolerance: int = 0, reduce: bool = True):
    """Pointing game: the fraction of images whose attribution maximum lies inside the mask.

    Ties (a flat map) count as a hit only if *every* maximal pixel is inside, so a constant map
    does not score by luck.

    Args:
        maps: ``(N, H, W)`` or ``(N, 1, H, W)`` attributions (higher = more relevant).
        masks: boolean masks of the same shape; each marks at least one pixel.
        tolerance: dilate each mask by this many pixels first (Zhang et al. use 15 px on
            224 px images); 0 = strictly inside.
        reduce: return the hit rate (float) instead of the ``(N,)`` hits.

    Returns:
        Hit rate in [0, 1], or the per-image hits.
    """
    a, m = _as_maps(maps, masks)
    if tolerance > 0:
        full = np.asarray(masks).astype(bool)
        if full.ndim > 3 and full.shape[1] == 1:
            full = full[:, 0]
        struct = ndimage.generate_binary_structure(full.ndim - 1, 1)
        m = np.stack([ndimage.binary_dilation(x, struct, iterations=int(tolerance)) for x in full]).reshape(len(m), -1)
    top = a == a.max(axis=1, keepdims=True)
    hits = ~(top & ~m).any(axis=1)
    return float(hits.mean()) if reduce else hits


def relevance_mass(maps, masks, reduce: bool = True):
    r"""Relevance mass inside the mask: $\sum_{p \in M} R_p^+ / \sum_p R_p^+$ per image.

    Only positive relevance counts (evidence *for* the explained class); a map with no positive
    relevance scores 0. A map that ignores the image scores the mask's area fraction on
    average (:func:`mask_area_fraction`), the chance level.

    Args:
        maps: ``(N, H, W)`` or ``(N, 1, H, W)`` attributions.
        masks: boolean masks of the same shape.
        reduce: return the mean (float) instead of the ``(N,)`` values.
    """
    a, m = _as_maps(maps, masks)
    pos = np.clip(a, 0.0, None)
    tot = pos.sum(1)
    inside = np.where(m, pos, 0.0).sum(1)
    frac = np.divide(inside, tot, out=np.zeros_like(tot), where=tot > 0)
    return float(frac.mean()) if reduce else frac


def mask_area_fraction(masks) -> float:
    """Mean fraction of each image's pixels inside its mask: the relevance mass of a uniform map."""
    m = np.asarray(masks).astype(bool)
    return float(m.reshape(len(m), -1).mean(1).mean())


def rank_correlation(maps_a, maps_b, absolute: bool = True, reduce: bool = True):
    """Spearman rank correlation of two sets of maps, image by image.

    Args:
        maps_a, maps_b: ``(N, ...)`` maps of one shape (e.g. a trained and a randomised model's).
        absolute: compare absolute values (Adebayo et al.: the sign of a gradient map is unstable).
        reduce: mean over images (float) instead of the ``(N,)`` values.

    Returns:
        Mean correlation (a constant map counts as 0: it carries no ranking).
    """
    a = np.asarray(maps_a, dtype=np.float64)
    b = np.asarray(maps_b, dtype=np.float64)
    if a.shape != b.shape:
        raise DataError(f"maps_a {a.shape} and maps_b {b.shape} must have one shape")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    rho = np.zeros(len(a))
    for i in range(len(a)):
        if np.ptp(a[i]) > 0 and np.ptp(b[i]) > 0:
            rho[i] = stats.spearmanr(a[i], b[i]).statistic
    return float(rho.mean()) if reduce else rho


def topk_agreement(attributions, truth, k: int = 3, absolute: bool = True, reduce: bool = True):
    """Per-row overlap of the top-``k`` features of ``attributions`` and of ``truth``, in [0, 1].

    Args:
        attributions, truth: ``(N, F)`` per-patient (or per-image) contributions of ``F`` factors.
        k: how many top factors to compare.
        absolute: rank by magnitude (a factor that lowers risk a lot is a top factor too).
        reduce: mean over rows (float) instead of the ``(N,)`` values.
    """
    a = np.asarray(attributions, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    if a.shape != t.shape or a.ndim != 2 or not 1 <= k <= a.shape[1]:
        raise DataError(f"attributions {a.shape} and truth {t.shape} must be (N, F) of one shape with 1 <= k <= F")
    if absolute:
        a, t = np.abs(a), np.abs(t)
    top_a = np.argsort(-a, axis=1, kind="stable")[:, :k]
    top_t = np.argsort(-t, axis=1, kind="stable")[:, :k]
    agree = np.array([len(set(x) & set(y)) / k for x, y in zip(top_a, top_t)])
    return float(agree.mean()) if reduce else agree
