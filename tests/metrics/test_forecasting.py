import numpy as np
import pytest

from medbench.errors import ConfigError, DataError
from medbench.metrics import coverage, mase, mase_scale, pinball_loss, smape


def test_mase_hand_case():
    y_train = np.array([1.0, 2, 3, 4, 5, 6, 7, 9, 10, 11])  # lag-7 differences: 8, 8, 8 -> scale 8
    assert mase_scale(y_train, m=7) == pytest.approx(8.0)
    # errors 4 and 12 -> MAE 8 -> MASE 1
    assert mase([10.0, 20.0], [14.0, 8.0], y_train, m=7) == pytest.approx(1.0)
    assert mase([10.0, 20.0], [10.0, 22.0], scale=4.0) == pytest.approx(0.25)
    # non-seasonal scale m=1: differences all 1 except 9-7=2 -> mean 10/9
    assert mase_scale(y_train, m=1) == pytest.approx(10 / 9)


def test_seasonal_naive_mase_on_its_training_data_is_one():
    rng = np.random.default_rng(0)
    y = 100 + 10 * np.sin(np.arange(400) * 2 * np.pi / 7) + rng.normal(0, 3, 400).cumsum()
    in_sample_forecast = y[:-7]  # the seasonal naive forecast of y[7:]
    assert mase(y[7:], in_sample_forecast, y, m=7) == pytest.approx(1.0)


def test_pinball_hand_case():
    # tau 0.9: under-forecast by 10 costs 9, over-forecast by 10 costs 1
    assert pinball_loss([10.0], [0.0], 0.9) == pytest.approx(9.0)
    assert pinball_loss([0.0], [10.0], 0.9) == pytest.approx(1.0)
    assert pinball_loss([0.0, 10.0], [10.0, 0.0], 0.9) == pytest.approx(5.0)
    # median: half the absolute error
    assert pinball_loss([1.0, 2, 3], [2.0, 2, 2], 0.5) == pytest.approx(1 / 3)


def test_smape_and_coverage():
    assert smape([100.0], [100.0]) == 0.0
    assert smape([100.0], [50.0]) == pytest.approx(200 * 50 / 150)
    assert smape([0.0], [0.0]) == 0.0
    assert coverage([1.0, 5, 10], [0.0, 0, 0], [2.0, 4, 10]) == pytest.approx(2 / 3)


def test_bad_input_names_it():
    with pytest.raises(DataError, match="y_true"):
        mase([np.nan, 1.0], [1.0, 1.0], scale=1.0)
    with pytest.raises(DataError, match="shape"):
        pinball_loss([1.0, 2.0], [1.0], 0.5)
    with pytest.raises(ConfigError, match="tau"):
        pinball_loss([1.0], [1.0], 1.5)
    with pytest.raises(ConfigError, match="m "):
        mase_scale([1.0, 2, 3], m=0)
    with pytest.raises(DataError, match="more than m"):
        mase_scale([1.0, 2, 3], m=7)
    with pytest.raises(DataError, match="scale is 0"):
        mase_scale(np.tile([1.0, 2, 3], 5), m=3)
    with pytest.raises(DataError, match="lower exceeds upper"):
        coverage([1.0], [2.0], [0.0])
