"""Membership-inference measures: a memorising model is found out, random scores are not."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from medbench.errors import ConfigError
from medbench.metrics import attack_auc, binary_losses, lira_scores, logit_confidence, loss_threshold_scores, tpr_at_fpr


def _data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    y = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(int)
    return X, y


def test_memorising_model_near_one():
    X, y = _data(400, 0)
    members = np.arange(400) < 200
    # distance-weighted neighbours: a training patient is its own neighbour at distance 0 (memorised)
    knn = KNeighborsClassifier(n_neighbors=15, weights="distance").fit(X[members], y[members])
    p = np.clip(knn.predict_proba(X)[:, 1], 0.01, 0.99)
    s = loss_threshold_scores(binary_losses(y, p))
    assert attack_auc(members, s) > 0.95
    assert tpr_at_fpr(members, s, 0.01) > 0.5


def test_random_scores_near_half():
    rng = np.random.default_rng(1)
    members = np.arange(4000) < 2000
    s = rng.standard_normal(4000)
    assert abs(attack_auc(members, s) - 0.5) < 0.03
    assert tpr_at_fpr(members, s, 0.01) < 0.03
    assert attack_auc(members, members.astype(float)) == 1.0


def test_lira_finds_a_shift_and_ignores_noise():
    rng = np.random.default_rng(2)
    S, N = 8, 600
    inside = np.zeros((S, N), bool)
    for s in range(0, S, 2):
        h = rng.permutation(N)[: N // 2]
        inside[s, h] = True
        inside[s + 1] = ~inside[s]
    difficulty = rng.normal(0, 2, N)                      # per-record offsets LiRA calibrates away
    phi = difficulty + rng.normal(0, 0.3, (S, N)) + 0.5 * inside
    target_in = rng.random(N) < 0.5
    target = difficulty + rng.normal(0, 0.3, N) + 0.5 * target_in
    assert attack_auc(target_in, lira_scores(target, phi, inside)) > 0.75
    assert attack_auc(target_in, target) < 0.65          # the raw confidence is swamped by difficulty
    phi0 = difficulty + rng.normal(0, 0.3, (S, N))
    t0 = difficulty + rng.normal(0, 0.3, N)
    assert abs(attack_auc(target_in, lira_scores(t0, phi0, inside)) - 0.5) < 0.06


def test_logit_confidence_and_errors():
    assert logit_confidence([1, 0], [0.5, 0.5]) == pytest.approx([0, 0])
    assert logit_confidence([1], [0.9])[0] == pytest.approx(np.log(9))
    with pytest.raises(ConfigError):
        attack_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ConfigError):
        lira_scores(np.zeros(3), np.zeros((1, 3)), np.zeros((1, 3), bool))
