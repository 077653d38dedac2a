"""EHR explanations against the simulator's true per-factor contributions."""
import numpy as np
import pytest
import torch

from medbench.data.ehr import RISK_FACTORS, factor_contributions, outcome_logits, simulate_ehr
from medbench.errors import ConfigError
from medbench.tasks.explain_tabular import EHR_METHODS, explain_ehr, feature_factor, group_by_factor


@pytest.fixture(scope="module")
def cohort():
    return simulate_ehr(1500, seed=1)


@pytest.mark.parametrize("outcome", ["diabetes", "hypertension", "cvd"])
def test_true_contributions_add_up_to_the_log_odds(cohort, outcome):
    raw = factor_contributions(cohort.latent, outcome, centre=False)
    np.testing.assert_allclose(raw.sum(1), outcome_logits(cohort.latent)[outcome], atol=1e-9)
    centred = factor_contributions(cohort.latent, outcome)
    np.testing.assert_allclose(centred.mean(), 0.0, atol=1e-9)
    assert list(centred.columns) == list(RISK_FACTORS)
    assert (centred[["hr", "statin"]] == 0).all().all()  # not in any formula


def test_factor_contributions_unknown_outcome(cohort):
    with pytest.raises(ConfigError, match="unknown outcome"):
        factor_contributions(cohort.latent, "stroke")


def test_features_map_to_factors():
    assert feature_factor("sbp__last") == "sbp" and feature_factor("ldl_delta") == "ldl"
    assert feature_factor("male") == "sex" and feature_factor("age") == "age"
    assert feature_factor("sbp__count") is None and feature_factor("hdl_observed") is None
    assert feature_factor("visit_acute") is None and feature_factor("gap") is None
    g = group_by_factor(np.array([[1.0, 2.0, 4.0, 8.0]]), ["sbp__last", "sbp__mean", "male", "gap"])
    assert g.loc[0, "sbp"] == 3.0 and g.loc[0, "sex"] == 4.0 and g.to_numpy().sum() == 7.0
    with pytest.raises(ConfigError):
        group_by_factor(np.zeros((1, 3)), ["age"])


def test_explain_ehr_tables(cohort):
    torch.set_num_threads(1)
    r = explain_ehr(cohort, "cvd", n_explain=25, epochs=1, hidden=8, shap_samples=40, ig_steps=8, n_repeats=2)
    assert list(r.table.index) == list(EHR_METHODS)
    assert r.table["truth_spearman"].between(-1, 1).all()
    assert r.table.loc[["shap", "ig", "logreg"], "top3_agreement"].between(0, 1).all()
    assert np.isnan(r.table.loc["permutation", "top3_agreement"])
    assert r.truth.shape == (25, len(RISK_FACTORS)) and r.per_patient["ig"].shape == r.truth.shape
    assert list(r.importance.columns) == list(EHR_METHODS) + ["truth"]
    # the logistic regression's global importance already ranks the true factors above the rest
    imp = r.importance["logreg"]
    true_f = r.importance["truth"] > 0
    assert imp[true_f].mean() > imp[~true_f].mean()
