"""Chapter 06 census dashboard driven from Python: ward, method, horizon, origin."""
from __future__ import annotations

import numpy as np
import pytest

from medbench.data.hospital import simulate_hospital
from medbench.errors import ConfigError
from medbench.metrics import mase
from medbench.tasks import forecasting as F
from medbench.widgets.census_dashboard import CensusDashboard, truncate

QUICK = ("seasonal_naive", "sarima", "oracle")


@pytest.fixture(scope="module")
def setup():
    sim = simulate_hospital(520, seed=3)
    origins = F.choose_origins(len(sim.daily), 4, 14, step=14)

    def compute(ward):
        return F.rolling_origin(sim, ward, origins=origins, horizon=14, methods=QUICK)

    return sim, compute, {"medical": compute("medical")}


def test_dashboard_follows_horizon_method_and_ward(setup):
    sim, compute, results = setup
    calls = []

    def counted(ward):
        calls.append(ward)
        return compute(ward)

    dash = CensusDashboard(sim, results, compute=counted)
    assert dash.method.value == "seasonal_naive" and len(dash.image.value) > 1000
    r = results["medical"]["seasonal_naive"]
    assert dash.mase_value == pytest.approx(r.mase())
    dash.horizon.value = 1
    assert dash.mase_value == pytest.approx(r.mase(1))  # MASE over day 1 only
    png = dash.image.value
    dash.method.value = "oracle"
    assert dash.mase_value == pytest.approx(results["medical"]["oracle"].mase(1))
    assert dash.image.value != png
    assert set(dash.table.index) == set(QUICK) and "days 1–1" in dash.info.value
    dash.horizon.value = 7
    t = truncate(r, 7)
    assert dash.table.loc["seasonal_naive", "MASE"] == pytest.approx(mase(t.truth, t.mean, scale=t.scale))
    assert not calls
    dash.ward.value = "surgical"  # computed on first use, once
    assert calls == ["surgical"] and "surgical" in dash.info.value
    dash.origin.value = 0
    dash.ward.value = "medical"
    dash.ward.value = "surgical"
    assert calls == ["surgical"]


def test_truncate_and_bad_input(setup):
    sim, _, results = setup
    r = results["medical"]["oracle"]
    t = truncate(r, 3)
    assert t.mean.shape == t.truth.shape == t.q[0.1].shape == (len(r.origins), 3)
    assert np.array_equal(t.mean, r.mean[:, :3])
    with pytest.raises(ConfigError, match="horizon"):
        truncate(r, 0)
    with pytest.raises(ConfigError, match="results"):
        CensusDashboard(sim, {})
    only = CensusDashboard(sim, results)
    assert list(only.ward.options) == ["medical"]
