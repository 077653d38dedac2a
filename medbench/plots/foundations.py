"""Figures for chapter 00: activations, loss stability, optimizer trajectories."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from medbench.teaching.activations import ACTIVATIONS, get_activation
from medbench.teaching.surfaces import get_surface

OPTIMIZER_COLOURS = {"sgd": "tab:blue", "momentum": "tab:orange", "adam": "tab:green"}
OPTIMIZER_LABELS = {"sgd": "gradient descent", "momentum": "GD + momentum", "adam": "Adam"}
"""How figures name the optimizers: "sgd" on a full batch is plain gradient descent."""


def plot_activations(names: Sequence[str] | None = None, lim: float = 4.0):
    """One panel per activation: f(x) (solid) and f'(x) (dashed) on [-lim, lim]."""
    names = list(names or ACTIVATIONS)
    x = torch.linspace(-lim, lim, 401, dtype=torch.float64)
    cols = min(4, len(names))
    rows = int(np.ceil(len(names) / cols))
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        act = get_activation(name)
        ax.plot(x, act.f(x), label="f(x)", lw=2)
        ax.plot(x, act.df(x), "--", label="f'(x)", lw=1.5)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(name)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_trajectories(surface: str, paths: dict[str, np.ndarray], ax=None, title: str | None = None):
    """Contours of ``surface`` (log-spaced levels) with each optimizer's path drawn on top.

    Args:
        surface: a name from :data:`medbench.teaching.surfaces.SURFACES`.
        paths: optimizer name -> ``(T, 2)`` positions.
    """
    s = get_surface(surface)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4.5))
    else:
        fig = ax.figure
    xs = np.linspace(*s.xlim, 300)
    ys = np.linspace(*s.ylim, 300)
    X, Y = np.meshgrid(xs, ys)
    Z = s.f(X, Y)
    Zs = Z - Z.min() + 1e-3
    levels = np.geomspace(Zs.min(), Zs.max(), 25)
    ax.contour(X, Y, Zs, levels=levels, cmap="Greys", linewidths=0.6)
    for name, path in paths.items():
        colour = OPTIMIZER_COLOURS.get(name.split()[0])
        label = OPTIMIZER_LABELS.get(name, name)
        ax.plot(path[:, 0], path[:, 1], ".-", ms=2.5, lw=1.2, color=colour, label=f"{label} ({len(path) - 1} steps)")
    ax.plot(*s.start, "ko", ms=5)
    ax.plot(*s.minimum, "r*", ms=12, label="minimum")
    ax.set_xlim(s.xlim)
    ax.set_ylim(s.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or s.note, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_loss_curves(curves: dict[str, Sequence[float]], ylabel: str = "loss", logy: bool = True):
    """Loss per step for several runs on one axis."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, ys in curves.items():
        ax.plot(np.arange(1, len(ys) + 1), ys, label=name, color=OPTIMIZER_COLOURS.get(name.split()[0]))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_trajectory_grid(paths_by_surface: dict[str, dict[str, np.ndarray]]):
    """One :func:`plot_trajectories` panel per surface, side by side."""
    n = len(paths_by_surface)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.3), squeeze=False)
    for ax, (surface, paths) in zip(axes.flat, paths_by_surface.items()):
        plot_trajectories(surface, paths, ax=ax, title=surface)
    fig.tight_layout()
    return fig


def plot_step_ratios(ratios: dict[str, Sequence[float]], title: str | None = None):
    """Step size / learning rate against step t (log-log), one line per update rule.

    Args:
        ratios: label -> ``(T,)`` ratios for t = 1..T (e.g. from
            :func:`medbench.teaching.survey.step_ratios`).
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for label, r in ratios.items():
        r = np.asarray(r, dtype=float)
        ax.plot(np.arange(1, len(r) + 1), r, label=label, lw=1.8)
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step t")
    ax.set_ylabel("|step| / learning rate")
    ax.set_title(title or "Effective step size under a constant gradient", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig
