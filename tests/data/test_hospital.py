import numpy as np
import pandas as pd
import pytest

from medbench.data.hospital import (
    N_LAGS,
    WARDS,
    WardSpec,
    check_daily_series,
    lag_features,
    los_survival,
    oracle_forecast,
    simulate_hospital,
    ward_frame,
)
from medbench.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def sim():
    return simulate_hospital(730, seed=3)


def test_census_is_admissions_minus_discharges(sim):
    d = sim.daily
    for w in sim.wards:
        c = d[f"{w}_census"].to_numpy()
        assert (np.diff(c) == (d[f"{w}_admissions"] - d[f"{w}_discharges"]).to_numpy()[1:]).all()
        assert (d[f"{w}_admissions"] == d[f"{w}_emergency"] + d[f"{w}_elective"]).all()
        # the census is the number of stays that cover each midnight
        for day in (0, 100, 500):
            assert len(sim.present(w, day)) == c[day]
        assert (c >= 0).all()


def test_seasonality_and_schedule(sim):
    d = sim.daily
    dow = d.index.dayofweek
    assert (d.loc[dow >= 5, "surgical_elective"] == 0).all()
    assert (d.loc[d["holiday"], "surgical_elective"] == 0).all()
    em = d["medical_emergency"]
    assert em[dow == 0].mean() > em[dow == 5].mean()  # Mondays busier than Saturdays
    winter = d.index.month.isin([12, 1, 2])
    summer = d.index.month.isin([6, 7, 8])
    assert d.loc[winter, "medical_rate"].mean() > d.loc[summer, "medical_rate"].mean()


def test_same_seed_same_hospital():
    a, b = simulate_hospital(60, seed=1), simulate_hospital(60, seed=1)
    pd.testing.assert_frame_equal(a.daily, b.daily)


def test_los_survival_matches_draws():
    s = los_survival(4.0, 0.8)
    assert s[0] == 1.0 and s[-1] == 0.0 and (np.diff(s) <= 0).all()
    rng = np.random.default_rng(0)
    los = np.ceil(rng.lognormal(np.log(4.0), 0.8, 200_000))
    assert np.mean(los > 4) == pytest.approx(s[4], abs=0.005)


def test_oracle_is_unbiased_and_calibrated_on_a_long_run():
    sim = simulate_hospital(1460, seed=5)
    c = sim.census("medical").to_numpy()
    errs, inside, z = [], [], []
    for o in range(30, 1440, 11):
        f = oracle_forecast(sim, "medical", o, horizon=7)
        e = c[o + 1:o + 8] - f["mean"]
        errs.append(e)
        z.append(e / np.sqrt(f["var"]))
        inside.append((c[o + 1:o + 8] >= f["q"][0.1]) & (c[o + 1:o + 8] <= f["q"][0.9]))
    errs, z = np.array(errs), np.array(z)
    # mean error within ~3 standard errors of 0 (origins 11 days apart: nearly independent)
    se = errs.std(0) / np.sqrt(len(errs))
    assert (np.abs(errs.mean(0)) < 3.5 * se).all(), (errs.mean(0), se)
    assert z.std() == pytest.approx(1.0, abs=0.12)
    assert np.mean(inside) == pytest.approx(0.8, abs=0.05)


def test_oracle_quantiles_are_ordered(sim):
    f = oracle_forecast(sim, "surgical", 200, horizon=14)
    assert (f["q"][0.025] <= f["q"][0.1]).all() and (f["q"][0.1] <= f["q"][0.9]).all()
    assert (np.diff(f["var"]) > -5).all()  # uncertainty does not shrink much with the horizon


def test_bad_input_names_it(sim):
    with pytest.raises(ConfigError, match="capacity"):
        simulate_hospital(60, wards={"x": WardSpec(5.0, 1, 3.0, 0.5, 2.0, 0.5, capacity=-3, surge=0.0)})
    with pytest.raises(ConfigError, match="horizon"):
        oracle_forecast(sim, "medical", 100, horizon=0)
    with pytest.raises(ConfigError, match="ward"):
        oracle_forecast(sim, "icu", 100)
    with pytest.raises(ConfigError, match="days"):
        simulate_hospital(5)
    with pytest.raises(ConfigError, match="seed"):
        simulate_hospital(60, seed=-1)
    s = sim.census("medical")
    with pytest.raises(DataError, match="gaps"):
        check_daily_series(s.drop(s.index[10:12]), "census")
    bad = s.astype(float).copy()
    bad.iloc[3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        check_daily_series(bad, "census")
    assert set(WARDS) == {"medical", "surgical"}


def test_ward_frame_rejects_unknown_wards_gaps_and_nan(sim):
    frame = ward_frame(sim, "medical")
    assert list(frame.columns) == ["census", "emergency", "elective", "discharges", "holiday"]
    assert np.array_equal(frame["census"].to_numpy(), sim.census("medical").to_numpy())
    with pytest.raises(ConfigError, match="ward"):
        ward_frame(sim, "icu")
    broken = simulate_hospital(60, seed=0)
    broken.daily = broken.daily.drop(broken.daily.index[5])
    with pytest.raises(DataError, match="gaps"):
        ward_frame(broken, "medical")
    nan = simulate_hospital(60, seed=0)
    nan.daily = nan.daily.astype({"medical_census": float})
    nan.daily.loc[nan.daily.index[3], "medical_census"] = np.nan
    with pytest.raises(DataError, match="NaN"):
        ward_frame(nan, "medical")


def test_lag_features_rows_see_only_the_past_and_known_schedule(sim):
    frame = ward_frame(sim, "medical")
    c = frame["census"].to_numpy()
    origins, H = [100, 200, len(c) - 3], 5
    X, y = lag_features(frame, origins, H)
    assert X.shape == (len(origins) * H, 41) and y.shape == (len(origins) * H,)
    assert X[0, 0] == c[100] and X[1, -1] == 2  # census at the origin; h of the second row
    assert y[H * 1 + 2] == c[203] - c[200]  # target: the census change h days ahead
    assert np.isnan(y[-3:]).all() and np.isfinite(y[:-3]).all()  # h = 3..5 after the last origin: beyond the data
    # the future census, emergencies and discharges are unknown at the origin: they change no feature
    future = frame.copy()
    future.loc[frame.index[201:], ["census", "emergency", "discharges"]] = 0.0
    assert np.array_equal(lag_features(future, [200], H)[0], X[H:2 * H])
    assert N_LAGS == 14
    with pytest.raises(ConfigError, match="origins"):
        lag_features(frame, [5], H)  # too little history: c[5 - 13] would wrap to the end
    with pytest.raises(ConfigError, match="origins"):
        lag_features(frame, [len(c)], H)
    with pytest.raises(ConfigError, match="horizon"):
        lag_features(frame, [100], 0)
