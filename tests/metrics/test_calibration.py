"""Calibration slope and intercept (logistic recalibration) on probabilities with known miscalibration."""
from __future__ import annotations

import numpy as np
import pytest

from medbench.errors import DataError
from medbench.metrics import calibration_slope_intercept


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
