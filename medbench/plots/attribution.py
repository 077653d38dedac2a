"""Figures of chapter 07: attribution overlays on CT patches and per-factor bars for EHR patients.

Patches are drawn with :func:`medbench.plots.display.show_slice` (radiological view, physical
aspect, the shared palette for the lesion mask); the attribution is laid over it in the same
orientation (:func:`medbench.plots.display.slice_view`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["overlay", "overlay_grid", "factor_bars", "importance_bars"]


def overlay(ax, image, attribution, mask=None, *, vmin: float = -1000.0, vmax: float = 400.0, alpha: float = 0.5,
            title: str | None = None, cmap: str = "inferno"):
    """One patch with its attribution (positive part, scaled to its maximum) and the lesion outline.

    Args:
        ax: matplotlib axis.
        image: ``(H, W)`` or ``(1, H, W)`` HU.
        attribution: map of the same shape (channels summed if any).
        mask: optional ``(H, W)`` bool lesion mask, drawn with the shared palette (label 1).
        vmin, vmax: display range (HU).
        alpha: opacity of the attribution.
        title: axis title.
    """
    from medbench.plots.display import show_slice, slice_view

    img = np.asarray(image, dtype=np.float32)
    img = img[0] if img.ndim == 3 else img
    a = np.asarray(attribution, dtype=np.float32)
    a = a.sum(0) if a.ndim == 3 else a
    a = np.clip(a, 0.0, None)
    a = a / a.max() if a.max() > 0 else a
    label = None if mask is None else np.asarray(mask, np.uint8)
    show_slice(ax, img, vmin=vmin, vmax=vmax, label=label, alpha=0.25, title=title)
    view = slice_view(a, layout="xy")
    ax.imshow(np.ma.masked_less(view, 0.05), cmap=cmap, vmin=0.0, vmax=1.0, alpha=alpha, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def overlay_grid(images, maps: Mapping[str, np.ndarray], masks=None, *, n: int = 4, row_titles=None, **kw):
    """A grid: one row per image, the image first, then one column per method.

    Args:
        images: ``(N, 1, H, W)`` HU.
        maps: ``{method: (N, C, H, W)}``.
        masks: optional ``(N, H, W)`` lesion masks.
        n: images shown.
        row_titles: optional label per image (e.g. the model's probability).
        **kw: passed to :func:`overlay`.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    from medbench.plots.display import show_slice

    n = min(n, len(images))
    names = list(maps)
    fig, axes = plt.subplots(n, len(names) + 1, figsize=(1.6 * (len(names) + 1), 1.7 * n), squeeze=False)
    for i in range(n):
        m = None if masks is None else masks[i]
        show_slice(axes[i, 0], np.asarray(images[i])[0], vmin=kw.get("vmin", -1000.0), vmax=kw.get("vmax", 400.0),
                   label=None if m is None else np.asarray(m, np.uint8), alpha=0.25,
                   title="patch" if i == 0 else None)
        axes[i, 0].set_xticks([])
        axes[i, 0].set_yticks([])
        if row_titles is not None:
            axes[i, 0].set_ylabel(str(row_titles[i]), fontsize=8)
        for j, name in enumerate(names):
            overlay(axes[i, j + 1], images[i], maps[name][i], m, title=name if i == 0 else None, **kw)
    for ax in axes[0]:
        ax.title.set_fontsize(8)
    fig.tight_layout()
    return fig


def factor_bars(truth: Mapping[str, float], attribution: Mapping[str, float] | None = None, *,
                probability: float | None = None, method: str = "method", ax=None):
    """One patient's per-factor log-odds contributions: the truth beside a method's (horizontal bars).

    Args:
        truth: ``{factor: true contribution}``.
        attribution: ``{factor: attribution}`` of the method (same factors), or ``None``.
        probability: the model's predicted risk, shown in the title.
        method: the method's name for the legend.
        ax: axis to draw on (default: a new figure).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    from medbench.plots.display import PALETTE

    names = list(truth)
    order = np.argsort(np.abs([truth[k] for k in names]))
    names = [names[i] for i in order]
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.0, 0.28 * len(names) + 1.2))
    else:
        fig = ax.figure
    y = np.arange(len(names))
    col = [tuple(c / 255 for c in PALETTE[k % len(PALETTE)]) for k in (1, 2)]
    h = 0.4 if attribution is not None else 0.7
    ax.barh(y + (h / 2 if attribution is not None else 0), [truth[k] for k in names], height=h, color=col[0],
            label="truth (simulator)")
    if attribution is not None:
        ax.barh(y - h / 2, [attribution[k] for k in names], height=h, color=col[1], label=method)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(y, names)
    ax.set_xlabel("contribution to the log-odds (vs the cohort mean)")
    ax.legend(fontsize=8, loc="lower right")
    if probability is not None:
        ax.set_title(f"predicted risk {probability:.1%}", fontsize=9)
    fig.tight_layout()
    return fig


def importance_bars(importance, methods: Sequence[str] | None = None):
    """Global importance per factor: each method (scaled to its maximum) beside the truth.

    Args:
        importance: ``pandas.DataFrame`` ``(factors, methods + ["truth"])`` (``EHRExplanations.importance``).
        methods: columns to show (default all).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    from medbench.plots.display import PALETTE

    cols = list(importance.columns if methods is None else list(methods) + ["truth"])
    imp = importance[cols].clip(lower=0)
    imp = imp / imp.max().replace(0, 1)
    imp = imp.sort_values("truth")
    fig, ax = plt.subplots(figsize=(6.0, 0.3 * len(imp) + 1.2))
    h = 0.8 / len(cols)
    y = np.arange(len(imp))
    for j, c in enumerate(cols):
        rgb = tuple(v / 255 for v in PALETTE[(j + 1) % len(PALETTE)])
        ax.barh(y + (j - (len(cols) - 1) / 2) * h, imp[c], height=h, color="0.2" if c == "truth" else rgb, label=c)
    ax.set_yticks(y, imp.index)
    ax.set_xlabel("global importance (scaled to each method's largest)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
