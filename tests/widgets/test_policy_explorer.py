"""Chapter 06 policy explorer driven from Python: change the ward, solve, read the policies' costs."""
from __future__ import annotations

import numpy as np
import pytest

from medbench.tasks import operations as O
from medbench.widgets.policy_explorer import PolicyExplorer

SMALL = O.AdmissionMDP(capacity=6, max_census=9, max_wait=5, max_admit=2, p_discharge=0.3, emergency_rate=1.0,
                       referral_rate=0.8, overflow_cost=8.0)


def test_explorer_solves_the_ward_on_the_sliders():
    ex = PolicyExplorer(SMALL, n_years=4, tune_years=3, n_boot=50)
    assert ex.solution["policy"].shape == SMALL.shape
    assert set(ex.costs.index) == {"optimal", "admit_all", "threshold", "forecast"}
    assert ex.costs.loc["optimal", "ratio"] == 1.0 and len(ex.years["optimal"]) == 365
    png = ex.image.value
    assert len(png) > 1000
    # a dearer overflow makes the optimal policy admit no more, anywhere, than before
    before = ex.solution["policy"].copy()
    ex.overflow_cost.value = 40.0
    assert "press" in ex.info.value and ex.mdp.overflow_cost == 8.0  # nothing recomputed until the button
    ex.solve_button.click()
    assert ex.mdp.overflow_cost == 40.0 and ex.image.value != png
    assert (ex.solution["policy"] <= before).all() and (ex.solution["policy"] < before).any()
    # fewer beds: the solution is the exact optimum of the new ward
    ex.capacity.value = 5
    ex.solve_button.click()
    ref = O.solve(O.AdmissionMDP(**{**SMALL.__dict__, "capacity": 5, "overflow_cost": 40.0}))
    assert np.array_equal(ex.solution["policy"], ref["policy"])
    # the simulated year is the same random year for every policy, so the optimum's year costs least on average
    assert ex.costs["cost"].idxmin() == "optimal" or ex.costs["ratio"].min() >= 0.97


def test_simulate_year_matches_simulate_policy():
    sol = O.solve(SMALL)
    year = O.simulate_year(SMALL, sol["policy"], seed=5)
    assert list(year.columns) == ["census", "waiting", "admitted", "cost"] and len(year) == 365
    assert year["cost"].mean() == pytest.approx(O.simulate_policy(SMALL, sol["policy"], n_years=1, seed=5)[0])
    assert (year["admitted"] <= year["waiting"]).all()
