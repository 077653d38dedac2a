"""The tremor simulator and its spectral baseline."""
from __future__ import annotations

import numpy as np
import pytest

from medbench.data.tremor import band_power, simulate_tremor
from medbench.errors import ConfigError


@pytest.fixture(scope="module")
def data():
    return simulate_tremor(n_patients=8, n_weeks=4, windows_per_week=10, seed=0)


def test_shapes_and_determinism(data):
    assert data.signals.shape == (8 * 4 * 10, 3, 200)
    assert len(data.meta) == len(data.signals)
    again = simulate_tremor(n_patients=8, n_weeks=4, windows_per_week=10, seed=0)
    np.testing.assert_array_equal(again.signals, data.signals)
    assert data.severity.min() >= 0 and data.severity.max() <= 4
    with pytest.raises(ConfigError):
        simulate_tremor(fs=10)


def test_gravity_is_one_g(data):
    mag = np.linalg.norm(data.signals.mean(-1), axis=1)
    rest = (data.meta["activity"] == "rest").to_numpy()
    assert np.median(mag[rest]) == pytest.approx(1.0, abs=0.05)


def test_tremor_peak_in_band_for_severe_rest_windows():
    d = simulate_tremor(n_patients=6, n_weeks=2, windows_per_week=20, seed=1)
    sel = ((d.meta["activity"] == "rest") & (d.meta["severity"] > 2.5)).to_numpy()
    assert sel.sum() > 5
    x = d.signals[sel] - d.signals[sel].mean(-1, keepdims=True)
    spec = np.abs(np.fft.rfft(x, axis=-1)).sum(1).mean(0)
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / d.fs)
    peak = freqs[1:][np.argmax(spec[1:])]
    assert 4.0 <= peak <= 6.0


def test_band_power_grows_with_severity_and_progression():
    d = simulate_tremor(n_patients=10, n_weeks=6, windows_per_week=20, seed=2)
    bp = band_power(d.signals, d.fs)
    rest = (d.meta["activity"] == "rest").to_numpy()
    assert np.corrcoef(bp[rest], d.severity[rest])[0, 1] > 0.6
    # severity changes over weeks as each patient's weekly_change says
    wk = d.meta.groupby(["patient_id", "week"])["severity"].mean().unstack()
    slope = (wk[5] - wk[0]) / 5
    np.testing.assert_allclose(slope, d.patients["weekly_change"].clip(-1, 1), atol=0.25)
