"""The EHR cohort simulator: deterministic, fast enough, stated rates, trajectory-dependent outcomes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medbench.data.ehr import MEDICATIONS, OUTCOME_RATES, OUTCOMES, VARIABLES, simulate_ehr, true_risk
from medbench.errors import ConfigError


@pytest.fixture(scope="module")
def cohort():
    return simulate_ehr(6000, seed=3)


def test_deterministic_by_seed():
    a, b, c = simulate_ehr(300, seed=1), simulate_ehr(300, seed=1), simulate_ehr(300, seed=2)
    pd.testing.assert_frame_equal(a.observations, b.observations)
    pd.testing.assert_frame_equal(a.patients, b.patients)
    assert not a.patients[list(OUTCOMES)].equals(c.patients[list(OUTCOMES)]) or not a.observations.equals(c.observations)


def test_long_table_shape_and_types(cohort):
    obs = cohort.observations
    assert list(obs.columns) == ["patient_id", "time", "visit_type", "variable", "value"]
    assert set(obs["variable"].cat.categories) == set(VARIABLES) | set(MEDICATIONS)
    assert np.isfinite(obs["value"]).all()
    assert obs["time"].between(0, cohort.window_years, inclusive="left").all()
    assert set(obs["patient_id"]) == set(cohort.patients["patient_id"])
    # sorted by patient then time, and each patient starts with a routine visit at time 0
    assert (obs.groupby("patient_id")["time"].min() == 0).all()
    first = obs[obs["time"] == 0]
    assert (first["visit_type"] == "routine").all()
    # irregular visits: gaps between visits vary
    visits = obs.drop_duplicates(["patient_id", "time"])
    gaps = visits.groupby("patient_id")["time"].diff().dropna()
    assert gaps.std() > 0.2


def test_marginal_rates_match_stated(cohort):
    n = cohort.n_patients
    for o, rate in OUTCOME_RATES.items():
        assert cohort.patients[f"risk_{o}"].mean() == pytest.approx(rate, abs=1e-3)
        se = np.sqrt(rate * (1 - rate) / n)
        assert abs(cohort.patients[o].mean() - rate) < 4 * se, o


def test_missingness_depends_on_visit_type_and_value(cohort):
    obs = cohort.observations
    visits = obs.drop_duplicates(["patient_id", "time"])
    n_visits = visits["visit_type"].value_counts()
    ldl = obs[obs["variable"] == "ldl"]["visit_type"].value_counts()
    share = ldl / n_visits
    assert share["routine"] > 3 * share["acute"]
    # not at random: glucose is re-measured more at visits where glucose is high
    lat = cohort.latent.set_index("patient_id")
    glu = obs[obs["variable"] == "glucose"].groupby("patient_id").size()
    nvis = visits.groupby("patient_id").size()
    rate = (glu / nvis).reindex(lat.index).fillna(0)
    high = lat["glucose_W"] > lat["glucose_W"].quantile(0.8)
    low = lat["glucose_W"] < lat["glucose_W"].quantile(0.2)
    assert rate[high].mean() > rate[low].mean() + 0.05


def test_medications_change_trajectories(cohort):
    lat = cohort.latent
    treated = lat["antihypertensive_start"].notna()
    assert 0.02 < treated.mean() < 0.6
    # treatment started on high pressure and lowers it afterwards
    obs = cohort.observations
    sbp = obs[obs["variable"] == "sbp"].merge(lat[["patient_id", "antihypertensive_start"]], on="patient_id")
    sbp = sbp[sbp["antihypertensive_start"].notna()]
    before = sbp[sbp["time"] <= sbp["antihypertensive_start"]].groupby("patient_id")["value"].last()
    after = sbp[sbp["time"] > sbp["antihypertensive_start"] + 0.5].groupby("patient_id")["value"].mean()
    both = before.index.intersection(after.index)
    assert (before[both] - after[both]).mean() > 8


def test_true_risk_is_informative_and_depends_on_trajectories(cohort):
    from sklearn.metrics import roc_auc_score

    for o in OUTCOMES:
        assert roc_auc_score(cohort.patients[o], cohort.risk(o)) > 0.7
    # changing only the blood-pressure variability (same level) changes hypertension risk
    lat = cohort.latent.copy()
    base = true_risk(lat, cohort.intercepts)["hypertension"]
    np.testing.assert_allclose(base, cohort.risk("hypertension"))
    lat["sbp_sd"] *= 2
    assert (true_risk(lat, cohort.intercepts)["hypertension"] > base).all()
    lat = cohort.latent.copy()
    lat["glucose_slope"] += 0.2
    assert (true_risk(lat, cohort.intercepts)["diabetes"] > cohort.risk("diabetes")).all()


def test_history_and_errors(cohort):
    h = cohort.history(5)
    assert {"time", "visit_type", "sbp"} <= set(h.columns)
    assert h["time"].is_monotonic_increasing
    with pytest.raises(ConfigError):
        simulate_ehr(5)
    with pytest.raises(ConfigError):
        cohort.risk("stroke")
    with pytest.raises(ConfigError):
        simulate_ehr(100, rates={"diabetes": 0.1})


def test_risk_is_looked_up_by_patient_id_so_misalignment_is_caught(cohort):
    import dataclasses

    from medbench.errors import DataError

    ids = np.array([17, 3, 4000, 3])
    np.testing.assert_array_equal(cohort.risk("cvd", patient_ids=ids),
                                  cohort.patients.set_index("patient_id").loc[ids, "risk_cvd"].to_numpy())
    # a patients table in another row order gives the same answer by id (positions would not)
    shuffled = dataclasses.replace(cohort, patients=cohort.patients.sample(frac=1, random_state=0))
    np.testing.assert_array_equal(shuffled.risk("cvd", patient_ids=ids), cohort.risk("cvd", patient_ids=ids))
    assert not np.array_equal(shuffled.risk("cvd")[ids], cohort.risk("cvd", patient_ids=ids))
    np.testing.assert_array_equal(cohort.labels(["cvd"], patient_ids=ids)[:, 0], cohort.patients["cvd"].to_numpy()[ids])
    with pytest.raises(DataError, match="not in this cohort"):
        cohort.risk("diabetes", patient_ids=[cohort.n_patients + 5])  # a position or another cohort's id
    with pytest.raises(DataError):
        cohort.at_risk("diabetes", patient_ids=[-1])


def test_patients_already_treated_are_not_at_risk_of_an_incident_diagnosis(cohort):
    from medbench.data.ehr import PREVALENT_TREATMENT

    lat = cohort.latent.set_index("patient_id")
    for outcome, med in PREVALENT_TREATMENT.items():
        at_risk = cohort.at_risk(outcome)
        np.testing.assert_array_equal(at_risk, lat[f"{med}_start"].isna().to_numpy())
        assert 0.05 < 1 - at_risk.mean() < 0.35  # about 12% (metformin) and 19% (antihypertensive)
        # the ones on treatment had the disease's marker high: their outcome rate is higher
        assert cohort.patients[outcome][~at_risk].mean() > cohort.patients[outcome][at_risk].mean()
    assert cohort.at_risk("cvd").all()
    ids = np.array([5, 1, 2])
    np.testing.assert_array_equal(cohort.at_risk("diabetes", patient_ids=ids), cohort.at_risk("diabetes")[ids])
