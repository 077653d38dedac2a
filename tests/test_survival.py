"""Survival on lifelines' bundled cohorts: loading, Cox PH, the neural Cox loss, c-index."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("lifelines")

from medbench.errors import ConfigError  # noqa: E402
from medbench.survival import (cindex, cox_partial_likelihood_loss, fit_cox, fit_neural_cox, load_cohort,  # noqa: E402
                               neural_risk, survival_split)


def test_load_cohorts():
    g = load_cohort("gbsg2")
    assert g.X.shape == (686, 9) and set(np.unique(g.event)) == {0, 1}
    lung = load_cohort("lung")
    assert len(lung.time) == 228 and set(np.unique(lung.event)) == {0, 1} and lung.event.mean() > 0.6
    with pytest.raises(ConfigError):
        load_cohort("nope")


def test_cindex_sanity():
    t = np.array([1.0, 2, 3, 4, 5])
    e = np.ones(5)
    assert cindex(t, -t, e) == 1.0  # higher risk, earlier event
    assert cindex(t, t, e) == 0.0
    assert cindex(t, np.zeros(5), e) == 0.5


def test_cox_on_gbsg2_held_out():
    data = load_cohort("gbsg2")
    train, test = survival_split(data, seed=0)
    assert not set(train.raw.index) & set() and len(train.time) + len(test.time) == 686
    model = fit_cox(train)
    c = cindex(test.time, model.risk(test.X), test.event)
    assert 0.62 < c < 0.8
    # more positive nodes -> higher hazard, as every GBSG2 analysis finds
    assert model.summary.loc["log_nodes", "coef"] > 0


def test_partial_likelihood_matches_lifelines():
    """Our Cox loss at lifelines' fitted coefficients equals lifelines' own log-likelihood."""
    from lifelines import CoxPHFitter

    data = load_cohort("gbsg2")
    X = (data.X - data.X.mean()) / data.X.std()
    df = X.assign(time=data.time, event=data.event)
    cph = CoxPHFitter().fit(df, "time", "event")  # lifelines uses Efron ties; GBSG2 has few ties
    lp = torch.tensor(X.to_numpy() @ cph.params_.to_numpy())
    target = torch.tensor(np.stack([data.time, data.event], 1))
    ours = -float(cox_partial_likelihood_loss(lp, target)) * data.event.sum()
    assert ours == pytest.approx(cph.log_likelihood_, rel=2e-3)


@pytest.mark.slow
def test_neural_cox_learns():
    data = load_cohort("gbsg2")
    train, test = survival_split(data, seed=0)
    tr, va = survival_split(train, 0.25, seed=1)
    model, prep, hist = fit_neural_cox(tr, va, epochs=60)
    assert cindex(test.time, neural_risk(model, prep, test.X), test.event) > 0.6
