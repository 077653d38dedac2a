"""The survival task on lifelines' bundled cohorts: loading, Cox PH, neural Cox, c-index.

The partial-likelihood loss is tested beside the network in tests/models/test_survival.py.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lifelines")

import pandas as pd  # noqa: E402

from medbench.data.survival_cohorts import SurvivalData, load_cohort, survival_split  # noqa: E402
from medbench.errors import ConfigError  # noqa: E402
from medbench.metrics import cindex  # noqa: E402
from medbench.tasks.survival import compare_on_cohort, fit_cox, fit_neural_cox, neural_risk  # noqa: E402


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


@pytest.mark.slow
def test_neural_cox_learns():
    data = load_cohort("gbsg2")
    train, test = survival_split(data, seed=0)
    tr, va = survival_split(train, 0.25, seed=1)
    model, prep, hist = fit_neural_cox(tr, va, epochs=60)
    assert cindex(test.time, neural_risk(model, prep, test.X), test.event) > 0.6


def test_compare_on_cohort_holds_out_patients():
    row, cox = compare_on_cohort(load_cohort("lung"), test_size=0.3, neural_epochs=5, seed=0)
    assert row["cohort"] == "lung" and row["train patients"] + row["test patients"] == 228
    assert row["test patients"] == pytest.approx(0.3 * 228, abs=1)
    assert 0.5 < row["Cox c-index"] < 0.8 and 0.0 <= row["neural Cox c-index"] <= 1.0
    assert "coef" in cox.summary
    # bootstrap intervals around each c-index and the paired difference, on the same resamples
    for name in ("Cox c-index", "neural Cox c-index", "neural - Cox"):
        assert row[f"{name} low"] < row[name] < row[f"{name} high"], name
    assert row["neural - Cox"] == pytest.approx(row["neural Cox c-index"] - row["Cox c-index"])
    assert row["Cox c-index high"] - row["Cox c-index low"] > 0.04  # 68 test patients: not a narrow interval


def test_cindex_ci_and_the_proportional_hazards_test():
    from medbench.tasks.survival import cindex_ci

    data = load_cohort("gbsg2")
    train, test = survival_split(data, seed=0)
    cox = fit_cox(train)
    c, lo, hi = cindex_ci(test.time, cox.risk(test.X), test.event, n_boot=50, seed=0)
    assert c == pytest.approx(cindex(test.time, cox.risk(test.X), test.event)) and lo < c < hi
    assert cindex_ci(test.time, cox.risk(test.X), test.event, n_boot=50, seed=0) == (c, lo, hi)  # seeded
    ph = cox.ph_test()
    assert set(ph.index) == set(train.X.columns) and ph["p"].between(0, 1).all()
    # a covariate whose effect reverses halfway through follow-up violates proportional hazards
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    t1 = rng.exponential(1 / np.exp(1.5 * x))
    t2 = 1.0 + rng.exponential(1 / np.exp(-1.5 * x))
    time = np.where(t1 < 1.0, t1, t2)
    frame = pd.DataFrame({"x": x})
    fake = SurvivalData(frame, time, np.ones(n, int), frame, "fake", "simulated")
    assert fit_cox(fake).ph_test().loc["x", "p"] < 0.001


def test_survival_module_left_the_top_level():
    import importlib.util

    assert importlib.util.find_spec("medbench.survival") is None
