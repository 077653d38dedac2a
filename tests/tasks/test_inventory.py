import numpy as np
import pytest
from scipy import integrate, stats

from medbench.data.hospital import simulate_hospital
from medbench.errors import ConfigError
from medbench.tasks import inventory as I


def test_newsvendor_check_value():
    # normal demand mu=120, sigma=10, holding 2, shortage 18: fractile 0.9, S = 132.82, expected cost 35.10
    nv = I.newsvendor(120, 10, holding=2, shortage=18)
    assert nv["fractile"] == pytest.approx(0.9)
    assert nv["S"] == pytest.approx(132.82, abs=0.005)
    assert nv["expected_cost"] == pytest.approx(35.10, abs=0.005)

    def cost(S):  # E[h (S - D)^+ + p (D - S)^+] by quadrature
        f = stats.norm(120, 10).pdf
        over = integrate.quad(lambda d: 2 * (S - d) * f(d), 40, S)[0]
        under = integrate.quad(lambda d: 18 * (d - S) * f(d), S, 200)[0]
        return over + under

    assert cost(nv["S"]) == pytest.approx(nv["expected_cost"], rel=1e-4)
    assert cost(nv["S"] - 2) > cost(nv["S"]) and cost(nv["S"] + 2) > cost(nv["S"])


def test_stock_is_fifo_expires_and_loses_sales():
    spec = I.StockSpec(review=1, lead_time=1, holding=0.1, shortage=5.0)
    # no demand: the 10 starting units expire after their 3-day shelf life and nothing is reordered
    out = I.simulate_stock(np.zeros(6, int), np.array([10, 0, 0, 0, 0, 0]), spec, shelf_life=3, unit_cost=2.0)
    assert out["expired"] == 10 and out["received"] == 10 and out["waste_fraction"] == 1.0
    assert out["fill_rate"] == 1.0 and out["short"] == 0
    # held at 0.1 a day on days 0 and 1, discarded (2.0 each) at the end of day 2
    assert out["daily_cost"][:3] == pytest.approx([1.0, 1.0, 20.0])
    # with the level kept at 10, the stock is topped up again once the first batch has expired
    out = I.simulate_stock(np.zeros(6, int), np.full(6, 10), spec, shelf_life=3, unit_cost=2.0)
    assert out["expired"] == 10 and out["received"] == 20
    # FIFO: with shelf life 2 and daily demand 5 from a level of 10, the old units are used first, none expire
    out = I.simulate_stock(np.full(10, 5), np.full(10, 10), spec, shelf_life=2, unit_cost=1.0)
    assert out["expired"] == 0 and out["fill_rate"] == 1.0
    # an order-up-to level of 0 after day 0 loses every sale once the first stock is gone
    out = I.simulate_stock(np.full(5, 4), np.array([4, 0, 0, 0, 0]), spec, shelf_life=10, unit_cost=1.0)
    assert out["served"] == 4 and out["short"] == 16 and out["stockout_days"] == 4
    assert out["cost"] == pytest.approx(16 * 5.0)


def test_inventory_study_oracle_serves_and_methods_share_demand():
    sim = simulate_hospital(500, seed=1)
    days = 56
    start = len(sim.daily) - days - 14
    origins = np.arange(start - 1, start + days - 1)
    fc = {m: I.census_forecasts(sim, "medical", origins, 10, m) for m in ("seasonal_naive", "oracle")}
    assert fc["oracle"]["mean"].shape == (days, 10) and (fc["oracle"]["sd"] > 0).all()
    out = I.inventory_study(sim, "medical", start=start, days=days, forecasts=fc, seed=0)
    t = out["table"]
    for drug in I.STOCK:
        assert t.loc[("oracle", drug), "demand"] == t.loc[("seasonal_naive", drug), "demand"]  # common demand
    tot = out["totals"]
    assert tot.loc["oracle", "fill_rate"] > 0.95
    assert tot.loc["oracle", "cost_ratio_vs_oracle"] == 1.0
    ratio, lo, hi = I.cost_ratio_ci(out["daily_cost"]["seasonal_naive"], out["daily_cost"]["oracle"], n_boot=200)
    assert ratio == pytest.approx(tot.loc["seasonal_naive", "cost_ratio_vs_oracle"])
    assert lo <= ratio <= hi


def test_bad_input_names_it():
    with pytest.raises(ConfigError, match="lead_time"):
        I.StockSpec(review=7, lead_time=0, holding=1, shortage=1)
    with pytest.raises(ConfigError, match="sigma"):
        I.newsvendor(100, 0, 1, 1)
    with pytest.raises(ConfigError, match="shelf_life"):
        I.simulate_stock([1], [1], I.STOCK["heparin"], shelf_life=0, unit_cost=1)
    sim = simulate_hospital(60, seed=0)
    with pytest.raises(ConfigError, match="model"):
        I.census_forecasts(sim, "medical", [30], 5, "lstm")
    with pytest.raises(ConfigError, match="method"):
        I.census_forecasts(sim, "medical", [30], 5, "prophet")
