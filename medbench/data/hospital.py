"""A hospital simulator with known truth: admissions, length of stay, census, drug demand.

:func:`simulate_hospital` draws patients day by day for each ward:

- **Emergency admissions** are Poisson with intensity

  .. math:: \\lambda_t = \\lambda_0\\, d_{\\mathrm{dow}(t)}\\, (1 + A\\cos(2\\pi(\\mathrm{doy}(t) - 15)/365.25))\\,
            h_t\\, (1 + s_t)

  with a day-of-week factor ``d`` (Monday highest, weekends ~15% lower: the weekly pattern of
  NHS emergency admissions, NHS England A&E attendances and emergency admissions statistics),
  a winter peak in mid-January of amplitude ``A`` = 8% (winter pressures; Fleming et al. 2016
  report ~5-10% winter excess in UK emergency admissions), a public-holiday dip ``h_t`` = 0.8,
  and respiratory-season surges ``s_t`` (one or two per winter, 3-6 weeks, +12% on the medical
  ward; influenza and RSV seasons, Fleming & Elliot 2008).
- **Elective admissions** are scheduled: a fixed number per weekday (none at weekends or on
  public holidays), known in advance.
- **Length of stay** (days, >= 1) is a log-normal rounded up, the usual parametric model for LOS
  (Marazzi et al. 1998, *Med Care* 36:915); medians and spreads per ward and case type are in
  :data:`WARDS` (medians of 3-4 days for emergency and 2-3 for elective stays are of the order of
  NHS Hospital Episode Statistics 2019-20, where the mean emergency LOS is ~5 days; they are
  illustrative, not fitted).
- A patient admitted on day ``s`` with stay ``L`` is in a bed at midnight of days ``s .. s+L-1``
  and discharged on day ``s+L``: ``census[t] = census[t-1] + admissions[t] - discharges[t]``.
- **Drug demand** per day is Poisson with mean ``sum_w rate_w * census_w[t]`` (:data:`DRUGS`, each
  with its own shelf life).

Because the intensities and the LOS distribution are known, :func:`oracle_forecast` gives the
exact distribution of a ward's census ``h`` days after an origin, given the patients in the
ward at the origin (their admission days), the elective schedule and the true intensities:
survivors of the current patients are binomial per admission day, future admissions that are
still in on the target day are Poisson (thinned) and binomial (electives). That is the
physical limit for any forecaster of this census.

:func:`ward_frame` and :func:`lag_features` prepare one ward's days as forecasting inputs
(the forecasters themselves are in :mod:`medbench.tasks.forecasting`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from medbench.errors import ConfigError, DataError
from medbench.settings import check_seed

__all__ = ["WardSpec", "DrugSpec", "WARDS", "DRUGS", "HospitalSim", "simulate_hospital", "oracle_forecast",
           "los_survival", "public_holidays", "check_daily_series", "check_horizon", "ward_frame",
           "lag_features"]

MAX_LOS = 90  # days; stays are truncated here (P(LOS > 90) < 1e-4 for every ward below)
BURN_IN = 180  # days simulated before the first reported day, so the census starts at steady state
DOW_FACTOR = np.array([1.10, 1.04, 1.02, 1.00, 1.02, 0.90, 0.92])  # Monday..Sunday (mean 1.0)
WINTER_AMPLITUDE = 0.08
HOLIDAY_FACTOR = 0.8
N_LAGS = 14  # days of history in each row of lag_features


@dataclass(frozen=True)
class WardSpec:
    """One ward: admission rates, LOS distribution and capacity.

    Attributes:
        emergency_per_day: mean emergency admissions per day (before seasonal factors).
        elective_per_weekday: scheduled elective admissions per working day.
        los_median_emergency, los_sigma_emergency: log-normal median (days) and log-sd of emergency stays.
        los_median_elective, los_sigma_elective: the same for elective stays.
        capacity: staffed beds.
        surge: relative increase of emergency admissions during a respiratory surge.
    """

    emergency_per_day: float
    elective_per_weekday: int
    los_median_emergency: float
    los_sigma_emergency: float
    los_median_elective: float
    los_sigma_elective: float
    capacity: int
    surge: float


WARDS = {
    "medical": WardSpec(18.0, 2, 4.0, 0.8, 3.0, 0.6, capacity=130, surge=0.12),
    "surgical": WardSpec(6.0, 10, 3.0, 0.7, 2.0, 0.6, capacity=60, surge=0.03),
}


@dataclass(frozen=True)
class DrugSpec:
    """A drug: doses per occupied bed-day per ward, shelf life (days) and cost per unit."""

    per_patient: dict
    shelf_life: int
    unit_cost: float


DRUGS = {
    "iv_antibiotic": DrugSpec({"medical": 0.6, "surgical": 0.4}, shelf_life=30, unit_cost=1.0),
    "platelets": DrugSpec({"medical": 0.05, "surgical": 0.12}, shelf_life=5, unit_cost=5.0),
    "heparin": DrugSpec({"medical": 0.3, "surgical": 0.5}, shelf_life=365, unit_cost=0.5),
}


def los_survival(median: float, sigma: float, max_los: int = MAX_LOS) -> np.ndarray:
    """``S[k] = P(LOS > k)`` for ``k = 0..max_los`` of ``ceil(LogNormal(log median, sigma))``, ``S[0] = 1``.

    Returns:
        ``(max_los + 1,)`` non-increasing survival function, ``S[max_los] = 0`` (truncation).
    """
    k = np.arange(max_los + 1, dtype=float)
    s = stats.lognorm.sf(np.maximum(k, 1e-12), sigma, scale=median)
    s[0] = 1.0
    s[-1] = 0.0
    return s


def public_holidays(dates: pd.DatetimeIndex) -> np.ndarray:
    """Boolean mask of (England and Wales style) public holidays: New Year, Good Friday, Easter
    Monday, first and last Monday of May, last Monday of August, Christmas and Boxing Day."""
    from dateutil.easter import easter

    d = pd.DatetimeIndex(dates)
    hol = set()
    for y in range(d.year.min(), d.year.max() + 1):
        e = pd.Timestamp(easter(y))
        hol.update({pd.Timestamp(y, 1, 1), e - pd.Timedelta(days=2), e + pd.Timedelta(days=1),
                    pd.Timestamp(y, 12, 25), pd.Timestamp(y, 12, 26)})
        may = pd.date_range(f"{y}-05-01", f"{y}-05-31")
        aug = pd.date_range(f"{y}-08-01", f"{y}-08-31")
        hol.add(may[may.dayofweek == 0][0])
        hol.add(may[may.dayofweek == 0][-1])
        hol.add(aug[aug.dayofweek == 0][-1])
    return d.normalize().isin(list(hol))


@dataclass
class HospitalSim:
    """A simulated hospital (what :func:`simulate_hospital` returns).

    Attributes:
        daily: one row per day (DatetimeIndex), columns ``<ward>_<what>`` for what in
            ``emergency``, ``elective``, ``admissions``, ``discharges``, ``census``, ``capacity``,
            ``rate`` (the true emergency intensity), plus ``holiday`` and one column per drug.
        patients: one row per stay: ``ward``, ``kind`` ("emergency"/"elective"), ``admit`` and
            ``discharge`` (day index, 0 = first reported day; negative = burn-in), ``los``.
        wards: the :class:`WardSpec` of each ward.
        survival: ``{(ward, kind): S}`` LOS survival functions (see :func:`los_survival`).
        surges: list of ``(start_day, end_day)`` respiratory surges (day indices).
    """

    daily: pd.DataFrame
    patients: pd.DataFrame
    wards: dict
    survival: dict
    surges: list

    def census(self, ward: str) -> pd.Series:
        """The ward's midnight census, one value per day."""
        return self.daily[f"{_ward(self, ward)}_census"]

    def present(self, ward: str, day: int) -> pd.DataFrame:
        """Patients in ``ward`` at midnight of ``day`` (0-based index into :attr:`daily`)."""
        p = self.patients
        return p[(p["ward"] == _ward(self, ward)) & (p["admit"] <= day) & (p["discharge"] > day)]


