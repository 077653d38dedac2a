"""Chapter 08 figures draw from the shapes the task and anonymity modules return."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from medbench.plots.privacy import plot_attack_roc, plot_class_sizes, plot_dp_tradeoff


def test_figures():
    t = pd.DataFrame({"epsilon": [1.0, 8.0, math.inf], "auroc": [0.55, 0.66, 0.66], "auroc_lo": [0.5, 0.64, 0.64],
                      "auroc_hi": [0.6, 0.68, 0.68], "mia_loss_auc": [0.5, 0.52, 0.7], "mia_lira_auc": [0.5, 0.53, 0.8]})
    fig = plot_dp_tradeoff(t, 0.76, 0.72)
    assert len(fig.axes) == 2 and [x.get_text() for x in fig.axes[0].get_xticklabels()][-1] == "∞"
    rng = np.random.default_rng(0)
    member = rng.random(200) < 0.5
    fig = plot_attack_roc(member, {"8": {"lira": rng.random(200)}, "inf": {"lira": member + rng.random(200)}})
    assert len(fig.axes[0].lines) == 4
    fig = plot_class_sizes(pd.Series([1, 1, 2, 3]), pd.Series([5, 5, 5, 5, 5, 9]), k=5)
    assert fig.axes[0].get_xscale() == "log"
