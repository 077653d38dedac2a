from __future__ import annotations

import numpy as np
import pytest

from medbench.errors import ConfigError
from medbench.metrics import crps_samples, dose_mae, dose_r2, dose_scores, interval_coverage, interval_width, pw20


def test_pw20_and_mae_by_hand():
    y = np.array([50.0, 20.0, 35.0, 10.0])
    p = np.array([59.0, 25.0, 35.0, 8.0])  # +18% in, +25% out, exact in, -20% in (boundary)
    assert pw20(y, p) == pytest.approx(0.75)
    assert dose_mae(y, p) == pytest.approx((9 + 5 + 0 + 2) / 4)
    assert dose_r2(y, y) == 1.0
    with pytest.raises(ConfigError, match="equal length"):
        pw20(y, p[:2])


def test_crps_of_a_point_is_the_absolute_error_and_matches_the_definition():
    y = np.array([30.0, 40.0])
    point = np.array([[33.0] * 5, [40.0] * 5])
    assert crps_samples(y, point) == pytest.approx(1.5)
    rng = np.random.default_rng(0)
    s = rng.normal(35, 5, size=(2, 60))
    brute = [np.mean(np.abs(si - yi)) - 0.5 * np.mean(np.abs(si[:, None] - si[None, :])) for si, yi in zip(s, y)]
    assert crps_samples(y, s, reduce=False) == pytest.approx(brute)
    # a calibrated spread scores better than a point at the median when truth varies
    truth = rng.normal(35, 5, size=500)
    wide = np.tile(rng.normal(35, 5, size=400), (500, 1))
    assert crps_samples(truth, wide) < crps_samples(truth, np.full((500, 1), 35.0))


def test_interval_coverage_and_width():
    rng = np.random.default_rng(1)
    s = rng.normal(0, 1, size=(2000, 500))
    y = rng.normal(0, 1, size=2000)
    assert interval_coverage(y, s, 0.8) == pytest.approx(0.8, abs=0.03)
    assert interval_width(s, 0.8) == pytest.approx(2 * 1.2816, abs=0.05)
    assert interval_coverage(y, np.zeros((2000, 10))) < 0.01
    with pytest.raises(ConfigError, match="samples must be"):
        interval_coverage(y, s[:10])


def test_dose_scores_keys():
    y = np.array([30.0, 40.0, 20.0])
    s = np.tile(y[:, None], (1, 11))
    out = dose_scores(y, s)
    assert out["mae"] == 0 and out["pw20"] == 1 and out["coverage"] == 1 and out["crps"] == 0
    assert set(dose_scores(y, point=y)) == {"mae", "pw20", "r2"}