def check_horizon(horizon) -> int:
    """``horizon`` (days ahead) as an int >= 1; anything else raises :class:`~medbench.errors.ConfigError`."""
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ConfigError(f"horizon must be an integer >= 1 (days ahead), got {horizon!r}")
    return int(horizon)


def _ward(sim: HospitalSim, ward: str) -> str:
    if ward not in sim.wards:
        raise ConfigError(f"ward must be one of {sorted(sim.wards)}, got {ward!r}")
    return ward


def simulate_hospital(days: int = 1095, seed: int = 0, *, wards: dict | None = None, start: str = "2018-01-01",
                      surges: bool = True) -> HospitalSim:
    """Simulate ``days`` days of a hospital (after a burn-in), with known rates and LOS.

    Args:
        days: number of reported days, >= 28.
        seed: random seed (same seed, same hospital).
        wards: ``{name: WardSpec}``; default :data:`WARDS` (medical and surgical).
        start: date of the first reported day.
        surges: draw respiratory-season surges (one or two per winter).

    Returns:
        A :class:`HospitalSim`.
    """
    seed = check_seed(seed)
    if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or days < 28:
        raise ConfigError(f"days must be an integer >= 28, got {days!r}")
    wards = dict(WARDS if wards is None else wards)
    for name, w in wards.items():
        if w.capacity <= 0:
            raise ConfigError(f"ward {name!r}: capacity must be positive, got {w.capacity}")
        if w.emergency_per_day < 0 or w.elective_per_weekday < 0:
            raise ConfigError(f"ward {name!r}: admission rates must be >= 0")
    rng = np.random.default_rng(seed)
    n = days + BURN_IN
    dates = pd.date_range(pd.Timestamp(start) - pd.Timedelta(days=BURN_IN), periods=n, freq="D")
    holiday = public_holidays(dates)
    doy = dates.dayofyear.to_numpy()
    season = 1 + WINTER_AMPLITUDE * np.cos(2 * np.pi * (doy - 15) / 365.25)
    base = DOW_FACTOR[dates.dayofweek.to_numpy()] * season * np.where(holiday, HOLIDAY_FACTOR, 1.0)
    surge_on = np.zeros(n, bool)
    surge_list = []
    if surges:
        for y in range(dates.year.min(), dates.year.max() + 1):
            for _ in range(rng.integers(1, 3)):
                s0 = pd.Timestamp(y, 11, 1) + pd.Timedelta(days=int(rng.integers(0, 100)))
                i0 = int((s0 - dates[0]).days)
                i1 = i0 + int(rng.integers(21, 43))
                if i1 > 0 and i0 < n:
                    surge_on[max(i0, 0):min(i1, n)] = True
                    surge_list.append((i0 - BURN_IN, i1 - BURN_IN))
    workday = (dates.dayofweek.to_numpy() < 5) & ~holiday
    cols, rows, survival = {}, [], {}
    for name, w in wards.items():
        rate = w.emergency_per_day * base * (1 + w.surge * surge_on)
        em = rng.poisson(rate)
        el = np.where(workday, w.elective_per_weekday, 0)
        for kind, counts, med, sig in (("emergency", em, w.los_median_emergency, w.los_sigma_emergency),
                                       ("elective", el, w.los_median_elective, w.los_sigma_elective)):
            survival[(name, kind)] = los_survival(med, sig)
            admit = np.repeat(np.arange(n), counts)
            los = np.minimum(np.ceil(rng.lognormal(np.log(med), sig, len(admit))), MAX_LOS).astype(int)
            los = np.maximum(los, 1)
            rows.append(pd.DataFrame({"ward": name, "kind": kind, "admit": admit - BURN_IN,
                                      "discharge": admit + los - BURN_IN, "los": los}))
        cols[f"{name}_emergency"] = em
        cols[f"{name}_elective"] = el
        cols[f"{name}_rate"] = rate
    patients = pd.concat(rows, ignore_index=True)
    for name in wards:
        p = patients[patients["ward"] == name]
        adm = np.bincount(p["admit"] + BURN_IN, minlength=n)[:n]
        dis = np.bincount(np.minimum(p["discharge"] + BURN_IN, n + MAX_LOS), minlength=n + MAX_LOS + 1)[:n]
        cols[f"{name}_admissions"] = adm
        cols[f"{name}_discharges"] = dis
        cols[f"{name}_census"] = np.cumsum(adm - dis)
        cols[f"{name}_capacity"] = np.full(n, wards[name].capacity)
    daily = pd.DataFrame(cols, index=pd.DatetimeIndex(dates, name="date"))
    daily["holiday"] = holiday
    for drug, spec in DRUGS.items():
        mean = sum(spec.per_patient.get(name, 0.0) * daily[f"{name}_census"].to_numpy() for name in wards)
        daily[drug] = rng.poisson(mean)
    daily = daily.iloc[BURN_IN:]
    patients = patients[patients["discharge"] > 0].reset_index(drop=True)
    return HospitalSim(daily=daily, patients=patients, wards=wards, survival=survival, surges=surge_list)


