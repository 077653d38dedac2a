"""DP-SGD study: a non-private model that memorises leaks membership; DP-SGD at epsilon 8 leaks little."""
from __future__ import annotations

import math

import pytest
from torch import nn

from medbench.errors import ConfigError
from medbench.tasks.privacy import DPConfig, fix_for_dp, noise_multiplier, run_dp_study

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: threads only contend


def test_study_leakage_and_utility():
    cfg = DPConfig(n_train=100, n_test=400, epochs=150, dp_epochs=10, n_models=4, epsilons=(8.0, math.inf),
                   n_boot=20, seed=0)
    st = run_dp_study(cfg)
    t = st.table.set_index("epsilon")
    assert t.loc[math.inf, "mia_auc"] > 0.65 and t.loc[math.inf, "train_loss"] < 0.05   # memorised
    assert t.loc[8.0, "mia_auc"] < 0.6 and t.loc[8.0, "mia_auc"] < t.loc[math.inf, "mia_auc"] - 0.1
    assert t.loc[8.0, "epsilon_spent"] == pytest.approx(8.0, abs=0.1)
    assert 0.5 < t.loc[8.0, "auroc"] <= st.bayes_auroc + 0.02
    assert st.test_prob["8"].shape == (400, 4) and st.is_member.sum() == 4 * 100
    assert len(st.attack_scores["inf"]["lira"]) == 4 * 200


def test_fix_for_dp_removes_inplace_and_batchnorm():
    m = fix_for_dp(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(inplace=True), nn.Linear(4, 1)))
    assert not any(isinstance(x, nn.BatchNorm1d) for x in m.modules())
    assert not any(getattr(x, "inplace", False) for x in m.modules())


def test_noise_grows_as_epsilon_shrinks():
    s3, s8 = (noise_multiplier(e, 1e-5, 0.5, 20) for e in (3.0, 8.0))
    assert s3 > s8 > 0.5


@pytest.mark.parametrize("bad", [dict(epsilons=(0.0,)), dict(delta=0.1), dict(n_models=3), dict(accountant="gdp")])
def test_bad_config(bad):
    with pytest.raises(ConfigError):
        DPConfig(**bad)
