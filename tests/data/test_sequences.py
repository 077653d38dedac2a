"""Long table -> tensors: patient-level splits, train-only scaling, padding, masks, deltas."""
from __future__ import annotations

import numpy as np
import pytest

from medbench.data.ehr import MEDICATIONS, OUTCOMES, VARIABLES, simulate_ehr
from medbench.data.sequences import (
    SequenceScaler,
    StepPCA,
    aggregate_features,
    kfold_patients,
    prepare_sequences,
    select_variables,
    split_patients,
    to_tensors,
)
from medbench.errors import ConfigError, DataError

VARS = list(VARIABLES) + list(MEDICATIONS)


@pytest.fixture(scope="module")
def cohort():
    return simulate_ehr(800, seed=0)


@pytest.fixture(scope="module")
def prepared(cohort):
    splits = split_patients(cohort.patients["patient_id"], seed=0, stratify=cohort.patients["cvd"])
    data, scaler = prepare_sequences(cohort.observations, cohort.patients, splits, VARS, OUTCOMES)
    return splits, data, scaler


def test_no_patient_in_two_splits(cohort, prepared):
    splits, data, _ = prepared
    tr, va, te = (set(splits[k]) for k in ("train", "val", "test"))
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert tr | va | te == set(cohort.patients["patient_id"])
    for k in splits:
        np.testing.assert_array_equal(data[k].patient_ids, splits[k])
    with pytest.raises(DataError):
        split_patients(np.array([1, 1, 2, 3]))


def test_split_by_exact_counts():
    ids = np.arange(100, 140)
    s = split_patients(ids, (25, 5, 10), seed=3)
    assert [len(s[k]) for k in ("train", "val", "test")] == [25, 5, 10]
    assert set(np.concatenate(list(s.values()))) == set(ids)
    again = split_patients(ids, (25, 5, 10), seed=3)
    assert all((again[k] == s[k]).all() for k in s)
    # fractions still mean fractions (same split as before counts were accepted)
    f = split_patients(ids, (0.625, 0.125, 0.25), seed=3)
    assert len(f["test"]) == 10
    with pytest.raises(ConfigError):
        split_patients(ids, (25, 5, 9))  # counts must add up to the patients
    with pytest.raises(ConfigError):
        split_patients(ids, (35, 0, 5))


def test_kfold_by_patient(cohort):
    ids = cohort.patients["patient_id"].to_numpy()
    folds = kfold_patients(ids, k=4, seed=0, stratify=cohort.patients["diabetes"])
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested) == sorted(ids)
    for tr, te in folds:
        assert not set(tr) & set(te)


def test_scaler_fitted_on_train_only(cohort, prepared):
    splits, _, scaler = prepared
    np.testing.assert_array_equal(scaler.patient_ids_, splits["train"])
    obs = cohort.observations
    tr_sbp = obs[(obs["variable"] == "sbp") & obs["patient_id"].isin(splits["train"])]["value"]
    all_sbp = obs[obs["variable"] == "sbp"]["value"]
    assert scaler.mean_["sbp"] == pytest.approx(tr_sbp.mean())
    assert scaler.std_["sbp"] == pytest.approx(tr_sbp.std())
    assert scaler.mean_["sbp"] != pytest.approx(all_sbp.mean(), abs=1e-9)
    # changing test patients' values does not change the scaler
    obs2 = obs.copy()
    obs2.loc[obs2["patient_id"].isin(splits["test"]), "value"] += 100.0
    s2 = SequenceScaler().fit(obs2, cohort.patients, splits["train"])
    assert s2.mean_ == scaler.mean_


def test_padding_masks_and_deltas(cohort, prepared):
    _, data, scaler = prepared
    d = data["train"]
    N, T, F = d.X.shape
    assert F == len(d.feature_names)
    assert (d.mask.sum(1) == d.lengths).all() and d.lengths.min() >= 1
    assert (d.X[~d.mask] == 0).all()  # padded steps are zero
    assert d.mask[np.arange(N), d.lengths - 1].all()
    # counts of visits agree with the long table
    pid = d.patient_ids[0]
    n_vis = cohort.observations.query("patient_id == @pid")["time"].nunique()
    assert d.lengths[0] == n_vis
    # the value of SBP at the first visit is its standardised reading
    h = cohort.history(pid)
    j = d.feature_names.index("sbp")
    assert d.X[0, 0, j] == pytest.approx(scaler.scale("sbp", h["sbp"].iloc[0]), abs=1e-5)
    # deltas: 0 where observed, growing where not
    jd, jo = d.feature_names.index("ldl_delta"), d.feature_names.index("ldl_observed")
    observed = d.X[..., jo] == 1
    assert (d.X[..., jd][observed] == 0).all()
    assert (d.X[..., jd][d.mask & ~observed] > 0).all()
    # max_len keeps the most recent visits
    short = to_tensors(cohort.observations, cohort.patients, d.patient_ids[:20], scaler, VARS, max_len=4)
    assert short.X.shape[1] <= 4 and (short.lengths == np.minimum(d.lengths[:20], 4)).all()
    jt = d.feature_names.index("time")
    np.testing.assert_allclose(short.X[np.arange(20), short.lengths - 1, jt], d.X[np.arange(20), d.lengths[:20] - 1, jt])


def test_loader_batches_for_fit(prepared):
    _, data, _ = prepared
    (x, lengths), y = next(iter(data["val"].loader(batch_size=16, outcomes="cvd")))
    assert x.shape[0] == 16 and x.ndim == 3 and lengths.shape == (16,) and y.shape == (16, 1)


def test_feature_selection_and_pca(cohort, prepared):
    splits, data, _ = prepared
    agg = aggregate_features(cohort.observations, cohort.patients, splits["train"], VARS)
    assert len(agg) == len(splits["train"]) and {"sbp__last", "sbp__mean", "sbp__count", "age", "male"} <= set(agg)
    y = cohort.patients.set_index("patient_id").loc[splits["train"], "diabetes"]
    top = select_variables(agg, y, k=3, variables=VARS)
    assert len(top) == 3 and {"glucose", "hba1c", "metformin"} & set(top)
    pca = StepPCA(5).fit(data["train"])
    z = pca.transform(data["test"])
    assert z.X.shape[-1] == 5 and (z.X[~z.mask] == 0).all()


def test_at_risk_travels_with_subsets_and_gives_the_evaluation_mask():
    from medbench.data.sequences import SequenceData

    n = 4
    d = SequenceData(np.zeros((n, 2, 3), np.float32), np.ones(n, np.int64), np.ones((n, 2), bool),
                     np.zeros((n, 2), np.float32), np.zeros((n, 2), np.float32), np.arange(n), ["a", "b", "c"],
                     ["x", "y"], ["v"], at_risk=np.array([[1, 0], [1, 1], [0, 1], [1, 1]], bool))
    np.testing.assert_array_equal(d.eval_mask("y"), [False, True, True, True])
    sub = d.subset([2, 0])
    np.testing.assert_array_equal(sub.eval_mask("x"), [False, True])
    d.at_risk = None
    assert d.eval_mask("x").all() and d.subset([1]).at_risk is None
