"""Chapter 08 figures: privacy-utility trade-off, membership-inference ROC curves, equivalence classes."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _eps_positions(eps) -> tuple[np.ndarray, list[str]]:
    eps = [float(e) for e in eps]
    finite = [e for e in eps if not math.isinf(e)]
    top = max(finite) * 2.5 if finite else 1.0
    return np.array([top if math.isinf(e) else e for e in eps]), ["∞" if math.isinf(e) else f"{e:g}" for e in eps]


def plot_dp_tradeoff(table: pd.DataFrame, bayes_auroc: float, baseline_auroc: float):
    """Left: test AUROC (95% CI) against epsilon, with the Bayes-optimal and logistic-regression lines.
    Right: attack AUC (loss threshold, LiRA) against epsilon, with chance (0.5). Returns the figure."""
    import matplotlib.pyplot as plt

    x, labels = _eps_positions(table["epsilon"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.errorbar(x, table["auroc"], yerr=[table["auroc"] - table["auroc_lo"], table["auroc_hi"] - table["auroc"]],
               marker="o", capsize=3, label="MLP (mean of models)")
    a.axhline(bayes_auroc, color="k", ls="--", lw=1, label=f"Bayes-optimal {bayes_auroc:.3f}")
    a.axhline(baseline_auroc, color="tab:green", ls=":", lw=1.5, label=f"logistic regression {baseline_auroc:.3f}")
    a.axhline(0.5, color="grey", lw=0.8)
    a.set(xscale="log", xlabel="ε (δ = 1e-5)", ylabel="test AUROC", title="utility")
    b.plot(x, table["mia_loss_auc"], "o-", label="loss threshold (Yeom 2018)")
    b.plot(x, table["mia_lira_auc"], "s-", label="LiRA (Carlini 2022)")
    b.axhline(0.5, color="grey", lw=0.8, label="chance")
    b.set(xscale="log", xlabel="ε (δ = 1e-5)", ylabel="attack AUC", title="membership leakage")
    for ax in (a, b):
        ax.set_xticks(x)
        ax.set_xticklabels(labels)
        ax.minorticks_off()
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_attack_roc(is_member, scores: dict, attack: str = "lira"):
    """ROC curves of one attack for every epsilon on log-log axes (the low-FPR corner is what matters)."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for key, s in scores.items():
        f, t, _ = roc_curve(is_member, s[attack])
        ax.plot(np.maximum(f, 1e-4), np.maximum(t, 1e-4), label=f"ε = {'∞' if key == 'inf' else key}")
    grid = np.logspace(-4, 0, 50)
    ax.plot(grid, grid, color="grey", lw=0.8, ls="--", label="chance")
    ax.axvline(0.01, color="k", lw=0.6, ls=":")
    ax.set(xscale="log", yscale="log", xlim=(1e-3, 1), ylim=(1e-3, 1), xlabel="false-positive rate",
           ylabel="true-positive rate", title=f"{'LiRA' if attack == 'lira' else 'loss-threshold'} attack")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_class_sizes(before: pd.Series, after: pd.Series, k: int = 5):
    """Histogram of records by the size of their equivalence class, before and after generalisation."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    top = int(max(before.max(), after.max()))
    bins = np.unique(np.r_[np.geomspace(1, max(top, 2), 25).astype(int), top + 1])
    ax.hist([before, after], bins=bins, label=["raw quasi-identifiers", "generalised"], color=["tab:red", "tab:blue"])
    ax.axvline(k, color="k", ls="--", lw=1, label=f"k = {k}")
    ax.set(xscale="log", xlabel="size of the record's equivalence class", ylabel="records")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
