"""The disease-prediction task (chapter 04): EHR split -> tensors -> recurrent models, and tremor."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from medbench.data.ehr import MEDICATIONS, OUTCOMES, VARIABLES, simulate_ehr
from medbench.data.sequences import aggregate_features, split_patients
from medbench.data.tremor import simulate_tremor
from medbench.errors import ConfigError
from medbench.models.recurrent import RecurrentClassifier
from medbench.tasks import disease

VARS = list(VARIABLES) + list(MEDICATIONS)


@pytest.fixture(scope="module")
def ehr():
    cohort = simulate_ehr(300, seed=0)
    splits, data, scaler = disease.prepare_ehr(cohort, max_len=8, seed=0)
    return cohort, splits, data, scaler


@pytest.fixture(scope="module")
def tremor():
    return simulate_tremor(n_patients=8, n_weeks=2, windows_per_week=6, seed=0)


def test_predict_risk_is_the_sigmoid_of_the_logits():
    torch.manual_seed(1)
    model = RecurrentClassifier(4, cell="gru", hidden_size=8, n_tasks=2).eval()
    x, lengths = torch.randn(3, 6, 4), torch.tensor([6, 3, 5])
    probs = disease.predict_risk(model, x.numpy(), lengths.numpy())
    np.testing.assert_allclose(probs, torch.sigmoid(model(x, lengths)).detach().numpy(), rtol=1e-5)
    # batching does not change the answer; per-step risks end with the final one
    np.testing.assert_allclose(disease.predict_risk(model, x.numpy(), lengths.numpy(), batch_size=1), probs, rtol=1e-6)
    steps = disease.predict_risk(model, x.numpy(), lengths.numpy(), per_step=True)
    assert steps.shape == (3, 6, 2)
    np.testing.assert_allclose(steps[np.arange(3), lengths.numpy() - 1], probs, rtol=1e-5, atol=1e-6)


def test_prepare_ehr_splits_patients_without_leakage(ehr):
    cohort, splits, data, scaler = ehr
    tr, va, te = (set(splits[k]) for k in ("train", "val", "test"))
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert tr | va | te == set(cohort.patients["patient_id"])
    assert set(scaler.patient_ids_) == tr
    # the same split as the shared splitter, stratified by CVD
    expected = split_patients(cohort.patients["patient_id"], seed=0, stratify=cohort.patients["cvd"])
    for k in splits:
        np.testing.assert_array_equal(splits[k], expected[k])
        np.testing.assert_array_equal(data[k].patient_ids, splits[k])
    assert data["train"].outcomes == list(OUTCOMES) and data["train"].variables == VARS
    assert data["train"].X.shape[1] <= 8


def test_prepare_ehr_marks_prevalent_patients_out_of_the_incident_outcomes(ehr):
    cohort, _, data, _ = ehr
    for d in data.values():
        assert d.at_risk.shape == d.y.shape
        for j, o in enumerate(OUTCOMES):
            np.testing.assert_array_equal(d.at_risk[:, j], cohort.at_risk(o, patient_ids=d.patient_ids))
    test = data["test"]
    on_metformin = cohort.latent.set_index("patient_id").loc[test.patient_ids, "metformin_start"].notna().to_numpy()
    np.testing.assert_array_equal(test.eval_mask("diabetes"), ~on_metformin)
    assert test.eval_mask("cvd").all()


def test_baselines_and_patient_level_cross_validation(ehr):
    cohort, splits, data, _ = ehr
    agg = {k: aggregate_features(cohort.observations, cohort.patients, splits[k], VARS) for k in ("train", "test")}
    probs = disease.fit_baselines(agg["train"], data["train"].y.astype(int), agg["test"], seed=0)
    assert set(probs) == {"logreg", "gboost"}
    for p in probs.values():
        assert p.shape == data["test"].y.shape and ((p >= 0) & (p <= 1)).all()
    cv = disease.cross_validate_logreg(agg["train"], cohort.patients.set_index("patient_id"), OUTCOMES, k=3, seed=0)
    assert list(cv.index) == [1, 2, 3] and list(cv.columns) == list(OUTCOMES)
    assert cv.notna().all().all() and ((cv > 0) & (cv < 1)).all().all()
    # scoring only the at-risk patients changes the diabetes folds, not CVD (everyone is at risk of it)
    at_risk = pd.DataFrame({o: cohort.at_risk(o) for o in OUTCOMES}, index=cohort.patients["patient_id"])
    cv_risk = disease.cross_validate_logreg(agg["train"], cohort.patients.set_index("patient_id"), OUTCOMES, k=3,
                                            seed=0, at_risk=at_risk)
    pd.testing.assert_series_equal(cv_risk["cvd"], cv["cvd"])
    assert not cv_risk["diabetes"].equals(cv["diabetes"])


def test_train_recurrent_selects_by_validation_auroc(ehr):
    _, _, data, _ = ehr
    torch.set_num_threads(1)
    model, history = disease.train_recurrent(data["train"], data["val"], cell="gru", outcomes=["diabetes"],
                                             hidden=8, epochs=2, batch_size=64, seed=0)
    assert isinstance(model, RecurrentClassifier) and model.n_tasks == 1
    assert history.monitor == "val_auroc" and len(history.records) == 2
    again, _ = disease.train_recurrent(data["train"], data["val"], cell="gru", outcomes=["diabetes"],
                                       hidden=8, epochs=2, batch_size=64, seed=0)
    for a, b in zip(model.parameters(), again.parameters()):  # same seed, same weights
        torch.testing.assert_close(a, b)
    with pytest.raises(ConfigError):
        disease.train_recurrent(data["train"], data["val"], outcomes=[])


def test_fit_single_task_scores_every_cell_and_outcome(ehr):
    _, _, data, _ = ehr
    probs, log = disease.fit_single_task(data, cells=("lstm",), outcomes=["cvd", "diabetes"], hidden=8, epochs=1,
                                         batch_size=64, seed=0)
    assert probs["lstm"].shape == (len(data["test"]), 2)
    assert list(log["outcome"]) == ["cvd", "diabetes"] and set(log["model"]) == {"lstm"}


def test_training_panel_runs_the_multitask_model(ehr):
    """What chapter 04's panel does (the chapter no longer asserts on the panel: this test does)."""
    from medbench.widgets.training_panel import TrainingPanel

    _, _, data, _ = ehr

    def train(config, callbacks):
        return disease.train_recurrent(data["train"], data["val"], cell=config["model"], outcomes=OUTCOMES,
                                       callbacks=callbacks, hidden=8, epochs=config["epochs"], lr=config["lr"],
                                       batch_size=64, seed=0)

    panel = TrainingPanel(train, models=("lstm", "gru"), epochs=1, lr=0.01, augment=False,
                          metrics=("val_auroc",), background=False)
    panel.train_button.click()
    assert panel.error is None, panel.error
    model, history = panel.result
    assert model.n_tasks == len(OUTCOMES) and len(history.records) == 1


