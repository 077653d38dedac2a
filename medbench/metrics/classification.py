"""Classification metrics with bootstrap 95% confidence intervals.

Point estimates come from scikit-learn; :func:`bootstrap_ci` resamples cases with
replacement and reports percentile intervals. Three task types:

- ``"binary"``: ``y_true`` ``(N,)`` in {0, 1}; ``y_score`` ``(N,)`` probability of class 1
  (or ``(N, 2)`` probabilities, whose second column is used).
- ``"multiclass"``: ``y_true`` ``(N,)`` in {0..C-1}; ``y_score`` ``(N, C)`` probabilities
  (rows sum to 1). Precision/recall/F1/specificity/AUROC/AUPRC are macro averages over
  classes (one-vs-rest); Brier is the mean over cases of the squared distance between the
  probability vector and the one-hot truth, summed over classes (Brier's original
  definition, range [0, 2]).
- ``"multilabel"``: ``y_true`` ``(N, L)`` in {0, 1}; ``y_score`` ``(N, L)`` per-label
  probabilities; every score is the macro average over labels (accuracy: per-label
  accuracy averaged, not subset accuracy).

:func:`metric_table` returns a table with one row per metric: ``estimate``, ``ci_low``,
``ci_high``. :func:`torch_metric` gives ``fn(outputs, targets)`` callables for
:func:`medbench.training.fit` that turn logits into probabilities first.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from medbench.errors import ConfigError, DataError

__all__ = [
    "METRICS",
    "TASKS",
    "accuracy",
    "precision",
    "sensitivity",
    "recall",
    "specificity",
    "f1",
    "auroc",
    "mean_auroc",
    "auprc",
    "brier",
    "bootstrap_ci",
    "paired_bootstrap_diff",
    "metric_table",
    "infer_task",
    "torch_metric",
    "probabilities_from_logits",
]

TASKS = ("binary", "multiclass", "multilabel")


# ------------------------------------------------------------------ input handling
def _as_arrays(y_true, y_score, task):
    y_true = _np(y_true)
    y_score = _np(y_score).astype(np.float64)
    if task not in TASKS:
        raise ConfigError(f"task {task!r} is unknown; use one of {', '.join(TASKS)}")
    if len(y_true) != len(y_score):
        raise DataError(f"y_true has {len(y_true)} cases but y_score has {len(y_score)}")
    if len(y_true) == 0:
        raise DataError("no cases to score (empty y_true)")
    if not np.all(np.isfinite(y_score)):
        raise DataError("y_score holds NaN or inf; check the model outputs")
    if task == "binary":
        if y_score.ndim == 2 and y_score.shape[1] == 2:
            y_score = y_score[:, 1]
        y_score = y_score.reshape(len(y_score))
        y_true = y_true.reshape(len(y_true)).astype(np.int64)
        if not np.isin(y_true, (0, 1)).all():
            raise DataError("binary task: y_true must hold only 0 and 1")
    elif task == "multiclass":
        y_true = y_true.reshape(len(y_true)).astype(np.int64)
        if y_score.ndim != 2:
            raise DataError(f"multiclass task: y_score must be (N, C) probabilities, got shape {y_score.shape}")
        if y_true.min() < 0 or y_true.max() >= y_score.shape[1]:
            raise DataError(f"multiclass task: labels must lie in 0..{y_score.shape[1] - 1}")
    else:
        if y_true.shape != y_score.shape or y_true.ndim != 2:
            raise DataError(f"multilabel task: y_true and y_score must both be (N, L), got {y_true.shape} "
                            f"and {y_score.shape}")
        y_true = y_true.astype(np.int64)
    return y_true, y_score


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().float().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def infer_task(y_true, y_score) -> str:
    """Guess the task type from shapes: ``(N,)`` scores -> binary, ``(N, C)`` with integer labels
    -> multiclass (binary if C == 2), ``(N, L)`` labels -> multilabel."""
    y_true, y_score = _np(y_true), _np(y_score)
    if y_true.ndim == 2 and y_true.shape[1] > 1:
        return "multilabel"
    if y_score.ndim == 1 or (y_score.ndim == 2 and y_score.shape[1] in (1, 2)):
        return "binary"
    return "multiclass"


def _predict(y_score, task, threshold):
    if task == "multiclass":
        return y_score.argmax(1)
    return (y_score >= threshold).astype(np.int64)


def _onehot(y, c):
    out = np.zeros((len(y), c), dtype=np.int64)
    out[np.arange(len(y)), y] = 1
    return out


# ------------------------------------------------------------------ metrics (sklearn point estimates)
def accuracy(y_true, y_score, task="binary", threshold=0.5) -> float:
    """Fraction correct (multilabel: mean per-label accuracy)."""
    from sklearn.metrics import accuracy_score

    y_true, y_score = _as_arrays(y_true, y_score, task)
    pred = _predict(y_score, task, threshold)
    if task == "multilabel":
        return float(np.mean([accuracy_score(y_true[:, j], pred[:, j]) for j in range(y_true.shape[1])]))
    return float(accuracy_score(y_true, pred))


def _thresholded(sklearn_score, y_true, y_score, task, threshold) -> float:
    """A scikit-learn score of thresholded predictions: binary, else macro over classes/labels."""
    y_true, y_score = _as_arrays(y_true, y_score, task)
    avg = "binary" if task == "binary" else "macro"
    return float(sklearn_score(y_true, _predict(y_score, task, threshold), average=avg, zero_division=0))


def precision(y_true, y_score, task="binary", threshold=0.5) -> float:
    """Positive predictive value (macro over classes/labels for multiclass/multilabel)."""
    from sklearn.metrics import precision_score

    return _thresholded(precision_score, y_true, y_score, task, threshold)


def sensitivity(y_true, y_score, task="binary", threshold=0.5) -> float:
    """Recall / sensitivity / true-positive rate (macro for multiclass/multilabel)."""
    from sklearn.metrics import recall_score

    return _thresholded(recall_score, y_true, y_score, task, threshold)


recall = sensitivity


def specificity(y_true, y_score, task="binary", threshold=0.5) -> float:
    """True-negative rate TN / (TN + FP) (macro one-vs-rest for multiclass/multilabel)."""
    from sklearn.metrics import multilabel_confusion_matrix, recall_score

    y_true, y_score = _as_arrays(y_true, y_score, task)
    pred = _predict(y_score, task, threshold)
    if task == "binary":
        return float(recall_score(y_true, pred, pos_label=0, zero_division=0))
    labels = list(range(y_score.shape[1])) if task == "multiclass" else None
    mcm = multilabel_confusion_matrix(y_true, pred, labels=labels)
    tn, fp = mcm[:, 0, 0], mcm[:, 0, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        spec = np.where(tn + fp > 0, tn / np.maximum(tn + fp, 1), 0.0)
    return float(spec.mean())


def f1(y_true, y_score, task="binary", threshold=0.5) -> float:
    """Harmonic mean of precision and recall (macro for multiclass/multilabel)."""
    from sklearn.metrics import f1_score

    return _thresholded(f1_score, y_true, y_score, task, threshold)


def auroc(y_true, y_score, task="binary", threshold=0.5) -> float:
    """Area under the ROC curve (macro one-vs-rest for multiclass/multilabel). NaN if undefined."""
    from sklearn.metrics import roc_auc_score

    y_true, y_score = _as_arrays(y_true, y_score, task)
    try:
        if task == "binary":
            return float(roc_auc_score(y_true, y_score)) if 0 < y_true.sum() < len(y_true) else float("nan")
        if task == "multiclass":
            present = np.unique(y_true)
            if len(present) < 2:
                return float("nan")
            # classes absent from this sample have no one-vs-rest curve: average the others
            yt = _onehot(y_true, y_score.shape[1])[:, present]
            return float(roc_auc_score(yt, y_score[:, present], average="macro"))
        keep = (y_true.min(0) != y_true.max(0))
        if not keep.any():
            return float("nan")
        return float(roc_auc_score(y_true[:, keep], y_score[:, keep], average="macro"))
    except ValueError:
        return float("nan")


def mean_auroc(y_true, scores) -> float:
    """Mean binary AUROC over the columns of ``scores (N, M)``: one column per model or seed.

    The score of a *training recipe* rather than of one run (each run is a noisy draw of it);
    rows are patients, so it works with :func:`bootstrap_ci` and :func:`paired_bootstrap_diff`.
    """
    s = _np(scores)
    if s.ndim != 2:
        raise DataError(f"mean_auroc needs scores of shape (N, M), one column per model; got {s.shape}")
    return float(np.mean([auroc(y_true, s[:, j]) for j in range(s.shape[1])]))


def auprc(y_true, y_score, task="binary", threshold=0.5) -> float:
    """Area under the precision-recall curve (average precision; macro for multiclass/multilabel)."""
    from sklearn.metrics import average_precision_score

    y_true, y_score = _as_arrays(y_true, y_score, task)
    if task == "binary":
        return float(average_precision_score(y_true, y_score)) if y_true.any() else float("nan")
    yt = _onehot(y_true, y_score.shape[1]) if task == "multiclass" else y_true
    keep = yt.any(0)
    if not keep.any():
        return float("nan")
    return float(average_precision_score(yt[:, keep], y_score[:, keep], average="macro"))


def brier(y_true, y_score, task="binary", threshold=0.5) -> float:
    """Brier score: mean squared error of the probabilities (lower is better).

    Binary: ``sklearn.metrics.brier_score_loss``. Multiclass: squared distance to the one-hot
    truth summed over classes (range [0, 2]). Multilabel: mean of per-label binary Brier scores.
    """
    from sklearn.metrics import brier_score_loss

    y_true, y_score = _as_arrays(y_true, y_score, task)
    if task == "binary":
        return float(brier_score_loss(y_true, y_score, pos_label=1))
    if task == "multiclass":
        return float(np.mean(np.sum((y_score - _onehot(y_true, y_score.shape[1])) ** 2, axis=1)))
    return float(np.mean([brier_score_loss(y_true[:, j], y_score[:, j], pos_label=1)
                          for j in range(y_true.shape[1])]))


METRICS: dict[str, Callable] = {
    "accuracy": accuracy,
    "precision": precision,
    "sensitivity": sensitivity,
    "specificity": specificity,
    "f1": f1,
    "auroc": auroc,
    "auprc": auprc,
    "brier": brier,
}


# ------------------------------------------------------------------ bootstrap
def _resamples(n: int, n_boot: int, seed: int, groups=None):
    """``n_boot`` bootstrap index arrays over ``n`` cases (whole clusters when ``groups`` is given)."""
    rng = np.random.default_rng(seed)
    if groups is None:
        for _ in range(int(n_boot)):
            yield rng.integers(0, n, n)
        return
    groups = _np(groups)
    if len(groups) != n:
        raise DataError(f"groups has {len(groups)} entries but there are {n} cases")
    _, inv = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(inv.max() + 1)]
    for _ in range(int(n_boot)):
        yield np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])


def _interval(values, ci: float) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 10:
        return float("nan"), float("nan")
    a = (1 - ci) / 2
    lo, hi = np.quantile(values, [a, 1 - a])
    return float(lo), float(hi)


def bootstrap_ci(metric: Callable, y_true, y_score, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0,
                 groups=None, **kw) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap interval of ``metric(y_true, y_score, **kw)``.

    Args:
        metric: e.g. :func:`auroc`.
        y_true, y_score: as for the metric.
        n_boot: number of resamples (with replacement, same size as the data).
        ci: interval mass, 0.95 for a 95% CI.
        seed: seed of the resampling generator.
        groups: optional ``(N,)`` cluster ids (e.g. patient ids): resample whole clusters,
            so correlated cases from one patient do not make the interval too narrow.

    Returns:
        ``(estimate, low, high)``; resamples on which the metric is undefined (NaN, e.g. one
        class only) are dropped; ``low``/``high`` are NaN if fewer than 10 remain.
    """
    if not 0 < ci < 1:
        raise ConfigError(f"ci must lie in (0, 1), got {ci!r}")
    y_true, y_score = _np(y_true), _np(y_score)
    est = metric(y_true, y_score, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = [metric(y_true[idx], y_score[idx], **kw) for idx in _resamples(len(y_true), n_boot, seed, groups)]
    return (float(est), *_interval(values, ci))


def paired_bootstrap_diff(metric: Callable, y_true, score_a, score_b, *, n_boot: int = 1000, ci: float = 0.95,
                          seed: int = 0, groups=None, **kw) -> tuple[float, float, float]:
    """``metric(a) - metric(b)`` on the same cases, with a paired percentile bootstrap interval.

    Both models are scored on *the same* resample each time, so the interval is that of the
    difference: two separate intervals that overlap do not show two models are alike, and
    two that do not overlap understate the evidence (the scores are correlated).

    Args:
        metric: e.g. :func:`auroc`.
        y_true: ``(N,)`` (or ``(N, L)``) truth; score_a, score_b: the two models' scores.
        n_boot, ci, seed, groups, **kw: as in :func:`bootstrap_ci` (same ``seed`` -> same resamples).

    Returns:
        ``(difference, low, high)``; an interval above 0 means ``a`` scores higher.
    """
    if not 0 < ci < 1:
        raise ConfigError(f"ci must lie in (0, 1), got {ci!r}")
    y_true, a, b = _np(y_true), _np(score_a), _np(score_b)
    if len(a) != len(y_true) or len(b) != len(y_true):
        raise DataError(f"y_true has {len(y_true)} cases but the scores have {len(a)} and {len(b)}")
    est = metric(y_true, a, **kw) - metric(y_true, b, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diffs = [metric(y_true[i], a[i], **kw) - metric(y_true[i], b[i], **kw)
                 for i in _resamples(len(y_true), n_boot, seed, groups)]
    return (float(est), *_interval(diffs, ci))


def metric_table(y_true, y_score, *, task: str | None = None, threshold: float = 0.5, metrics=None,
             n_boot: int = 1000, ci: float = 0.95, seed: int = 0, groups=None):
    """Every metric with its bootstrap CI, as a table.

    Args:
        y_true: labels, ``(N,)`` or ``(N, L)`` for multilabel.
        y_score: probabilities, ``(N,)``, ``(N, 2)``, ``(N, C)`` or ``(N, L)``.
        task: ``"binary"``, ``"multiclass"``, ``"multilabel"`` or None to infer from shapes.
        threshold: decision threshold on probabilities (binary/multilabel).
        metrics: names from :data:`METRICS` (default all).
        n_boot, ci, seed, groups: see :func:`bootstrap_ci` (all metrics use the same resamples).

    Returns:
        ``pandas.DataFrame`` indexed by metric with columns ``estimate``, ``ci_low``, ``ci_high``.
    """
    import pandas as pd

    task = task or infer_task(y_true, y_score)
    names = list(metrics or METRICS)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metrics {unknown}; choose from {list(METRICS)}")
    rows = {}
    for name in names:
        est, lo, hi = bootstrap_ci(METRICS[name], y_true, y_score, n_boot=n_boot, ci=ci, seed=seed, groups=groups,
                                   task=task, threshold=threshold)
        rows[name] = {"estimate": est, "ci_low": lo, "ci_high": hi}
    return pd.DataFrame(rows).T[["estimate", "ci_low", "ci_high"]]


# ------------------------------------------------------------------ torch adapters for fit()
def probabilities_from_logits(outputs, task: str = "binary") -> np.ndarray:
    """Logits from a network to probabilities: binary ``(N,)``/``(N, 1)`` -> sigmoid, ``(N, 2)`` ->
    softmax column 1; multiclass -> softmax; multilabel -> sigmoid."""
    import torch

    out = torch.as_tensor(outputs).float()
    if task == "binary":
        if out.ndim == 2 and out.shape[1] == 2:
            return torch.softmax(out, 1)[:, 1].numpy()
        return torch.sigmoid(out.reshape(len(out))).numpy()
    if task == "multiclass":
        return torch.softmax(out, 1).numpy()
    if task == "multilabel":
        return torch.sigmoid(out).numpy()
    raise ConfigError(f"task {task!r} is unknown; use one of {', '.join(TASKS)}")


def torch_metric(name: str, task: str = "binary", threshold: float = 0.5) -> Callable:
    """A ``fn(outputs, targets) -> float`` for ``fit(metrics=...)``: logits -> probabilities -> metric."""
    if name not in METRICS:
        raise ConfigError(f"unknown metric {name!r}; choose from {list(METRICS)}")
    metric = METRICS[name]

    def fn(outputs, targets) -> float:
        y = _np(targets)
        if task != "multilabel":
            y = y.reshape(len(y))
        return metric(y.astype(np.int64), probabilities_from_logits(outputs, task), task=task, threshold=threshold)

    fn.__name__ = f"{name}_{task}"
    return fn
