"""Chapter 04's report tables: at-risk sets, paired intervals on the same resamples, subgroup CIs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medbench.errors import DataError
from medbench.metrics import auroc, bootstrap_ci, paired_bootstrap_diff
from medbench.plots.ehr import outcome_table, paired_table, plot_calibration_grid, subgroup_table

OUT = ["a", "b"]


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(0)
    n = 600
    risk = 1 / (1 + np.exp(-rng.normal(-1.2, 1.2, (n, 2))))
    y = (rng.random((n, 2)) < risk).astype(int)
    good = np.clip(risk + rng.normal(0, 0.05, (n, 2)), 0.001, 0.999)
    poor = np.clip(risk + rng.normal(0, 0.25, (n, 2)), 0.001, 0.999)
    at_risk = np.ones((n, 2), bool)
    at_risk[:150, 0] = False  # the first 150 are prevalent cases of outcome "a"
    patients = pd.DataFrame({"sex": np.where(np.arange(n) % 2, "M", "F"), "age": rng.uniform(30, 80, n)})
    return y, {"good": good, "poor": poor}, {o: risk[:, j] for j, o in enumerate(OUT)}, at_risk, patients


def test_outcome_table_scores_only_the_at_risk_patients(scores):
    y, probs, bayes, at_risk, _ = scores
    t = outcome_table(y, probs, OUT, bayes, n_boot=30, seed=1, at_risk=at_risk).set_index(["outcome", "model"])
    sel = at_risk[:, 0]
    assert t.loc[("a", "good"), "n"] == sel.sum() and t.loc[("b", "good"), "n"] == len(y)
    assert t.loc[("a", "good"), "auroc"] == pytest.approx(auroc(y[sel, 0], probs["good"][sel, 0]))
    assert t.loc[("a", "bayes (true risk)"), "bayes_auroc"] == pytest.approx(auroc(y[sel, 0], bayes["a"][sel]))
    # the same resamples as bootstrap_ci with the same seed
    lo = bootstrap_ci(auroc, y[sel, 0], probs["good"][sel, 0], n_boot=30, seed=1)[1]
    assert t.loc[("a", "good"), "auroc_low"] == pytest.approx(lo)
    assert t.loc[("a", "bayes (true risk)"), "cal_slope"] == pytest.approx(1.0, abs=0.35)
    # a Bayes risk of another length (not aligned by patient id) is refused, not silently scored
    with pytest.raises(DataError, match="patient id"):
        outcome_table(y, probs, OUT, {o: b[:-1] for o, b in bayes.items()}, n_boot=10)
    with pytest.raises(DataError):
        outcome_table(y, probs, OUT, bayes, n_boot=10, at_risk=at_risk[:, :1])


def test_paired_table_gives_the_interval_of_the_difference(scores):
    y, probs, bayes, at_risk, _ = scores
    best = {"a": "good", "b": "poor"}
    t = paired_table(y, {**probs, "bayes": bayes}, OUT, [("good", "poor"), ("bayes", best)], n_boot=50, seed=2,
                     at_risk=at_risk).set_index(["outcome", "a", "b"])
    sel = at_risk[:, 0]
    expected = paired_bootstrap_diff(auroc, y[sel, 0], probs["good"][sel, 0], probs["poor"][sel, 0], n_boot=50, seed=2)
    assert tuple(t.loc[("a", "good", "poor"), ["diff", "low", "high"]]) == pytest.approx(expected)
    assert t.loc[("a", "good", "poor"), "excludes_0"]  # 0.05 vs 0.25 noise: clearly different
    assert ("b", "bayes", "poor") in t.index and ("a", "bayes", "good") in t.index
    row = t.loc[("b", "bayes", "poor")]
    assert row["low"] <= row["diff"] <= row["high"]


def test_subgroup_table_has_intervals(scores):
    y, probs, _, at_risk, patients = scores
    t = subgroup_table(y, probs["good"], patients, OUT, at_risk=at_risk, n_boot=30, seed=0).set_index("value")
    f = (patients["sex"] == "F").to_numpy()
    assert t.loc["F", "events_a"] == y[f & at_risk[:, 0], 0].sum()
    assert t.loc["F", "auroc_a_low"] < t.loc["F", "auroc_a"] < t.loc["F", "auroc_a_high"]
    fig = plot_calibration_grid(y, probs, OUT, at_risk=at_risk)
    assert len(fig.axes) == 2 and "n=450" in fig.axes[0].get_title()