def _binom_pmf(n: int, p: float) -> np.ndarray:
    return stats.binom.pmf(np.arange(n + 1), n, min(max(p, 0.0), 1.0))


def oracle_forecast(sim: HospitalSim, ward: str, origin: int, horizon: int = 14,
                    quantiles=(0.025, 0.1, 0.5, 0.9, 0.975)) -> dict:
    """The exact predictive distribution of the census ``1..horizon`` days after ``origin``.

    Known: the patients in the ward at midnight of ``origin`` and their admission days, the
    elective schedule and the true emergency intensity (the simulator's ``<ward>_rate``).
    Unknown: who of them leaves when, and the future emergency arrivals.

    Args:
        sim: a :class:`HospitalSim`.
        ward: ward name.
        origin: day index (0-based into ``sim.daily``) of the last observed census.
        horizon: days ahead, >= 1; ``origin + horizon`` must lie inside the simulation.
        quantiles: levels in (0, 1).

    Returns:
        ``{"mean": (H,), "var": (H,), "q": {level: (H,)}}`` (quantiles of the exact pmf).
    """
    _ward(sim, ward)
    horizon = check_horizon(horizon)
    if not 0 <= origin < len(sim.daily) - horizon:
        raise ConfigError(f"origin + horizon must lie inside the {len(sim.daily)} simulated days, "
                          f"got origin={origin}, horizon={horizon}")
    present = sim.present(ward, origin)
    rate = sim.daily[f"{ward}_rate"].to_numpy()
    elective = sim.daily[f"{ward}_elective"].to_numpy()
    s_em, s_el = sim.survival[(ward, "emergency")], sim.survival[(ward, "elective")]
    groups = present.groupby(["kind", "admit"]).size()
    out = {"mean": np.zeros(horizon), "var": np.zeros(horizon), "q": {q: np.zeros(horizon) for q in quantiles}}
    for h in range(1, horizon + 1):
        pmf, mu_new = np.ones(1), 0.0
        for (kind, admit), count in groups.items():
            s = s_em if kind == "emergency" else s_el
            age = origin - admit
            # present at origin: LOS > age; still present at origin + h: LOS > age + h
            p = s[min(age + h, MAX_LOS)] / s[min(age, MAX_LOS)] if s[min(age, MAX_LOS)] > 0 else 0.0
            pmf = np.convolve(pmf, _binom_pmf(int(count), p))
        for u in range(origin + 1, origin + h + 1):
            k = origin + h - u  # admitted on day u, in a bed at midnight of origin + h iff LOS > k
            mu_new += rate[u] * s_em[k]
            if elective[u]:
                pmf = np.convolve(pmf, _binom_pmf(int(elective[u]), s_el[k]))
        support = np.arange(len(pmf) + int(mu_new + 10 * np.sqrt(mu_new + 1) + 10))
        pmf = np.convolve(pmf, stats.poisson.pmf(support, mu_new))[: len(support)]
        pmf = pmf / pmf.sum()
        mean = float((support * pmf).sum())
        out["mean"][h - 1] = mean
        out["var"][h - 1] = float(((support - mean) ** 2 * pmf).sum())
        cdf = np.cumsum(pmf)
        for q in quantiles:
            out["q"][q][h - 1] = float(np.searchsorted(cdf, q))
    return out


