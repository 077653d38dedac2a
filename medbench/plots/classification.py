"""Figures for classifiers: confusion matrix, ROC and PR curves, calibration, learning curves,
image grids (e.g. the most confident mistakes).

Every function returns a matplotlib ``Figure`` (pass ``ax=`` to draw into an existing axes
where offered); :func:`medbench.plots.fig_to_png` turns one into PNG bytes for a widget.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

import medbench.plots  # noqa: F401  (selects a non-interactive backend outside notebooks)


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_confusion_matrix(y_true, y_pred, class_names: Sequence[str] | None = None, normalize: bool = False,
                          ax=None, title: str = "Confusion matrix"):
    """Counts (and row percentages) of true vs predicted classes.

    Args:
        y_true, y_pred: ``(N,)`` class indices.
        class_names: tick labels (default ``0..K-1``).
        normalize: colour by row fraction (recall per class) instead of count.
    """
    import seaborn as sns
    from sklearn.metrics import confusion_matrix

    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    k = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    if class_names is not None:
        k = max(k, len(class_names))
    cm = confusion_matrix(y_true, y_pred, labels=list(range(k)))
    frac = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    annot = np.array([[f"{cm[i, j]}\n{100 * frac[i, j]:.0f}%" for j in range(k)] for i in range(k)])
    fig, ax = _axes(ax, (1.6 + 0.9 * k, 1.3 + 0.8 * k))
    sns.heatmap(frac if normalize else cm, annot=annot, fmt="", cmap="Blues", cbar=False, ax=ax,
                xticklabels=names, yticklabels=names, square=True, linewidths=0.5, linecolor="white")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _binary_curves_input(y_true, y_score):
    y_true = np.asarray(y_true).ravel()
    y_score = np.asarray(y_score, dtype=float)
    if y_score.ndim == 2 and y_score.shape[1] == 2:
        y_score = y_score[:, 1]
    return y_true, y_score


def plot_roc(y_true, y_score, ax=None, label: str | None = None, ci: tuple[float, float] | None = None,
             class_names: Sequence[str] | None = None, title: str = "ROC curve"):
    """ROC curve(s): binary ``y_score`` ``(N,)`` draws one; ``(N, C)`` with C > 2 draws one-vs-rest per class.

    Args:
        ci: ``(low, high)`` of the AUROC to print in the legend.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = _axes(ax, (4.4, 4.2))
    score = np.asarray(y_score, dtype=float)
    if score.ndim == 2 and score.shape[1] > 2:
        y = np.asarray(y_true).ravel()
        for c in range(score.shape[1]):
            if (y == c).any() and (y != c).any():
                fpr, tpr, _ = roc_curve(y == c, score[:, c])
                name = class_names[c] if class_names else str(c)
                ax.plot(fpr, tpr, lw=1.5, label=f"{name} (AUC {roc_auc_score(y == c, score[:, c]):.3f})")
    else:
        y, s = _binary_curves_input(y_true, score)
        fpr, tpr, _ = roc_curve(y, s)
        auc = roc_auc_score(y, s)
        text = f"AUC {auc:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
        ax.plot(fpr, tpr, lw=2, label=f"{label + ': ' if label else ''}{text}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="chance")
    ax.set(xlabel="1 - specificity (false-positive rate)", ylabel="sensitivity (true-positive rate)",
           xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_pr(y_true, y_score, ax=None, label: str | None = None, title: str = "Precision-recall curve"):
    """Precision-recall curve with average precision; the dashed line is the prevalence (a random model)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    y, s = _binary_curves_input(y_true, y_score)
    prec, rec, _ = precision_recall_curve(y, s)
    ap = average_precision_score(y, s)
    fig, ax = _axes(ax, (4.4, 4.2))
    ax.step(rec, prec, where="post", lw=2, label=f"{label + ': ' if label else ''}AP {ap:.3f}")
    ax.axhline(y.mean(), ls="--", c="grey", lw=1, label=f"prevalence {y.mean():.2f}")
    ax.set(xlabel="recall (sensitivity)", ylabel="precision (PPV)", xlim=(-0.01, 1.01), ylim=(0, 1.02), title=title)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_calibration(y_true, y_score, n_bins: int = 10, ax=None, label: str | None = None,
                     title: str = "Calibration (reliability)", strategy: str = "quantile"):
    """Observed frequency vs mean predicted probability per bin (``sklearn.calibration.calibration_curve``),
    with the calibration slope and intercept in the legend and a histogram of the predictions underneath.

    Args:
        y_true: ``(N,)`` labels in {0, 1}.
        y_score: ``(N,)`` probabilities of class 1, or ``(N, 2)`` class probabilities.
        n_bins: number of bins.
        strategy: ``"quantile"`` (default: every bin holds about ``N / n_bins`` cases, so no point
            rests on a handful of cases where predictions are rare) or ``"uniform"`` (equal widths
            on [0, 1]; sparse bins are noisy). Ticks under the curve mark the bin edges.
        ax: draw the reliability curve into this axes (then no histogram).
        label: prefix of the legend entry.

    The slope and intercept come from logistic recalibration
    (:func:`medbench.metrics.calibration_slope_intercept`): slope 1 and intercept 0 are ideal;
    a slope below 1 means predictions too extreme, an intercept above 0 that the model
    under-predicts the event rate (calibration-in-the-large). Both are left out when ``y_true``
    holds one class only.
    """
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss

    from medbench.errors import ConfigError, DataError
    from medbench.metrics import calibration_slope_intercept

    if strategy not in ("quantile", "uniform"):
        raise ConfigError(f"plot_calibration: strategy must be 'quantile' or 'uniform', got {strategy!r}")
    if int(n_bins) < 2:
        raise ConfigError(f"plot_calibration: n_bins must be >= 2, got {n_bins!r}")
    y, s = _binary_curves_input(y_true, y_score)
    frac, mean = calibration_curve(y, s, n_bins=n_bins, strategy=strategy)
    if strategy == "quantile":
        edges = np.unique(np.quantile(s, np.linspace(0, 1, n_bins + 1)))
    else:
        edges = np.linspace(0, 1, n_bins + 1)
    text = f"Brier {brier_score_loss(y, s):.3f}"
    try:
        slope, intercept = calibration_slope_intercept(y, s)
        text += f"\nslope {slope:.2f}, intercept {intercept:+.2f}"
    except DataError:
        pass
    if ax is None:
        fig, (ax, axh) = plt.subplots(2, 1, figsize=(4.4, 5.0), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    else:
        fig, axh = ax.figure, None
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfectly calibrated")
    ax.plot(mean, frac, "o-", lw=2, label=f"{label + ': ' if label else ''}{text}")
    ax.plot(edges, np.zeros_like(edges), "|", c="k", ms=8, label=f"{len(edges) - 1} {strategy} bins (edges)")
    ax.set(ylabel="observed frequency of class 1", xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), title=title)
    ax.legend(loc="upper left", fontsize=8)
    if axh is not None:
        axh.hist(s, bins=20, range=(0, 1), color="C0", alpha=0.7)
        axh.set(xlabel="predicted probability", ylabel="cases")
    else:
        ax.set_xlabel("predicted probability")
    fig.tight_layout()
    return fig


def plot_evaluation(y_true, y_score, threshold: float = 0.5, class_names=None, auroc_ci=None, suptitle=None,
                    calibration_bins: int = 10, calibration_strategy: str = "quantile"):
    """The four standard figures of a binary classifier side by side: confusion matrix, ROC, PR, calibration.

    ``calibration_bins`` and ``calibration_strategy`` go to :func:`plot_calibration` (quantile
    bins by default; its legend gives the calibration slope and intercept).
    """
    import matplotlib.pyplot as plt

    y, s = _binary_curves_input(y_true, y_score)
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    plot_confusion_matrix(y, (s >= threshold).astype(int), class_names=class_names, ax=axes[0],
                          title=f"Confusion matrix (threshold {threshold:g})")
    plot_roc(y, s, ax=axes[1], ci=auroc_ci)
    plot_pr(y, s, ax=axes[2])
    plot_calibration(y, s, ax=axes[3], n_bins=calibration_bins, strategy=calibration_strategy)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_training_curves(records: Sequence[dict], metrics: Sequence[str] = ("val_auroc",), axes=None,
                         title: str | None = None):
    """Loss (train and validation) and metric curves per epoch from ``History.records``.

    Args:
        records: list of per-epoch dicts (:attr:`medbench.training.History.records`).
        metrics: record keys drawn in the right panel (missing ones are skipped).
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
    else:
        fig = axes[0].figure
    ep = [r["epoch"] for r in records]
    for key, style in (("train_loss", "-"), ("val_loss", "--")):
        vals = [r.get(key) for r in records]
        if any(v is not None for v in vals):
            axes[0].plot(ep, [np.nan if v is None else v for v in vals], style, marker="o", ms=3, label=key)
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    drawn = False
    for key in metrics:
        vals = [r.get(key) for r in records]
        if any(v is not None for v in vals):
            axes[1].plot(ep, [np.nan if v is None else v for v in vals], marker="o", ms=3, label=key)
            drawn = True
    axes[1].set(xlabel="epoch", title="validation metric")
    for a in axes:
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)
        a.grid(alpha=0.3)
    if not drawn:
        axes[1].text(0.5, 0.5, "no metric yet", ha="center", va="center", transform=axes[1].transAxes)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_image_grid(images, titles: Sequence[str] | None = None, ncols: int = 8, cmap: str = "gray",
                    vmin=None, vmax=None, size: float = 1.6, suptitle: str | None = None):
    """A grid of 2D images ``(N, H, W)``, ``(N, 1, H, W)`` or RGB ``(N, 3, H, W)`` with optional titles.

    Images are drawn as stored (first axis = rows), like MedMNIST pictures and the phantom's patches.
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    elif images.ndim == 4 and images.shape[1] == 3:
        images = images.transpose(0, 2, 3, 1)
        images = (images - images.min()) / max(float(np.ptp(images)), 1e-6)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_learning_curves(table, x: str = "n_labelled", y: str = "auroc", hue: str = "init", ax=None,
                         title: str = "Learning curves"):
    """Metric vs training-set size per strategy (e.g. pretrained vs from scratch), mean ± sd over repeats.

    Args:
        table: ``pandas.DataFrame`` with columns ``x``, ``y``, ``hue`` (one row per run).
    """
    fig, ax = _axes(ax, (5, 3.6))
    for name, g in table.groupby(hue):
        stats = g.groupby(x)[y].agg(["mean", "std"]).fillna(0.0)
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", capsize=3, label=str(name))
    ax.set(xscale="log", xlabel=x.replace("_", " "), ylabel=y, title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
