"""Figures of chapter 06: the census fan chart and admission-policy maps."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_fan_chart", "plot_policies", "plot_policy_year"]


def plot_fan_chart(dates, history, result, origin_index: int = -1, history_days: int = 42, ax=None):
    """History, realised census and one method's forecast with its 80% and 95% intervals.

    Args:
        dates: ``DatetimeIndex`` of the whole series; history: ``(T,)`` census.
        result: a :class:`~medbench.tasks.forecasting.RollingResult` (``origins``, ``mean``, ``q``, ``method``).
        origin_index: which origin to draw.
        history_days: days of history before the origin.
    """
    ax = ax or plt.subplots(figsize=(8, 3.2))[1]
    o = int(result.origins[origin_index])
    H = result.mean.shape[1]
    past = slice(max(0, o - history_days), o + 1)
    ahead = dates[o + 1:o + H + 1]
    ax.plot(dates[past], history[past], color="0.3", lw=1.2, label="census (observed)")
    ax.plot(ahead, history[o + 1:o + H + 1], "o", color="k", ms=3, label="census (realised)")
    for lo, hi, alpha in ((0.025, 0.975, 0.18), (0.1, 0.9, 0.35)):
        if lo in result.q:
            ax.fill_between(ahead, result.q[lo][origin_index], result.q[hi][origin_index], alpha=alpha,
                            color="C0", lw=0, label=f"{int(round((hi - lo) * 100))}% interval")
    ax.plot(ahead, result.mean[origin_index], color="C0", lw=1.5, label=f"{result.method} forecast")
    ax.axvline(dates[o], color="0.6", ls="--", lw=0.8)
    ax.set_ylabel("patients at midnight")
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    return ax


def plot_policies(policies: dict, capacity: int, axes=None):
    """Admissions chosen in each (census, waiting list) state, one panel per policy."""
    n = len(policies)
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(3.2 * n, 3), sharey=True, squeeze=False)
        axes = axes[0]
    vmax = max(int(np.max(p)) for p in policies.values())
    for ax, (name, p) in zip(axes, policies.items()):
        im = ax.imshow(np.asarray(p), origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=vmax)
        ax.axhline(capacity - 0.5, color="w", ls="--", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("waiting list")
    axes[0].set_ylabel("census (morning)")
    plt.colorbar(im, ax=list(axes), label="electives admitted")
    return axes


def plot_policy_year(years: dict, capacity: int, ax=None):
    """Morning census through one simulated year under each policy (same random numbers), with capacity.

    Args:
        years: ``{name: DataFrame}`` from :func:`medbench.tasks.operations.simulate_year` (``census``, ``cost``).
        capacity: the ward's beds (dashed line).
    """
    ax = ax or plt.subplots(figsize=(8, 3))[1]
    for name, df in years.items():
        ax.plot(np.arange(len(df)), df["census"].to_numpy(), lw=0.8,
                label=f"{name} (mean cost {df['cost'].mean():.2f}/day)")
    ax.axhline(capacity, color="r", ls="--", lw=0.8, label="capacity")
    ax.set_xlabel("day of the simulated year")
    ax.set_ylabel("census (morning)")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    return ax
