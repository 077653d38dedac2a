"""Chapter 06 widget: a census dashboard (ward, horizon, method, origin -> fan chart and MASE).

State and handlers are plain Python: ``dash.ward.value = "surgical"``, ``dash.horizon.value = 7``,
``dash.method.value = "oracle"``, then read ``dash.mase_value`` (the selected method's MASE over
days 1..horizon and all origins) and ``dash.table`` (every method at that horizon). Wards that
were not evaluated yet are computed on first use by the ``compute`` callable (e.g. a
:func:`medbench.tasks.forecasting.rolling_origin` with the quick methods).
"""
from __future__ import annotations

from dataclasses import replace

import ipywidgets as W
import pandas as pd

from medbench.errors import ConfigError
from medbench.metrics.forecasting import mase
from medbench.plots import fig_to_png
from medbench.plots.operations import plot_fan_chart
from medbench.tasks.forecasting import RollingResult

__all__ = ["CensusDashboard", "truncate"]


def truncate(result: RollingResult, horizon: int) -> RollingResult:
    """The same forecasts cut to days ``1..horizon`` (``mean``, ``truth`` and quantiles ``(N, horizon)``)."""
    H = result.truth.shape[1]
    if isinstance(horizon, bool) or not 1 <= int(horizon) <= H:
        raise ConfigError(f"horizon must be an integer in 1..{H} (the days forecast), got {horizon!r}")
    h = int(horizon)
    return replace(result, truth=result.truth[:, :h], mean=result.mean[:, :h], q={t: v[:, :h] for t, v in result.q.items()})


class CensusDashboard(W.VBox):
    """Pick a ward, a method, a horizon and a forecast origin: the fan chart and the MASE table.

    Args:
        sim: the :class:`~medbench.data.hospital.HospitalSim` (dates and census of every ward).
        results: ``{ward: {method: RollingResult}}`` already computed (at least one ward).
        compute: optional ``fn(ward) -> {method: RollingResult}`` for wards not in ``results``;
            without it only the given wards are offered.
    """

    def __init__(self, sim, results: dict, compute=None):
        if not results:
            raise ConfigError("results must hold at least one ward's {method: RollingResult}")
        self.sim, self.results, self.compute = sim, dict(results), compute
        wards = list(sim.wards) if compute is not None else list(results)
        first = next(iter(results))
        methods = list(results[first])
        H = next(iter(results[first].values())).truth.shape[1]
        n_origins = len(next(iter(results[first].values())).origins)
        self.ward = W.Dropdown(options=wards, value=first, description="ward")
        self.method = W.Dropdown(options=methods, value="lstm" if "lstm" in methods else methods[0],
                                 description="method")
        self.horizon = W.IntSlider(value=H, min=1, max=H, description="days ahead")
        self.origin = W.IntSlider(value=n_origins - 1, min=0, max=n_origins - 1, description="origin #")
        self.info = W.HTML()
        self.table_html = W.HTML()
        self.image = W.Image(format="png", layout=W.Layout(width="640px"))
        self.mase_value = float("nan")
        self.table = pd.DataFrame()
        for c in (self.ward, self.method, self.horizon, self.origin):
            c.observe(lambda _c: self.update(), names="value")
        super().__init__([W.HBox([self.ward, self.method]), W.HBox([self.horizon, self.origin]), self.info,
                          W.HBox([self.image, self.table_html])])
        self.update()

    def ward_results(self, ward: str) -> dict:
        """``{method: RollingResult}`` of ``ward`` (computed on first use)."""
        if ward not in self.results:
            if self.compute is None:
                raise ConfigError(f"no forecasts for ward {ward!r} and no compute function")
            self.results[ward] = self.compute(ward)
        return self.results[ward]

    def update(self) -> None:
        """Recompute the MASE table for the current choices and redraw the fan chart."""
        res = self.ward_results(self.ward.value)
        if set(self.method.options) != set(res):
            self.method.options = list(res)  # may change .value and call update again
            return
        h = self.horizon.value
        rows = {}
        for m, r in res.items():
            t = truncate(r, h)
            rows[m] = {"MASE": mase(t.truth, t.mean, scale=t.scale), "coverage 80%": t.coverage(0.8)}
        self.table = pd.DataFrame(rows).T
        self.mase_value = float(self.table.loc[self.method.value, "MASE"])
        chosen = truncate(res[self.method.value], h)
        k = min(self.origin.value, len(chosen.origins) - 1)
        census = self.sim.census(self.ward.value)
        self.info.value = (f"<b>{self.ward.value}</b> ward, <b>{self.method.value}</b>: MASE over days 1–{h} and "
                           f"{len(chosen.origins)} origins = <b>{self.mase_value:.3f}</b> "
                           f"(seasonal naive = 1 on its own history; lower is better)")
        self.table_html.value = self.table.round(3).to_html()
        fig = plot_fan_chart(census.index, census.to_numpy(), chosen, origin_index=k).figure
        self.image.value = fig_to_png(fig, dpi=80)
