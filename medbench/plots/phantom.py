"""Figures of labelled volumes: the CT phantom, the MNI152 brain and their simulated cases.

Display convention: the one of :mod:`medbench.plots.display` (and of the SliceViewer): axial
slices in the radiological view (patient's right on the viewer's left, anterior up), coronal
slices with superior up and the patient's right on the left, all with the physical aspect
ratio from the voxel spacing, labels in the shared palette. Arrays are indexed ``(x, y, z)``
in a RAS-like frame (+x right, +y anterior, +z superior), as medbench's simulators return them.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from medbench.plots import display
from medbench.plots.display import legend_handles, show_slice, slice_view
from medbench.transforms import NORMAL_AXIS


def plot_label_montage(
    image: np.ndarray,
    label: np.ndarray | None = None,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    planes: Sequence[str] = ("axial", "coronal"),
    n_slices: int = 4,
    window: tuple[float, float] | None = None,
    alpha: float = 0.4,
    label_names: Mapping[str, int] | None = None,
    title: str | None = None,
    panel_size: float = 2.6,
    colors: Mapping | None = None,
):
    """Montage of evenly spaced slices per plane, with an optional label overlay and legend.

    Args:
        image: ``(X, Y, Z)`` volume (HU for CT, arbitrary units for MRI).
        label: ``(X, Y, Z)`` integer labels (0 = background, not drawn) or ``None``.
        spacing: voxel size in mm, for the physical aspect ratio.
        planes: rows of the montage, any of ``"axial"``, ``"coronal"``, ``"sagittal"``.
        n_slices: slices per row, evenly spaced through the labelled (or whole) extent.
        window: ``(low, high)`` display range; default: 1st-99th percentile of the image.
        alpha: label overlay opacity.
        label_names: ``{name: id}`` for the legend (only ids present are listed).
        title: figure title.
        panel_size: inches per panel.
        colors: overrides of the shared palette ``{id: colour or None}`` (``None`` hides an
            id), as the SliceViewer's ``colors``; e.g. ``display.PHANTOM_COLORS``.

    Returns:
        The matplotlib figure.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must be 3D (X, Y, Z), got shape {image.shape}")
    if window is None:
        window = tuple(np.percentile(image, [1, 99]))
    lab = None if label is None else np.asarray(label)
    fig, axes = plt.subplots(len(planes), n_slices, figsize=(panel_size * n_slices, panel_size * len(planes)),
                             squeeze=False)
    for r, plane in enumerate(planes):
        ax_i = NORMAL_AXIS[plane]
        n = image.shape[ax_i]
        if lab is not None and (lab > 0).any():
            other = tuple(a for a in range(3) if a != ax_i)
            present = np.flatnonzero((lab > 0).any(axis=other))
            lo, hi = int(present[0]), int(present[-1])
        else:
            lo, hi = 0, n - 1
        idxs = np.linspace(lo + 0.12 * (hi - lo), hi - 0.12 * (hi - lo), n_slices).round().astype(int)
        for c, idx in enumerate(idxs):
            ax = axes[r, c]
            show_slice(ax, image, plane, int(idx), spacing=spacing, label=lab, vmin=window[0], vmax=window[1],
                       alpha=alpha, colors=colors)
            ax.set_title(f"{plane} {idx}", fontsize=8)
            if c == 0 and plane in ("axial", "coronal"):
                ax.text(0.02, 0.5, "R", transform=ax.transAxes, color="yellow", fontsize=8, va="center")
                ax.text(0.98, 0.5, "L", transform=ax.transAxes, color="yellow", fontsize=8, va="center",
                        ha="right")
    if lab is not None and label_names:
        handles = legend_handles(label_names, np.unique(lab).tolist(), colors, with_ids=True)
        if handles:
            fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_phantom(case: Mapping[str, Any], *, planes: Sequence[str] = ("axial", "coronal"), n_slices: int = 4,
                 window: tuple[float, float] = (-1000.0, 400.0), alpha: float = 0.35, title: str | None = None):
    """Montage of a CT phantom case (:func:`medbench.data.phantom.make_ct_phantom`) with labels.

    The default window (-1000, 400) HU shows air, lung, soft tissue and bone at once; see
    :func:`plot_lesions` for close-ups of the lesions. Labels use the shared palette with the
    body and fat hidden (``display.PHANTOM_COLORS``), as ``SliceViewer(case, colors=PHANTOM_COLORS)``.
    """
    from medbench.data.phantom import PHANTOM_LABELS

    fig = plot_label_montage(case["image"], case.get("label"), case["spacing"], planes=planes, n_slices=n_slices,
                             window=window, alpha=alpha, label_names=PHANTOM_LABELS, colors=display.PHANTOM_COLORS,
                             title=title or f"CT phantom (seed {case.get('seed', '?')})")
    return fig


