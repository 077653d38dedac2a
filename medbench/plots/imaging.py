"""Figures for medical images: CT windows, orthogonal planes, orientation and spacing, augmentations.

Display convention: every slice goes through :func:`medbench.plots.display.show_slice`, the
convention the :class:`~medbench.widgets.slice_viewer.SliceViewer` renders with: 3D arrays are
``(X, Y, Z)`` in RAS order and show in the radiological view
(:func:`medbench.transforms.display_view`), with the physical aspect ratio from the voxel
spacing and labels in the shared palette. 2D arrays are ``(X, Y)`` = (columns, rows), as the
DICOM reader returns them (layout ``"xy"``: shown transposed), or axial slices of a RAS
volume (layout ``"ras"``).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from medbench.errors import ConfigError
from medbench.plots.display import show_slice, slice_view, view_2d
from medbench.transforms import (
    CT_WINDOWS,
    NORMAL_AXIS,
    PLANES,
    apply_window,
    get_window,
    to_ras,
    view_spacing,
)

_EDGE_LETTERS = {  # (left, right, top, bottom) screen edges of each radiological view
    "axial": ("R", "L", "A", "P"),
    "coronal": ("R", "L", "S", "I"),
    "sagittal": ("A", "P", "S", "I"),
}


def _letters(ax, plane: str, color: str = "yellow") -> None:
    left, right, top, bottom = _EDGE_LETTERS[plane]
    kw = dict(transform=ax.transAxes, color=color, fontsize=10, fontweight="bold", ha="center", va="center")
    ax.text(0.04, 0.5, left, **kw)
    ax.text(0.96, 0.5, right, **kw)
    ax.text(0.5, 0.95, top, **kw)
    ax.text(0.5, 0.05, bottom, **kw)


def plot_ct_windows(image: np.ndarray, windows: Sequence = ("brain", "soft_tissue", "bone", "lung"),
                    padding_mask: np.ndarray | None = None, title: str | None = None):
    """One CT slice under several windows, and its HU histogram with the windows marked.

    Args:
        image: 2D ``(X, Y)`` CT slice in HU (e.g. ``sample_ct()["image"]``).
        windows: preset names or ``(width, level)`` pairs.
        padding_mask: pixels outside the scanner's field of view, left out of the histogram.

    Returns:
        matplotlib Figure.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"plot_ct_windows takes one 2D slice (X, Y), got shape {image.shape}")
    wins = [get_window(w) for w in windows]
    fig, axes = plt.subplots(1, len(wins) + 1, figsize=(3.0 * (len(wins) + 1), 3.3))
    vals = image[~padding_mask] if padding_mask is not None else image.reshape(-1)
    ax = axes[0]
    ax.hist(vals, bins=200, range=(-1100, 1600), color="0.3", log=True)
    colours = plt.get_cmap("tab10").colors
    for i, w in enumerate(wins):
        ax.axvspan(w.lower, w.upper, color=colours[i], alpha=0.15, label=f"{w.name}")
    ax.set_xlabel("Hounsfield units")
    ax.set_ylabel("pixels (log)")
    ax.legend(fontsize=7, loc="upper right")
    for ax, w, c in zip(axes[1:], wins, colours):
        show_slice(ax, image, window=w, title=f"{w.name}: W{w.width:g} / L{w.level:g}")
        for s in ax.spines.values():
            s.set_color(c)
            s.set_linewidth(2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_planes(volume: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0), label: np.ndarray | None = None,
                *, index: Sequence[int] | None = None, window=None, alpha: float = 0.35,
                colors: Mapping | None = None, title: str | None = None, cmap: str = "gray"):
    """Axial, coronal and sagittal slices through one point, with physical aspect and R/L/A/P/S/I marks.

    Args:
        volume: ``(X, Y, Z)`` RAS volume.
        spacing: mm per axis.
        label: optional label map overlaid (shared palette, :mod:`medbench.plots.display`).
        index: ``(x, y, z)`` voxel the three planes pass through (default: the centre).
        window: CT window (preset or ``(width, level)``) or ``None`` (0.5-99.5 percentiles).
        colors: palette overrides ``{id: colour or None}``, as the SliceViewer's ``colors``.

    Returns:
        matplotlib Figure.
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"plot_planes needs a 3D volume (X, Y, Z), got shape {volume.shape}")
    index = tuple(s // 2 for s in volume.shape) if index is None else tuple(int(i) for i in index)
    vmin = vmax = None
    if window is None:
        vmin, vmax = (float(v) for v in np.percentile(volume[::2, ::2, ::2], [0.5, 99.5]))
    widths = []
    for plane in PLANES:
        r_mm, c_mm = view_spacing(spacing, plane)
        rows, cols = slice_view(volume, plane, 0).shape
        widths.append(cols * c_mm / (rows * r_mm))
    fig, axes = plt.subplots(1, 3, figsize=(3.2 * sum(widths) / max(widths) + 1.0, 3.6),
                             gridspec_kw={"width_ratios": widths})
    for ax, plane in zip(axes, PLANES):
        k = index[NORMAL_AXIS[plane]]
        show_slice(ax, volume, plane, k, spacing=spacing, label=label, window=window, vmin=vmin, vmax=vmax,
                   alpha=alpha, colors=colors, cmap=cmap, title=f"{plane} {k}")
        _letters(ax, plane)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_orientation_spacing(volume: np.ndarray, affine: np.ndarray, label: np.ndarray | None = None,
                             *, window=None, title: str | None = None):
    """Why orientation and spacing matter: the same data shown naively and correctly.

    Top row: one axial slice as the array is stored (``plt.imshow(volume[:, :, k])``, whatever
    the scanner's axis order) next to the radiological display after reorienting to RAS.
    Bottom row: a coronal slice drawn with square pixels (ignoring the spacing) next to the
    same slice with the physical aspect ratio.

    Args:
        volume: ``(X, Y, Z)`` array in its stored order (e.g. LPS from DICOM).
        affine: its 4x4 voxel -> RAS mm matrix.
        label: optional label map (same order) outlined in both rows; the slices shown are
            those with the most labelled voxels (else the middle ones).
        window: CT window or ``None`` (percentiles).

    Returns:
        matplotlib Figure.
    """
    (ras, lab), spacing, codes = to_ras([np.asarray(volume), None if label is None else np.asarray(label)], affine)
    shown = apply_window(volume, window) if window is not None else volume
    shown_ras = apply_window(ras, window) if window is not None else ras
    if window is None:
        vmin, vmax = (float(v) for v in np.percentile(volume[::2, ::2, ::2], [0.5, 99.5]))
    else:
        vmin, vmax = 0.0, 1.0
    if label is not None and np.asarray(label).any():  # the slices with the most labelled voxels
        k = int(np.argmax((np.asarray(label) > 0).sum(axis=(0, 1))))
        kz = int(np.argmax((lab > 0).sum(axis=(0, 1))))
        j = int(np.argmax((lab > 0).sum(axis=(0, 2))))
    else:
        k, kz, j = volume.shape[2] // 2, ras.shape[2] // 2, ras.shape[1] // 2
    fig, axes = plt.subplots(2, 2, figsize=(8.0, 7.5))
    ax = axes[0, 0]
    ax.imshow(shown[:, :, k], cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    if label is not None:
        ax.contour(np.asarray(label)[:, :, k] > 0, levels=[0.5], colors="tab:red", linewidths=0.6)
    ax.set_title(f"stored order ({codes}): imshow(volume[:, :, {k}])", fontsize=9)
    ax.set_xlabel("array axis 1 (Y)")
    ax.set_ylabel("array axis 0 (X)")
    ax = axes[0, 1]
    show_slice(ax, shown_ras, "axial", kz, spacing=spacing, vmin=vmin, vmax=vmax,
               title="reoriented to RAS, radiological view")
    if lab is not None:
        ax.contour(slice_view(lab, "axial", kz) > 0, levels=[0.5], colors="tab:red", linewidths=0.6)
    _letters(ax, "axial")
    r_mm, c_mm = view_spacing(spacing, "coronal")
    show_slice(axes[1, 0], shown_ras, "coronal", j, spacing=(1.0, 1.0, 1.0), vmin=vmin, vmax=vmax,
               title=f"coronal, square pixels (ignores {r_mm:g} x {c_mm:g} mm)")
    show_slice(axes[1, 1], shown_ras, "coronal", j, spacing=spacing, vmin=vmin, vmax=vmax,
               title="coronal, physical aspect from the spacing")
    for ax, aspect in zip(axes[1], (1.0, r_mm / c_mm)):
        _letters(ax, "coronal")
        if lab is not None:
            ax.contour(slice_view(lab, "coronal", j) > 0, levels=[0.5], colors="tab:red", linewidths=0.6)
            ax.set_aspect(aspect)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


_ORIENTATION_LAYOUT = {"RAS": "ras", "stored": "xy"}


def _disp2d(arr: np.ndarray, orientation: str) -> np.ndarray:
    """``(X, Y)`` slice -> display (:func:`~medbench.plots.display.view_2d`): ``"RAS"`` (radiological
    view of a RAS slice) or ``"stored"`` (``.T``, as the DICOM reader's ``(X, Y)``)."""
    if orientation not in _ORIENTATION_LAYOUT:
        raise ConfigError(f"orientation must be 'RAS' or 'stored', got {orientation!r}")
    return view_2d(arr, _ORIENTATION_LAYOUT[orientation])


def _as_2d(x) -> np.ndarray:
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3:  # a 3D crop: its middle axial slice
        arr = arr[:, :, arr.shape[2] // 2]
    return arr


def plot_augmentation_preview(sample: Mapping, steps: Mapping | None = None, n_samples: int = 4, seed: int = 0,
                              image_key: str = "image", label_key: str = "label", orientation: str = "RAS"):
    """Each augmentation alone, applied to the same 2D sample ``n_samples`` times (one row each).

    Args:
        sample: dict with channel-first ``(1, X, Y)`` image (already normalised, e.g. a CT
            window to [0, 1]) and label, e.g. from
            :func:`medbench.transforms.case_to_metatensors`.
        steps: ``{name: transform}``; default
            ``medbench.transforms.augmentation_steps(dim=2, prob=1.0)``.
        n_samples: random draws per augmentation (columns after the original).
        seed: seeds each transform, so the figure is reproducible.
        orientation: ``"RAS"`` (axial slice of a RAS volume, shown radiologically) or
            ``"stored"`` (shown as ``image.T``).

    Returns:
        matplotlib Figure: the original in the first column, the label's outline in red.
    """
    from medbench.transforms import augmentation_steps

    steps = augmentation_steps(dim=2, prob=1.0) if steps is None else steps
    rows = len(steps)
    fig, axes = plt.subplots(rows, n_samples + 1, figsize=(1.7 * (n_samples + 1), 1.7 * rows), squeeze=False)
    base_img = _disp2d(_as_2d(sample[image_key]), orientation)
    base_lab = _disp2d(_as_2d(sample[label_key]), orientation) if label_key in sample else None
    lo, hi = float(base_img.min()), float(base_img.max())
    for r, (name, step) in enumerate(steps.items()):
        if hasattr(step, "set_random_state"):
            step.set_random_state(seed=seed + r)
        for c in range(n_samples + 1):
            ax = axes[r, c]
            if c == 0:
                img, lab = base_img, base_lab
            else:
                out = step(dict(sample))
                img = _disp2d(_as_2d(out[image_key]), orientation)
                lab = _disp2d(_as_2d(out[label_key]), orientation) if label_key in out else None
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            if lab is not None and (lab > 0).any():
                ax.contour(lab > 0, levels=[0.5], colors="tab:red", linewidths=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
            if r == 0:
                ax.set_title("original" if c == 0 else f"draw {c}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_crops(crops: Sequence[Mapping], n: int = 8, image_key: str = "image", label_key: str = "label",
               title: str | None = None, orientation: str = "RAS"):
    """Training crops (e.g. the list a train pipeline returns) with the label outlined.

    3D crops show their middle axial slice. The fraction of foreground voxels is in each title.
    """
    crops = list(crops)[:n]
    fig, axes = plt.subplots(1, len(crops), figsize=(1.8 * len(crops), 2.1), squeeze=False)
    for ax, crop in zip(axes[0], crops):
        img = _disp2d(_as_2d(crop[image_key]), orientation)
        lab = _disp2d(_as_2d(crop[label_key]), orientation)
        ax.imshow(img, cmap="gray", interpolation="nearest")
        if (lab > 0).any():
            ax.contour(lab > 0, levels=[0.5], colors="tab:red", linewidths=0.7)
        full = np.asarray(crop[label_key].detach().cpu() if hasattr(crop[label_key], "detach") else crop[label_key])
        ax.set_title(f"fg {100 * float((full > 0).mean()):.0f} %", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_slices(volume: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0), plane: str = "axial",
                n: int = 10, ncols: int = 5, window=None, title: str | None = None):
    """A montage of ``n`` evenly spaced slices of a RAS volume along ``plane`` (radiological view)."""
    volume = np.asarray(volume)
    axis = NORMAL_AXIS[plane]
    idx = np.unique(np.linspace(0, volume.shape[axis] - 1, min(n, volume.shape[axis])).round().astype(int))
    vmin = vmax = None
    if window is None:
        vmin, vmax = (float(v) for v in np.percentile(volume, [0.5, 99.5]))
    nrows = int(np.ceil(len(idx) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.0 * ncols, 2.0 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, k in zip(axes.flat, idx):
        show_slice(ax, volume, plane, int(k), spacing=spacing, window=window, vmin=vmin, vmax=vmax,
                   title=f"{plane} {k} ({k * float(spacing[axis]):.0f} mm)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_histograms(arrays: Mapping[str, np.ndarray], bins: int = 100, title: str | None = None):
    """One intensity histogram per named array (e.g. raw MRI, z-scored, percentile-scaled)."""
    fig, axes = plt.subplots(1, len(arrays), figsize=(3.2 * len(arrays), 2.6), squeeze=False)
    for ax, (name, arr) in zip(axes[0], arrays.items()):
        a = np.asarray(arr.detach().cpu() if hasattr(arr, "detach") else arr).reshape(-1)
        ax.hist(a, bins=bins, color="0.3")
        ax.set_title(f"{name}\nmean {a.mean():.3g}, sd {a.std():.3g}", fontsize=9)
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def window_table():
    """The CT window presets as a pandas DataFrame (name, width, level, lower, upper in HU)."""
    import pandas as pd

    return pd.DataFrame([{"window": w.name, "width (HU)": w.width, "level (HU)": w.level,
                          "lowest shown": w.lower, "highest shown": w.upper} for w in CT_WINDOWS.values()]
                        ).set_index("window")


__all__ = ["plot_augmentation_preview", "plot_crops", "plot_ct_windows", "plot_histograms", "plot_orientation_spacing",
           "plot_planes", "plot_slices", "window_table"]