def test_tremor_split_goes_through_the_shared_splitter(tremor):
    rows = disease.split_tremor(tremor.meta, seed=0)
    pid = tremor.meta["patient_id"].to_numpy()
    ids = {k: set(np.unique(pid[m])) for k, m in rows.items()}
    assert len(ids["test"]) == 2 and len(ids["val"]) == 1 and len(ids["train"]) == 5  # 8 // 4, 8 // 8, rest
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    assert (rows["train"] | rows["val"] | rows["test"]).all()
    expected = split_patients(np.unique(pid), (5, 1, 2), seed=0)
    assert all(ids[k] == set(expected[k]) for k in rows)
    with pytest.raises(ConfigError):
        disease.split_tremor(tremor.meta[tremor.meta["patient_id"] < 3])


def test_tremor_pipeline(tremor):
    rows = disease.split_tremor(tremor.meta, seed=0)
    base = disease.spectral_baseline(tremor.signals, tremor.severity, tremor.fs, rows["train"] | rows["val"])
    assert base.shape == tremor.severity.shape and base.min() >= 0 and base.max() <= 4
    torch.set_num_threads(1)
    cnn, history = disease.fit_tremor_cnn(tremor.signals, tremor.severity, rows["train"], rows["val"], epochs=1,
                                          channels=8, seed=0)
    pred = disease.predict_tremor(cnn, tremor.signals)
    assert pred.shape == tremor.severity.shape and pred.min() >= 0 and pred.max() <= 4
    np.testing.assert_allclose(disease.predict_tremor(cnn, tremor.signals, batch_size=7), pred, rtol=1e-5, atol=1e-6)
    table = disease.tremor_errors(tremor.severity, {"cnn": pred, "baseline": base}, tremor.meta["activity"],
                                  rows["test"])
    assert list(table.columns) == ["cnn", "baseline"] and table.index[-1] == "all windows"
    expected = np.abs(pred - tremor.severity)[rows["test"]].mean()
    assert table.loc["all windows", "cnn"] == pytest.approx(expected)
    weekly = disease.weekly_scores(tremor.meta, tremor.severity, {"model": pred, "baseline": base}, rows["test"])
    assert list(weekly.columns) == ["patient_id", "week", "true", "model", "baseline"]
    assert set(weekly["patient_id"]) == set(np.unique(tremor.meta["patient_id"][rows["test"]]))
    assert isinstance(weekly, pd.DataFrame) and len(weekly) == 2 * 2  # two test patients, two weeks