def check_daily_series(y, name: str = "series") -> pd.Series:
    """A daily series as a float ``pd.Series``; NaN/inf, gaps or duplicate dates raise :class:`DataError`.

    Args:
        y: ``pd.Series`` with a DatetimeIndex (checked for one row per calendar day) or a 1-D array.
        name: what to call it in the error message.
    """
    s = y.astype(float) if isinstance(y, pd.Series) else pd.Series(np.asarray(y, dtype=float))
    if s.ndim != 1 or len(s) == 0:
        raise DataError(f"{name} must be a non-empty 1-D series")
    if not np.isfinite(s.to_numpy()).all():
        raise DataError(f"{name} holds {int((~np.isfinite(s.to_numpy())).sum())} NaN/inf values: "
                        "fill or drop the affected days before forecasting")
    if isinstance(s.index, pd.DatetimeIndex):
        if s.index.has_duplicates:
            raise DataError(f"{name} has repeated dates: aggregate to one value per day")
        full = pd.date_range(s.index.min(), s.index.max(), freq="D")
        if len(full) != len(s):
            raise DataError(f"{name} has gaps: {len(full) - len(s)} of {len(full)} days are missing "
                            "(reindex to daily and fill them; seasonal lags assume consecutive days)")
    return s


# ------------------------------------------------------------------------ forecasting inputs
def ward_frame(sim: HospitalSim, ward: str) -> pd.DataFrame:
    """Daily forecasting inputs of one ward: ``census``, ``emergency``, ``elective``, ``discharges``,
    ``holiday`` (float columns, one row per simulated day).

    Raises :class:`~medbench.errors.ConfigError` for an unknown ward and
    :class:`~medbench.errors.DataError` if the census has gaps or NaN.
    """
    d, ward = sim.daily, _ward(sim, ward)
    f = pd.DataFrame({k: d[f"{ward}_{k}"].astype(float) for k in ("census", "emergency", "elective", "discharges")})
    f["holiday"] = d["holiday"].astype(float)
    check_daily_series(f["census"], f"{ward} census")
    return f


