"""The survival task on lifelines' bundled cohorts: loading, Cox PH, neural Cox, c-index.

The partial-likelihood loss is tested beside the network in tests/models/test_survival.py.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lifelines")

from medbench.data.survival_cohorts import load_cohort, survival_split  # noqa: E402
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


def test_survival_module_left_the_top_level():
    import importlib.util

    assert importlib.util.find_spec("medbench.survival") is None
