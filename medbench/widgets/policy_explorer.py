"""Chapter 06 widget: a policy explorer (capacity, overflow cost, waiting cost -> the optimal admission
policy and a simulated year of each policy).

State and handlers are plain Python: set ``ex.capacity.value = 18`` (or the cost sliders), call
``ex.solve_button.click()`` (solving takes a second or two, so it waits for the button), then read
``ex.mdp``, ``ex.solution["policy"]`` (the optimal table from value iteration), ``ex.costs`` (every
policy's cost ratio to the optimum over ``n_years`` simulated years, with its interval) and
``ex.years`` (one simulated year per policy, day by day). The heuristics' knobs are re-tuned for the
new ward; learned policies (Q-learning, actor-critic) are not retrained here, because they belong
to the ward they were trained on.
"""
from __future__ import annotations

from dataclasses import replace

import ipywidgets as W
import matplotlib.pyplot as plt

from medbench.plots import fig_to_png
from medbench.plots.operations import plot_policies, plot_policy_year
from medbench.tasks.operations import (
    AdmissionMDP,
    evaluate_policies,
    heuristic_policies,
    simulate_year,
    solve,
)

__all__ = ["PolicyExplorer"]


class PolicyExplorer(W.VBox):
    """Change the ward and its costs; solve it exactly and simulate a year of every policy.

    Args:
        mdp: the starting :class:`~medbench.tasks.operations.AdmissionMDP`.
        n_years: simulated years per policy for the cost table.
        tune_years: simulated years used to tune the heuristics' knobs.
        n_boot: bootstrap resamples of the cost-ratio intervals.
        seed: seed of the simulated years (the same years for every policy).
    """

    def __init__(self, mdp: AdmissionMDP | None = None, *, n_years: int = 10, tune_years: int = 10,
                 n_boot: int = 200, seed: int = 0):
        self.mdp = mdp or AdmissionMDP()
        self.n_years, self.tune_years, self.n_boot, self.seed = n_years, tune_years, n_boot, seed
        style = {"description_width": "120px"}
        m = self.mdp
        self.capacity = W.IntSlider(value=m.capacity, min=max(5, m.capacity // 2), max=m.max_census,
                                    description="beds", style=style)
        self.overflow_cost = W.FloatSlider(value=m.overflow_cost, min=1.0, max=50.0, step=1.0,
                                           description="overflow cost", style=style)
        self.waiting_cost = W.FloatSlider(value=m.waiting_cost, min=0.1, max=5.0, step=0.1,
                                          description="waiting cost / day", style=style)
        self.solve_button = W.Button(description="solve and simulate", button_style="primary")
        self.info = W.HTML()
        self.table_html = W.HTML()
        self.image = W.Image(format="png", layout=W.Layout(width="660px"))
        self.solution, self.costs, self.years, self.policies = {}, None, {}, {}
        self.solve_button.on_click(lambda _b: self.update())
        for c in (self.capacity, self.overflow_cost, self.waiting_cost):
            c.observe(lambda _c: self._stale(), names="value")
        super().__init__([W.HBox([W.VBox([self.capacity, self.overflow_cost, self.waiting_cost, self.solve_button]),
                                  self.table_html]), self.info, self.image])
        self.update()

    def _stale(self) -> None:
        self.info.value = "<i>settings changed: press “solve and simulate”</i>"

    def current_mdp(self) -> AdmissionMDP:
        """The ward described by the sliders (other parameters as given)."""
        return replace(self.mdp, capacity=int(self.capacity.value), overflow_cost=float(self.overflow_cost.value),
                       waiting_cost=float(self.waiting_cost.value))

    def update(self) -> None:
        """Solve the current ward by value iteration, tune the heuristics, simulate and redraw."""
        self.mdp = mdp = self.current_mdp()
        self.solution = solve(mdp)
        heur = heuristic_policies(mdp, tune_years=self.tune_years, seed=self.seed + 1)
        self.policies = {"optimal": self.solution["policy"], "admit_all": heur["admit_all"],
                         "threshold": heur["threshold"], "forecast": heur["forecast"]}
        self.costs = evaluate_policies(mdp, {k: v for k, v in self.policies.items() if k != "optimal"},
                                       self.solution["policy"], n_years=self.n_years, n_boot=self.n_boot, seed=self.seed)
        self.years = {k: simulate_year(mdp, p, seed=self.seed) for k, p in self.policies.items()}
        self.table_html.value = self.costs.round(3).to_html()
        self.info.value = (f"{mdp.capacity} beds, overflow {mdp.overflow_cost:g}, waiting {mdp.waiting_cost:g} per "
                           f"patient-day: optimal cost {self.costs.loc['optimal', 'cost']:.2f}/day over {self.n_years} "
                           f"simulated years; knobs {heur['knobs']}")
        fig = plt.figure(figsize=(9, 6))
        top = fig.subfigures(2, 1, height_ratios=[1, 1])
        axes = top[0].subplots(1, 2, sharey=True)
        plot_policies({"optimal (value iteration)": self.policies["optimal"],
                       "best heuristic": self.policies[self.costs.drop("optimal")["ratio"].idxmin()]},
                      mdp.capacity, axes=axes)
        plot_policy_year(self.years, mdp.capacity, ax=top[1].subplots())
        self.image.value = fig_to_png(fig, dpi=70)
