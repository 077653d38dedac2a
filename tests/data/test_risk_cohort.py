"""The tabular risk cohort: shapes, determinism, and a known Bayes AUROC of about 0.75-0.8."""
from __future__ import annotations

import numpy as np
import pytest

from medbench.data.risk_cohort import simulate_risk_cohort
from medbench.errors import ConfigError
from medbench.metrics import auroc


def test_shapes_and_truth():
    c = simulate_risk_cohort(4000, n_labs=20, seed=3)
    assert c.X.shape == (4000, 20) and c.X.dtype == np.float32 and len(c.feature_names) == 20
    assert 0.2 < c.y.mean() < 0.4
    assert 0.72 < auroc(c.y, c.risk) < 0.82
    np.testing.assert_array_equal(simulate_risk_cohort(50, seed=3).X, simulate_risk_cohort(50, seed=3).X)


def test_bad_sizes():
    with pytest.raises(ConfigError):
        simulate_risk_cohort(5)
