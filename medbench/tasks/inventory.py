"""Ward drug stock: a periodic-review base-stock policy driven by census forecasts, with lead time,
shelf life (FIFO, expired units are waste) and lost sales, simulated over a year.

Each drug of :data:`medbench.data.hospital.DRUGS` is used on the ward at ``per_patient`` doses per
occupied bed-day: the day's demand is ``Poisson(rate * census[t])`` (the simulator's law, drawn
here for the ward's own stock). Every ``review`` days the pharmacy orders up to a level ``S_t``;
the order arrives ``lead_time`` days later and lasts ``shelf_life`` days from delivery. Stock is
used oldest first (FIFO); units past their shelf life are discarded (waste); demand that finds no
stock is lost (bought in urgently at ``shortage`` per unit).

The order-up-to level is the newsvendor quantile (Arrow, Harris & Marschak 1951; Silver, Pyke &
Thomas 2017, ch. 8) of the demand over the protection interval (``lead_time + review`` days),

.. math:: S_t = \\mu_D + z_\\tau\\,\\sigma_D,\\qquad \\tau = \\frac{p}{p + h\\,R},

with shortage cost ``p``, holding cost ``h`` per unit-day and review period ``R``. Given a census
forecast with mean ``m_u`` and spread ``s_u`` (from its 10%/90% quantiles) for the days ``u`` of the
interval, demand has mean :math:`\\mu_D = r\\sum_u m_u` and variance
:math:`\\sigma_D^2 = r\\sum_u m_u + r^2(\\sum_u s_u)^2` (Poisson noise plus census uncertainty, the
census errors of consecutive days taken as fully correlated). Every forecaster (seasonal naive,
the quantile LSTM, the oracle) feeds the same rule; the **oracle** policy knows the true census
distribution (:func:`~medbench.data.hospital.oracle_forecast`), which is the best this rule can do.

:func:`newsvendor` is the single-period check: normal demand, the critical fractile
:math:`\\tau = p/(p+h)`, :math:`S^* = \\mu + \\sigma\\Phi^{-1}(\\tau)` and expected cost
:math:`(h+p)\\,\\sigma\\,\\varphi(\\Phi^{-1}(\\tau))` (Porteus 2002, ch. 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from medbench.data.hospital import DRUGS, HospitalSim, oracle_forecast, ward_frame
from medbench.errors import ConfigError
from medbench.settings import check_seed
from medbench.tasks.forecasting import seasonal_naive

__all__ = ["StockSpec", "STOCK", "PROTECTION_DAYS", "INV_METHODS", "newsvendor", "census_forecasts", "order_up_to",
           "simulate_stock", "inventory_study", "cost_ratio_ci"]

INV_METHODS = ("seasonal_naive", "lstm", "oracle")
Z10 = stats.norm.ppf(0.9)


@dataclass(frozen=True)
class StockSpec:
    """How a drug is stocked: review period and lead time (days), holding cost per unit-day, shortage
    cost per unit of lost demand (urgent purchase). Shelf life and unit cost come from ``DRUGS``."""

    review: int
    lead_time: int
    holding: float
    shortage: float

    def __post_init__(self):
        for name in ("review", "lead_time"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1 (days), got {v!r}")
        if self.holding <= 0 or self.shortage <= 0:
            raise ConfigError(f"holding and shortage costs must be positive, got {self.holding}, {self.shortage}")


STOCK = {  # illustrative: weekly deliveries of the long-life drugs, daily platelets (5-day shelf life)
    "iv_antibiotic": StockSpec(review=7, lead_time=2, holding=0.01, shortage=2.0),
    "platelets": StockSpec(review=1, lead_time=1, holding=0.1, shortage=20.0),
    "heparin": StockSpec(review=7, lead_time=3, holding=0.005, shortage=1.0),
}
PROTECTION_DAYS = max(s.lead_time + s.review for s in STOCK.values())  # forecast days the policies need


def newsvendor(mu: float, sigma: float, holding: float, shortage: float) -> dict:
    """Single-period newsvendor with normal demand ``N(mu, sigma^2)``.

    Returns:
        ``{"fractile": p/(p+h), "S": optimal order quantity, "expected_cost": (h+p) sigma phi(z)}``
        (mu=120, sigma=10, h=2, p=18 gives S = 132.82 and expected cost 35.10).
    """
    if sigma <= 0 or holding <= 0 or shortage <= 0:
        raise ConfigError(f"sigma, holding and shortage must be positive, got {sigma}, {holding}, {shortage}")
    tau = shortage / (shortage + holding)
    z = stats.norm.ppf(tau)
    return {"fractile": tau, "S": mu + sigma * z, "expected_cost": (holding + shortage) * sigma * stats.norm.pdf(z)}


def census_forecasts(sim: HospitalSim, ward: str, origins, horizon: int, method: str, model=None) -> dict:
    """Census forecasts at every origin: ``{"mean": (N, H), "sd": (N, H)}`` (sd from the 10%/90% quantiles).

    Args:
        method: ``"seasonal_naive"``, ``"lstm"`` (pass the fitted
            :class:`~medbench.tasks.forecasting.LSTMForecaster` as ``model``) or ``"oracle"``.
    """
    if method not in INV_METHODS:
        raise ConfigError(f"method must be one of {INV_METHODS}, got {method!r}")
    if method == "lstm" and model is None:
        raise ConfigError("method='lstm' needs the fitted LSTMForecaster as model=")
    frame = ward_frame(sim, ward)
    c = frame["census"].to_numpy()
    means, sds = [], []
    for o in np.asarray(origins, int):
        if method == "seasonal_naive":
            f = seasonal_naive(c[:o + 1], horizon, quantiles=(0.1, 0.9))
        elif method == "lstm":
            f = model.predict(frame, int(o))
        else:
            f = oracle_forecast(sim, ward, int(o), horizon, (0.1, 0.9))
        means.append(np.asarray(f["mean"])[:horizon])
        sds.append(np.maximum((f["q"][0.9] - f["q"][0.1])[:horizon] / (2 * Z10), 0.0))
    return {"mean": np.stack(means), "sd": np.stack(sds)}


def order_up_to(forecast: dict, rate: float, spec: StockSpec) -> np.ndarray:
    """``(N,)`` order-up-to levels from census forecasts made the evening before each day.

    Row ``i`` of ``forecast`` covers days ``i+1 ..`` of its origin; the first ``lead_time + review``
    of them are the protection interval of an order placed on the morning after the origin.
    """
    k = spec.lead_time + spec.review
    m, s = forecast["mean"][:, :k], forecast["sd"][:, :k]
    if m.shape[1] < k:
        raise ConfigError(f"the forecasts cover {m.shape[1]} days; lead_time + review needs {k}")
    mu = rate * m.sum(1)
    sd = np.sqrt(np.maximum(mu, 0) + (rate * s.sum(1)) ** 2)
    tau = spec.shortage / (spec.shortage + spec.holding * spec.review)
    return np.ceil(mu + stats.norm.ppf(tau) * sd)


def simulate_stock(demand, levels, spec: StockSpec, shelf_life: int, unit_cost: float) -> dict:
    """Run the stock day by day (FIFO, lost sales, expiry) under order-up-to ``levels``.

    Args:
        demand: ``(T,)`` units asked for each day.
        levels: ``(T,)`` order-up-to level known on each morning (used on review days, and day 0
            starts with that much fresh stock).
        spec: review period, lead time and costs; shelf_life: days a delivery stays usable;
        unit_cost: purchase price of an expired unit (waste cost).

    Returns:
        Totals ``demand``, ``served``, ``short``, ``expired``, ``received``, ``stockout_days``,
        ``fill_rate``, ``waste_fraction`` (expired / received), ``cost`` (holding + shortage +
        waste), and ``daily_cost (T,)``.
    """
    demand, levels = np.asarray(demand, int), np.asarray(levels, float)
    if shelf_life < 1:
        raise ConfigError(f"shelf_life must be >= 1 day, got {shelf_life}")
    T = len(demand)
    batches = [[shelf_life, int(levels[0])]]  # [last usable day + 1, units], oldest first
    pipeline: dict[int, int] = {}
    tot = dict(demand=int(demand.sum()), served=0, short=0, expired=0, received=int(levels[0]), stockout_days=0)
    daily = np.zeros(T)
    for t in range(T):
        arrived = pipeline.pop(t, 0)
        if arrived:
            batches.append([t + shelf_life, arrived])
            tot["received"] += arrived
        if t > 0 and t % spec.review == 0:
            position = sum(b[1] for b in batches) + sum(pipeline.values())
            order = int(max(0, levels[t] - position))
            if order:
                pipeline[t + spec.lead_time] = pipeline.get(t + spec.lead_time, 0) + order
        need = int(demand[t])
        for b in batches:  # FIFO
            take = min(need, b[1])
            b[1] -= take
            need -= take
            if need == 0:
                break
        tot["served"] += int(demand[t]) - need
        tot["short"] += need
        tot["stockout_days"] += int(need > 0)
        expired = sum(b[1] for b in batches if b[0] <= t + 1)
        batches = [b for b in batches if b[0] > t + 1 and b[1] > 0]
        tot["expired"] += expired
        daily[t] = spec.holding * sum(b[1] for b in batches) + spec.shortage * need + unit_cost * expired
    tot["fill_rate"] = tot["served"] / tot["demand"] if tot["demand"] else 1.0
    tot["waste_fraction"] = tot["expired"] / max(tot["received"], 1)
    tot["cost"] = float(daily.sum())
    tot["daily_cost"] = daily
    return tot


def inventory_study(sim: HospitalSim, ward: str, *, start: int, days: int = 364, forecasts: dict, seed: int = 0,
                    drugs=None) -> dict:
    """Simulate every drug's stock for ``days`` days from ``start`` under each method's forecasts.

    Args:
        sim, ward: the simulated hospital and the ward whose stock is simulated.
        start: first simulated day (day index into ``sim.daily``).
        days: simulated days.
        forecasts: ``{method: census_forecasts(...)}`` made at origins ``start - 1 .. start + days - 2``
            (one per day: the evening before).
        seed: seed of the demand draws (the same demand for every method: common random numbers).
        drugs: subset of :data:`STOCK` (default all).

    Returns:
        ``{"table": DataFrame (method, drug) rows, "totals": DataFrame per method (all drugs; ``fill_rate``
        over all units, ``waste_fraction``, ``cost``, ``cost_ratio_vs_oracle``), "daily_cost": {method: (days,)}}``.
    """
    rng = np.random.default_rng(check_seed(seed))
    drugs = list(STOCK if drugs is None else drugs)
    census = ward_frame(sim, ward)["census"].to_numpy()
    if start < 1 or start + days > len(census):
        raise ConfigError(f"start={start}, days={days} must lie inside the {len(census)} simulated days")
    rows, daily = {}, {}
    for drug in drugs:
        if drug not in STOCK:
            raise ConfigError(f"unknown drug {drug!r}; choose from {sorted(STOCK)}")
        spec, d = STOCK[drug], DRUGS[drug]
        rate = d.per_patient.get(ward, 0.0)
        demand = rng.poisson(rate * census[start:start + days])
        for method, f in forecasts.items():
            if len(f["mean"]) != days:
                raise ConfigError(f"forecasts[{method!r}] has {len(f['mean'])} origins; need one per day ({days})")
            out = simulate_stock(demand, order_up_to(f, rate, spec), spec, d.shelf_life, d.unit_cost)
            daily[method] = daily.get(method, 0) + out.pop("daily_cost")
            rows[(method, drug)] = out
    table = pd.DataFrame(rows).T
    totals = table.groupby(level=0)[["demand", "served", "short", "expired", "received", "cost"]].sum()
    totals["fill_rate"] = totals["served"] / totals["demand"]
    totals["waste_fraction"] = totals["expired"] / totals["received"]
    if "oracle" in totals.index:
        totals["cost_ratio_vs_oracle"] = totals["cost"] / totals.loc["oracle", "cost"]
    return {"table": table, "totals": totals, "daily_cost": daily}


def cost_ratio_ci(daily_a, daily_b, *, block: int = 7, n_boot: int = 1000, ci: float = 0.95, seed: int = 0):
    """Cost of ``a`` over cost of ``b`` with a paired bootstrap interval resampling whole weeks.

    Days of a stock are correlated (a stock-out lasts until the next delivery), so the unit of
    resampling is a ``block`` of consecutive days, drawn with replacement for both policies at once.

    Returns:
        ``(ratio, low, high)``.
    """
    a, b = np.asarray(daily_a, float), np.asarray(daily_b, float)
    n = len(a) // block
    if n < 2 or len(b) != len(a):
        raise ConfigError(f"need two equal daily cost series of at least {2 * block} days")
    wa, wb = a[:n * block].reshape(n, block).sum(1), b[:n * block].reshape(n, block).sum(1)
    idx = np.random.default_rng(check_seed(seed)).integers(0, n, (n_boot, n))
    boot = wa[idx].sum(1) / wb[idx].sum(1)
    lo, hi = np.quantile(boot, [(1 - ci) / 2, (1 + ci) / 2])
    return float(a.sum() / b.sum()), float(lo), float(hi)
