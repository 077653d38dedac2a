"""The neural Cox network and its partial-likelihood loss (medbench.models.survival)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medbench.models.survival import NeuralCox, cox_partial_likelihood_loss


def test_partial_likelihood_matches_lifelines():
    """Our Cox loss at lifelines' fitted coefficients equals lifelines' own log-likelihood."""
    pytest.importorskip("lifelines")
    from lifelines import CoxPHFitter

    from medbench.data.survival_cohorts import load_cohort

    data = load_cohort("gbsg2")
    X = (data.X - data.X.mean()) / data.X.std()
    df = X.assign(time=data.time, event=data.event)
    cph = CoxPHFitter().fit(df, "time", "event")  # lifelines uses Efron ties; GBSG2 has few ties
    lp = torch.tensor(X.to_numpy() @ cph.params_.to_numpy())
    target = torch.tensor(np.stack([data.time, data.event], 1))
    ours = -float(cox_partial_likelihood_loss(lp, target)) * data.event.sum()
    assert ours == pytest.approx(cph.log_likelihood_, rel=2e-3)


def test_loss_prefers_the_right_ranking_and_ignores_censored_terms():
    time = torch.tensor([1.0, 2.0, 3.0, 4.0])
    target = torch.stack([time, torch.ones(4)], 1)
    right, wrong = -time, time  # higher log-risk for earlier events is right
    assert cox_partial_likelihood_loss(right, target) < cox_partial_likelihood_loss(wrong, target)
    # with a single event (the last patient), its risk set is itself: loss 0 whatever the scores
    only_last = torch.stack([time, torch.tensor([0.0, 0.0, 0.0, 1.0])], 1)
    assert float(cox_partial_likelihood_loss(torch.randn(4), only_last)) == pytest.approx(0.0, abs=1e-6)


def test_neural_cox_shapes():
    torch.manual_seed(0)
    net = NeuralCox(9, hidden=8).eval()
    assert net(torch.randn(5, 9)).shape == (5, 1)
