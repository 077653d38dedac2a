"""Calibration slope and intercept (logistic recalibration) on probabilities with known miscalibration."""
from __future__ import annotations

import numpy as np
import pytest

from medbench.errors import DataError
from medbench.metrics import bootstrap_ci, calibration_intercept, calibration_slope, calibration_slope_intercept


@pytest.fixture(scope="module")
def draws():
    rng = np.random.default_rng(0)
    lp = rng.normal(-1.0, 1.5, 40_000)
    y = rng.random(len(lp)) < 1 / (1 + np.exp(-lp))
    return lp, y


def test_true_probabilities_are_calibrated(draws):
    lp, y = draws
    slope, intercept = calibration_slope_intercept(y, 1 / (1 + np.exp(-lp)))
    assert slope == pytest.approx(1.0, abs=0.03) and intercept == pytest.approx(0.0, abs=0.03)


def test_overconfident_and_shifted_predictions(draws):
    lp, y = draws
    slope, _ = calibration_slope_intercept(y, 1 / (1 + np.exp(-2 * lp)))  # too extreme: slope 1/2
    assert slope == pytest.approx(0.5, abs=0.02)
    slope, intercept = calibration_slope_intercept(y, 1 / (1 + np.exp(-(lp - 1))))  # under-predicts by 1 logit
    assert slope == pytest.approx(1.0, abs=0.03) and intercept == pytest.approx(1.0, abs=0.04)


def test_errors():
    with pytest.raises(DataError):
        calibration_slope_intercept([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(DataError):
        calibration_slope_intercept([0, 1], [0.1, 0.2, 0.3])


def test_scalar_forms_bootstrap_and_skip_one_class_resamples(draws):
    lp, y = draws
    p = 1 / (1 + np.exp(-(lp[:400] - 1)))
    assert calibration_slope(y[:400], p) == calibration_slope_intercept(y[:400], p)[0]
    assert calibration_intercept(y[:400], p) == calibration_slope_intercept(y[:400], p)[1]
    assert np.isnan(calibration_slope([0, 0, 0], [0.1, 0.2, 0.3])) and np.isnan(calibration_intercept([1, 1], [.5, .5]))
    est, lo, hi = bootstrap_ci(calibration_intercept, y[:400], p, n_boot=200, seed=0)
    assert lo < est < hi and lo > 0  # under-predicts by 1 logit: the interval excludes 0