def lag_features(frame: pd.DataFrame, origins, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Direct-forecast design: one row per (origin, h).

    Features (41): census at the origin and its last 13 differences from it, emergency admissions
    of each of the last 14 days and elective admissions of the last 7 (who is in the ward and
    how long they have been there), electives scheduled between origin and target (known in
    advance), target day of week, day of year (sine/cosine), holiday flag and ``h``.
    Target: census change ``y[t+h] - y[t]``.

    Returns:
        ``X (len(origins) * H, 41)`` and ``y (len(origins) * H,)`` (NaN where ``t + h`` is beyond the data).

    Raises:
        ConfigError: ``horizon`` < 1, or an origin with fewer than ``N_LAGS - 1`` days before it
        or beyond the data (negative indices would silently wrap around).
    """
    horizon = check_horizon(horizon)
    c = frame["census"].to_numpy()
    origins = np.asarray(origins, dtype=int).reshape(-1)
    if len(origins) and (origins.min() < N_LAGS - 1 or origins.max() >= len(c)):
        raise ConfigError(f"origins must lie in [{N_LAGS - 1}, {len(c) - 1}] (each needs {N_LAGS} days of history "
                          f"up to it), got {origins.min()}..{origins.max()}")
    em, el = frame["emergency"].to_numpy(), frame["elective"].to_numpy()
    hol = frame["holiday"].to_numpy()
    dates = frame.index
    el_cum = np.concatenate([[0.0], np.cumsum(el)])
    rows, ys = [], []
    for t in origins:
        base = [c[t], *(c[t - k] - c[t] for k in range(1, N_LAGS)), *em[t - N_LAGS + 1:t + 1][::-1],
                *el[t - 6:t + 1][::-1]]
        for h in range(1, horizon + 1):
            u = t + h
            if u < len(c):
                dow, doy, hu, target = dates[u].dayofweek, dates[u].dayofyear, hol[u], c[u] - c[t]
            else:
                d = dates[-1] + pd.Timedelta(days=u - len(c) + 1)
                dow, doy, hu, target = d.dayofweek, d.dayofyear, 0.0, np.nan
            rows.append(base + [el_cum[min(u, len(c) - 1) + 1] - el_cum[t + 1], dow, np.sin(2 * np.pi * doy / 365.25),
                                np.cos(2 * np.pi * doy / 365.25), hu, h])
            ys.append(target)
    return np.asarray(rows, float), np.asarray(ys, float)
