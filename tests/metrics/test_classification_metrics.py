"""Metrics against scikit-learn on random data; bootstrap CIs; task variants."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from medbench import metrics as M
from medbench.errors import ConfigError, DataError


@pytest.fixture
def binary():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.35 * y + rng.uniform(0, 0.65, 300), 0, 1)
    return y, p


def test_binary_metrics_match_sklearn(binary):
    y, p = binary
    pred = (p >= 0.5).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert M.accuracy(y, p) == pytest.approx(skm.accuracy_score(y, pred))
    assert M.precision(y, p) == pytest.approx(tp / (tp + fp))
    assert M.sensitivity(y, p) == pytest.approx(tp / (tp + fn)) == M.recall(y, p)
    assert M.specificity(y, p) == pytest.approx(tn / (tn + fp))
    assert M.f1(y, p) == pytest.approx(skm.f1_score(y, pred))
    assert M.auroc(y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert M.auprc(y, p) == pytest.approx(skm.average_precision_score(y, p))
    assert M.brier(y, p) == pytest.approx(np.mean((p - y) ** 2))
    # (N, 2) probabilities and torch tensors are accepted
    p2 = np.stack([1 - p, p], 1)
    assert M.auroc(torch.tensor(y), torch.tensor(p2)) == pytest.approx(skm.roc_auc_score(y, p))
    # a different threshold changes the thresholded metrics
    assert M.sensitivity(y, p, threshold=0.2) >= M.sensitivity(y, p, threshold=0.8)


def test_multiclass_and_multilabel_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 400)
    logits = rng.normal(size=(400, 4)) + 1.5 * np.eye(4)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pred = p.argmax(1)
    assert M.accuracy(y, p, task="multiclass") == pytest.approx(skm.accuracy_score(y, pred))
    assert M.f1(y, p, task="multiclass") == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert M.precision(y, p, task="multiclass") == pytest.approx(skm.precision_score(y, pred, average="macro"))
    assert M.auroc(y, p, task="multiclass") == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr"))
    onehot = np.eye(4)[y]
    assert M.auprc(y, p, task="multiclass") == pytest.approx(skm.average_precision_score(onehot, p, average="macro"))
    assert M.brier(y, p, task="multiclass") == pytest.approx(np.mean(np.sum((p - onehot) ** 2, 1)))
    cm = skm.confusion_matrix(y, pred)
    spec = [(cm.sum() - cm[k].sum() - cm[:, k].sum() + cm[k, k]) / (cm.sum() - cm[k].sum()) for k in range(4)]
    assert M.specificity(y, p, task="multiclass") == pytest.approx(np.mean(spec))

    yl = rng.integers(0, 2, (300, 3))
    pl = np.clip(0.4 * yl + rng.uniform(0, 0.6, (300, 3)), 0, 1)
    assert M.auroc(yl, pl, task="multilabel") == pytest.approx(skm.roc_auc_score(yl, pl, average="macro"))
    assert M.f1(yl, pl, task="multilabel") == pytest.approx(skm.f1_score(yl, pl >= 0.5, average="macro"))
    assert M.brier(yl, pl, task="multilabel") == pytest.approx(np.mean((pl - yl) ** 2))
    assert M.infer_task(yl, pl) == "multilabel" and M.infer_task(y, p) == "multiclass"


def test_bootstrap_ci_brackets_estimate_and_shrinks_with_n(binary):
    y, p = binary
    est, lo, hi = M.bootstrap_ci(M.auroc, y, p, n_boot=300, seed=0)
    assert lo < est < hi and hi - lo < 0.2
    rng = np.random.default_rng(5)
    idx = rng.integers(0, 300, 3000)
    _, lo2, hi2 = M.bootstrap_ci(M.auroc, y[idx], p[idx], n_boot=300, seed=0)
    assert hi2 - lo2 < hi - lo
    # deterministic given the seed; patient-level (grouped) resampling works
    assert M.bootstrap_ci(M.auroc, y, p, n_boot=100, seed=1) == M.bootstrap_ci(M.auroc, y, p, n_boot=100, seed=1)
    g = np.repeat(np.arange(30), 10)
    est_g, lo_g, hi_g = M.bootstrap_ci(M.auroc, y, p, n_boot=200, groups=g)
    assert est_g == est and lo_g < est < hi_g


def test_evaluate_table_and_torch_metric(binary):
    y, p = binary
    table = M.metric_table(y, p, n_boot=100)
    assert list(table.index) == list(M.METRICS) and list(table.columns) == ["estimate", "ci_low", "ci_high"]
    assert (table.ci_low <= table.estimate + 1e-12).all() and (table.estimate <= table.ci_high + 1e-12).all()
    logits = torch.logit(torch.tensor(p, dtype=torch.float32).clamp(1e-6, 1 - 1e-6)).unsqueeze(1)
    fn = M.torch_metric("auroc")
    assert fn(logits, torch.tensor(y)) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-6)
    two = torch.stack([torch.zeros(len(p)), logits[:, 0]], 1)  # softmax of (0, z) = sigmoid(z)
    assert fn(two, torch.tensor(y)) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-6)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(DataError, match="0 and 1"):
        M.auroc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match="NaN"):
        M.accuracy([0, 1], [0.1, float("nan")])
    with pytest.raises(DataError, match="cases"):
        M.accuracy([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ConfigError, match="task"):
        M.accuracy([0, 1], [0.1, 0.2], task="ordinal")
    assert np.isnan(M.auroc([1, 1, 1], [0.2, 0.4, 0.9]))


def test_paired_bootstrap_of_a_difference():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = y + rng.normal(0, 0.6, 400)
    weak = y + rng.normal(0, 1.5, 400)
    d, lo, hi = M.paired_bootstrap_diff(M.auroc, y, good, weak, n_boot=300)
    assert d == pytest.approx(M.auroc(y, good) - M.auroc(y, weak)) and 0 < lo < d < hi
    # a model against itself: exactly 0, with a zero-width interval
    assert M.paired_bootstrap_diff(M.auroc, y, good, good, n_boot=50) == (0.0, 0.0, 0.0)
    # the pairing narrows the interval: two near-identical models differ by little, with certainty
    _, lo2, hi2 = M.paired_bootstrap_diff(M.auroc, y, good, good + rng.normal(0, 0.01, 400), n_boot=300)
    _, a_lo, a_hi = M.bootstrap_ci(M.auroc, y, good, n_boot=300)
    assert hi2 - lo2 < (a_hi - a_lo) / 5
    # clusters are resampled whole, as in bootstrap_ci
    groups = np.repeat(np.arange(100), 4)
    assert np.isfinite(M.paired_bootstrap_diff(M.auroc, y, good, weak, n_boot=100, groups=groups)[1])
    with pytest.raises(DataError, match="cases"):
        M.paired_bootstrap_diff(M.auroc, y, good[:10], weak)


def test_mean_auroc_averages_the_models_columns():
    y = np.array([0, 0, 1, 1])
    s = np.array([[0.1, 0.1], [0.2, 0.8], [0.8, 0.7], [0.9, 0.9]])  # a perfect model and one at 0.75
    assert M.auroc(y, s[:, 1]) == pytest.approx(0.75)
    assert M.mean_auroc(y, s) == pytest.approx(0.875)
    with pytest.raises(DataError, match=r"\(N, M\)"):
        M.mean_auroc(y, s[:, 0])
