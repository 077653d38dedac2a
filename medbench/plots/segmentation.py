"""Static figures of chapter 03 (3D segmentation): score box plots, overlays, training curves."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from medbench.plots import fig_to_png  # noqa: F401  (re-exported for widgets)
from medbench.plots.display import legend_handles, show_slice


def plot_scores(table, title: str = ""):
    """Box plots of Dice and HD95 per structure (one point per validation case).

    Args:
        table: ``DataFrame`` with columns ``structure``, ``dice``, ``hd95_mm`` (from
            :func:`medbench.segmentation.evaluate`).

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    order = list(dict.fromkeys(table["structure"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, col, label in ((axes[0], "dice", "Dice"), (axes[1], "hd95_mm", "HD95 (mm)")):
        sns.boxplot(data=table, x="structure", y=col, order=order, ax=ax, color="#9ecae1", fliersize=0)
        sns.stripplot(data=table, x="structure", y=col, order=order, ax=ax, color="k", size=3, alpha=0.7)
        ax.set_xlabel("")
        ax.set_ylabel(label)
        ax.tick_params(axis="x", rotation=40)
        for t in ax.get_xticklabels():
            t.set_ha("right")
    axes[0].set_ylim(min(0.5, float(table["dice"].min()) - 0.05), 1.0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_overlays(image, truth, prediction, structures: Sequence[str], n_slices: int = 3,
                  window: tuple[float, float] | None = None, title: str = "",
                  spacing: Sequence[float] = (1.0, 1.0, 1.0), alpha: float = 0.45):
    """Axial slices of one case: truth (top row) and prediction (bottom row) over the image.

    Slices are drawn like the SliceViewer shows them (:mod:`medbench.plots.display`): the
    radiological view of a RAS volume, the physical aspect from ``spacing`` and the shared
    label palette.

    Args:
        image: ``(X, Y, Z)`` (or ``(1, X, Y, Z)``) RAS volume.
        truth, prediction: integer label maps of the same shape.
        structures: names of labels ``1..n`` (legend).
        n_slices: evenly spaced axial slices through the labelled range.
        window: display range ``(vmin, vmax)``; default the 1st-99th percentile.
        spacing: mm per axis (physical aspect).
        alpha: label opacity.

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    img = np.asarray(image, dtype=np.float32).squeeze()
    gt = np.asarray(truth).squeeze()
    pr = np.asarray(prediction).squeeze()
    zs = np.where((gt > 0).any(axis=(0, 1)))[0]
    lo, hi = (zs.min(), zs.max()) if len(zs) else (0, img.shape[2] - 1)
    picks = np.linspace(lo, hi, n_slices + 2)[1:-1].round().astype(int)
    vmin, vmax = window or (float(np.percentile(img, 1)), float(np.percentile(img, 99)))
    fig, axes = plt.subplots(2, n_slices, figsize=(3.0 * n_slices, 6.2), squeeze=False)
    for j, z in enumerate(picks):
        for row, lab in enumerate((gt, pr)):
            show_slice(axes[row, j], img, "axial", int(z), spacing=spacing, label=lab, vmin=vmin, vmax=vmax,
                       alpha=alpha)
        axes[0, j].set_title(f"z = {z}")
    axes[0, 0].set_ylabel("truth")
    axes[1, 0].set_ylabel("prediction")
    handles = legend_handles({i + 1: s for i, s in enumerate(structures)})
    fig.legend(handles=handles, loc="lower center", ncol=min(len(structures), 7), frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_history(history, title: str = ""):
    """Training loss (and validation Dice when recorded) per epoch of a :class:`medbench.training.History`."""
    import matplotlib.pyplot as plt

    df = history.to_frame()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(df.index, df["train_loss"], label="train DiceCE loss", color="C0")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if "val_dice" in df:
        ax2 = ax.twinx()
        ax2.plot(df.index, df["val_dice"], label="val Dice", color="C1")
        ax2.set_ylabel("val Dice")
        ax2.set_ylim(0, 1)
    ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


__all__ = ["plot_history", "plot_overlays", "plot_scores"]
