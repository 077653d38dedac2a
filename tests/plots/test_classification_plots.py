"""Classifier figures: the reliability diagram uses quantile bins and states slope and intercept."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from medbench.errors import ConfigError
from medbench.metrics import calibration_slope_intercept
from medbench.plots.classification import plot_calibration, plot_evaluation

matplotlib.use("Agg")


def _cohort(n=4000, seed=0, stretch=1.0):
    """Labels drawn from p = sigmoid(z); the returned score is sigmoid(stretch * z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.5, 1.2, n)  # skewed: most probabilities are small
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return y, 1 / (1 + np.exp(-stretch * z))


def _curve(ax):
    """The reliability curve: the line with markers 'o'."""
    (line,) = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    return line


def test_quantile_bins_hold_equal_numbers_of_cases_where_uniform_bins_are_sparse():
    import matplotlib.pyplot as plt

    y, p = _cohort()
    fig_q = plot_calibration(y, p, n_bins=10)
    xq = np.asarray(_curve(fig_q.axes[0]).get_xdata())
    assert len(xq) == 10  # every quantile bin holds ~400 cases, none is empty
    edges = np.quantile(p, np.linspace(0, 1, 11))
    counts = np.histogram(p, edges)[0]
    assert counts.min() >= 0.9 * len(p) / 10
    # the points are the bins' mean predictions: one inside each quantile bin
    assert np.all((xq >= edges[:-1] - 1e-12) & (xq <= edges[1:] + 1e-12))
    fig_u = plot_calibration(y, p, n_bins=10, strategy="uniform")
    xu = np.asarray(_curve(fig_u.axes[0]).get_xdata())
    # equal widths on [0, 1]: most cases fall in the first bins, the top ones hold a handful or none
    assert np.histogram(p, np.linspace(0, 1, 11))[0][-1] < 10
    assert len(xu) != len(xq) or not np.allclose(xu, xq)
    plt.close("all")


def test_legend_states_slope_and_intercept_and_they_flag_overconfidence():
    import matplotlib.pyplot as plt

    y, p = _cohort()
    slope, intercept = calibration_slope_intercept(y, p)
    assert abs(slope - 1) < 0.15 and abs(intercept) < 0.15  # the true probabilities are calibrated
    text = " ".join(t.get_text() for t in plot_calibration(y, p).axes[0].get_legend().get_texts())
    assert f"slope {slope:.2f}" in text and f"intercept {intercept:+.2f}" in text
    assert "10 quantile bins" in text
    # predictions twice as extreme (logit doubled): slope about 1/2
    y2, p2 = _cohort(stretch=2.0)
    slope2, _ = calibration_slope_intercept(y2, p2)
    assert 0.4 < slope2 < 0.6
    text2 = " ".join(t.get_text() for t in plot_calibration(y2, p2).axes[0].get_legend().get_texts())
    assert f"slope {slope2:.2f}" in text2
    plt.close("all")


def test_one_class_only_draws_without_slope_and_bad_arguments_raise():
    import matplotlib.pyplot as plt

    text = " ".join(t.get_text() for t in plot_calibration(np.zeros(50, int), np.linspace(0.01, 0.5, 50))
                    .axes[0].get_legend().get_texts())
    assert "Brier" in text and "slope" not in text
    y, p = _cohort(200)
    with pytest.raises(ConfigError, match="strategy"):
        plot_calibration(y, p, strategy="kmeans")
    with pytest.raises(ConfigError, match="n_bins"):
        plot_calibration(y, p, n_bins=1)
    plt.close("all")


def test_plot_evaluation_draws_the_quantile_reliability_diagram_with_two_column_scores():
    import matplotlib.pyplot as plt

    y, p = _cohort(1000)
    fig = plot_evaluation(y, np.column_stack([1 - p, p]), calibration_bins=5)
    assert len(fig.axes) == 4
    assert len(_curve(fig.axes[3]).get_xdata()) == 5
    assert "slope" in " ".join(t.get_text() for t in fig.axes[3].get_legend().get_texts())
    plt.close("all")
