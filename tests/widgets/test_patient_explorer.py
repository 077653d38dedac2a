"""Chapter 04 widgets driven from Python: pick a patient, move a risk factor."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medbench.data.ehr import MEDICATIONS, OUTCOMES, VARIABLES, simulate_ehr
from medbench.data.sequences import prepare_sequences, split_patients
from medbench.models.recurrent import RecurrentClassifier
from medbench.widgets.patient_explorer import PatientExplorer, WhatIfPanel

VARS = list(VARIABLES) + list(MEDICATIONS)


@pytest.fixture(scope="module")
def setup():
    cohort = simulate_ehr(300, seed=0)
    splits = split_patients(cohort.patients["patient_id"], seed=0)
    data, scaler = prepare_sequences(cohort.observations, cohort.patients, splits, VARS, OUTCOMES, max_len=12)
    torch.manual_seed(0)
    model = RecurrentClassifier(data["train"].n_features, hidden_size=8, n_tasks=3).eval()  # untrained is enough
    return cohort, data, scaler, model


def test_explorer_follows_the_selected_patient(setup):
    cohort, data, scaler, model = setup
    ids = data["test"].patient_ids[:5]
    ex = PatientExplorer(cohort, model, scaler, VARS, OUTCOMES, ids, max_len=12)
    first_png = ex.image.value
    assert len(first_png) > 1000 and set(ex.risk_steps) == set(OUTCOMES)
    ex.patient.value = int(ids[1])
    n = min(12, cohort.history(int(ids[1]))["time"].nunique())
    assert len(ex.risk_steps["cvd"]) == n
    assert ex.image.value != first_png
    assert "visits" in ex.info.value


def test_whatif_moves_model_and_true_risk(setup):
    cohort, data, scaler, model = setup
    pid = int(data["test"].patient_ids[0])
    panel = WhatIfPanel(cohort, model, scaler, VARS, OUTCOMES, pid, max_len=12)
    base_model, base_true = dict(panel.model_risk), dict(panel.true_risk)
    np.testing.assert_allclose([base_true[o] for o in OUTCOMES],
                               [cohort.risk(o)[pid] for o in OUTCOMES], rtol=1e-6)
    panel.sbp.value = 30
    assert panel.true_risk["hypertension"] > base_true["hypertension"]
    assert panel.true_risk["diabetes"] == pytest.approx(base_true["diabetes"])
    assert panel.model_risk != base_model  # the model saw different inputs
    rows = panel.modified_observations()
    orig = cohort.observations[(cohort.observations["patient_id"] == pid) & (cohort.observations["variable"] == "sbp")]
    np.testing.assert_allclose(rows[rows["variable"] == "sbp"]["value"].to_numpy(), orig["value"].to_numpy() + 30)
    panel.sbp.value = 0
    assert panel.model_risk == pytest.approx(base_model)


def test_whatif_shows_the_association_not_causation_caveat(setup):
    from medbench.widgets.patient_explorer import WHATIF_CAVEAT

    cohort, data, scaler, model = setup
    panel = WhatIfPanel(cohort, model, scaler, VARS, OUTCOMES, int(data["test"].patient_ids[0]), max_len=12)
    assert panel.children[0] is panel.caveat and panel.caveat.value == WHATIF_CAVEAT  # first thing shown
    assert "not causation" in panel.caveat.value
    assert "association" in panel.table.value
