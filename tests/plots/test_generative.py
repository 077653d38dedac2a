from __future__ import annotations

import numpy as np

from medbench.data.warfarin import simulate_warfarin
from medbench.plots import generative as P
from medbench.tasks.dosing import iwpc_dose
from medbench.training import GANHistory


def test_figures_draw_from_samples_and_tables():
    t = simulate_warfarin(300, seed=0).table
    rng = np.random.default_rng(0)
    s = {"cvae": np.exp(np.log(t["dose"].values)[:, None] + 0.3 * rng.standard_normal((300, 50))),
         "naive": np.tile(t["dose"].values[:, None], (1, 50)) * (1 + 1e-4 * rng.standard_normal((300, 50)))}
    figs = [P.plot_dose_distribution({k: v[0] for k, v in s.items()}, iwpc=30.0, true=28.0),
            P.plot_example_patients(t, s, iwpc_dose(t)),
            P.plot_gan_losses(GANHistory([1.4, 1.38], [0.7, 0.69])),
            P.plot_spread(s, 0.3),
            P.plot_marginals(t, t.sample(frac=1.0, random_state=1)),
            P.plot_correlations(t, t)]
    for f in figs:
        assert f.axes
    assert "VKORC1" in P.describe_patient(t.iloc[0])
