import numpy as np
import pytest
import torch

from medbench.data.hospital import simulate_hospital, ward_frame
from medbench.errors import ConfigError
from medbench.metrics import mase
from medbench.tasks import forecasting as F


@pytest.fixture(scope="module")
def sim():
    return simulate_hospital(700, seed=2)


@pytest.fixture(scope="module")
def results(sim):
    torch.set_num_threads(1)
    origins = F.choose_origins(len(sim.daily), 8, 14, step=14)
    return F.rolling_origin(sim, "medical", origins=origins, horizon=14, seed=0,
                            methods=("seasonal_naive", "ets", "sarima", "gbm", "lstm", "oracle"),
                            lstm={"epochs": 2, "hidden": 16, "val_days": 60}, gbm={"max_iter": 30})


def test_seasonal_naive_repeats_last_week():
    y = np.arange(30.0)
    f = F.seasonal_naive(y, 10)
    assert np.allclose(f["mean"], [23, 24, 25, 26, 27, 28, 29, 23, 24, 25])
    assert (f["q"][0.1] <= f["q"][0.9]).all()


def test_rolling_origin_uses_eight_origins_and_the_oracle_wins(results):
    assert set(results) == set(F.METHODS)
    for r in results.values():
        assert r.mean.shape == r.truth.shape == (8, 14)
        assert np.isfinite(r.mean).all()
    assert results["seasonal_naive"].mase() == pytest.approx(
        mase(results["seasonal_naive"].truth, results["seasonal_naive"].mean, scale=results["seasonal_naive"].scale))
    assert results["oracle"].mase() < results["seasonal_naive"].mase()
    assert 0.5 < results["oracle"].coverage(0.8) <= 1.0
    lstm = results["lstm"]
    assert set(lstm.q) == set(F.QUANTILES) and (lstm.q[0.1] <= lstm.q[0.9]).all()
    table = F.summary_table(results)
    assert {"MASE", "coverage 80%", "pinball"} <= set(table.columns)


def test_forecasts_use_only_the_past(sim):
    frame = ward_frame(sim, "medical")
    origin = 500
    future_changed = frame.copy()
    # the future census, emergencies and discharges are unknown; the elective schedule and the
    # holiday calendar are known in advance and may be used
    future_changed.loc[frame.index[origin + 1:], ["census", "emergency", "discharges"]] = 0.0
    a = F.GBMForecaster(14, max_iter=20).fit(frame, origin).predict(frame, origin)
    b = F.GBMForecaster(14, max_iter=20).fit(future_changed, origin).predict(future_changed, origin)
    assert np.allclose(a, b)


def test_kfold_flatters_the_model(sim, results):
    origins = results["gbm"].origins
    out = F.kfold_optimism(sim, "medical", origins=origins, horizon=14, gbm={"max_iter": 30}, rolling=results["gbm"])
    assert out["kfold_optimism"] < 0
    assert out["kfold_mase"] == pytest.approx(out["rolling_mase"] + out["kfold_optimism"])


def test_bad_input_names_it(sim):
    with pytest.raises(ConfigError, match="horizon"):
        F.seasonal_naive(np.arange(30.0), 0)
    with pytest.raises(ConfigError, match="horizon"):
        F.rolling_origin(sim, "medical", origins=[500], horizon=0)
    with pytest.raises(ConfigError, match="methods"):
        F.rolling_origin(sim, "medical", origins=[500], methods=("prophet",))
    with pytest.raises(ConfigError, match="origins"):
        F.choose_origins(300, 8, 14)
    with pytest.raises(ConfigError, match="ward"):
        F.rolling_origin(sim, "icu", origins=[500])


def test_lstm_intervals_are_conformalized_on_the_past_only(sim, results):
    frame = ward_frame(sim, "medical")
    m = results["lstm"].model
    assert m.calibration == "rolling"
    o = int(results["lstm"].origins[-1])
    changed = frame.copy()
    changed.loc[frame.index[o + 1:], ["census", "emergency", "discharges"]] = 0.0
    a, b = m.predict(frame, o), m.predict(changed, o)
    for t in F.QUANTILES:
        assert np.allclose(a["q"][t], b["q"][t])  # the calibration window ends with outcomes known at o
    m.calibration = "none"
    raw = m.predict(frame, o)
    m.calibration = "rolling"
    assert np.allclose(raw["q"][0.5], a["q"][0.5]) and not np.allclose(raw["q"][0.1], a["q"][0.1])
    assert (a["q"][0.1] <= a["q"][0.5]).all() and (a["q"][0.5] <= a["q"][0.9]).all()
    with pytest.raises(ConfigError, match="calibration"):
        F.LSTMForecaster(calibration="cqr")


def test_gbm_refit_every_k_origins_forecasts_with_its_last_fit(sim):
    frame = ward_frame(sim, "medical")
    origins = F.choose_origins(len(sim.daily), 3, 14, step=7)
    r = F.rolling_origin(sim, "medical", origins=origins, methods=("gbm",), gbm={"max_iter": 20}, refit_every=3)
    first = F.GBMForecaster(14, max_iter=20).fit(frame, int(origins[0]))
    for k, o in enumerate(origins):
        assert np.allclose(r["gbm"].mean[k], first.predict(frame, int(o)))