def plot_lesions(case: Mapping[str, Any], *, field_mm: float = 64.0, max_lesions: int = 6,
                 panel_size: float = 2.2):
    """Axial close-ups of each lesion of a phantom case, with its outline and ground truth.

    Lung nodules are shown in a lung window (W 1500 / L -600), liver lesions in a liver window
    (W 200 / L 60); the red contour is the lesion label; the title gives diameter, margin and
    the malignant flag.

    Args:
        case: a dict from :func:`medbench.data.phantom.make_ct_phantom`.
        field_mm: side of the square field of view around each lesion centre.
        max_lesions: at most this many panels.
    """
    from medbench.data.phantom import PHANTOM_LABELS

    lesions = list(case.get("lesions", []))[:max_lesions]
    n = max(len(lesions), 1)
    fig, axes = plt.subplots(1, n, figsize=(panel_size * n, panel_size + 0.4), squeeze=False)
    if not lesions:
        axes[0, 0].text(0.5, 0.5, "no lesions", ha="center", va="center")
        axes[0, 0].axis("off")
        return fig
    img, lab, sp = case["image"], case["label"], case["spacing"]
    for ax, les in zip(axes[0], lesions):
        i, j, k = les["centre_vox"]
        hx, hy = int(round(field_mm / 2 / sp[0])), int(round(field_mm / 2 / sp[1]))
        xs = slice(max(i - hx, 0), min(i + hx + 1, img.shape[0]))
        ys = slice(max(j - hy, 0), min(j + hy + 1, img.shape[1]))
        window = "lung" if les["kind"] == "lung_nodule" else (200.0, 60.0)  # (width, level) HU
        show_slice(ax, img[xs, ys, :], "axial", k, spacing=sp, window=window)
        mask = slice_view(lab[xs, ys, :] == PHANTOM_LABELS["lesion"], "axial", k)
        if mask.any():
            ax.contour(mask.astype(float), levels=[0.5], colors="red", linewidths=0.8)
        kind = "nodule" if les["kind"] == "lung_nodule" else "liver"
        verdict = "malignant" if les["malignant"] else "benign"
        ax.set_title(f"{kind} {les['diameter_mm']:.0f} mm\n{les['margin']}, {verdict}", fontsize=8)
    fig.tight_layout()
    return fig


def plot_brain(case: Mapping[str, Any], *, planes: Sequence[str] = ("axial", "coronal", "sagittal"),
               n_slices: int = 4, alpha: float = 0.35, title: str | None = None):
    """Montage of an MNI152 case (:func:`medbench.data.brain.load_mni152` / ``deformed_brain``)."""
    from medbench.data.brain import BRAIN_LABELS

    return plot_label_montage(case["image"], case.get("label"), case["spacing"], planes=planes,
                              n_slices=n_slices, alpha=alpha, label_names=BRAIN_LABELS, title=title,
                              colors=display.BRAIN_COLORS)


__all__ = ["plot_brain", "plot_label_montage", "plot_lesions", "plot_phantom"]
