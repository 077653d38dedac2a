"""A longitudinal EHR cohort simulator whose true risk is known.

No real multi-visit health record can ship offline, so chapter 04 draws one. Each patient has
demographics, a few years of irregularly timed visits of three types (routine check-up,
chronic-care review, acute visit), vitals and labs measured at some of those visits, and
medications that start when a measured value crosses a guideline threshold and then bend the
trajectory. Which variables are measured depends on the visit type *and* on the value itself
(a high glucose is more likely to be re-checked): missingness is not at random.

After the observation window (``window_years``) three outcomes may occur within
``horizon_years``: type 2 diabetes, hypertension and a cardiovascular event (CVD). Their
log-odds depend on the *trajectories* — the level at the end of the window, the slope, and
(for blood pressure) the visit-to-visit variability — not only on the last value:

====================  ==========================================================================
outcome               log-odds (plus an intercept calibrated to the stated marginal rate)
====================  ==========================================================================
diabetes              1.1 (glucose_W − 5.6) + 2 · glucose_slope + 0.05 (BMI_W − 28)
                      + 0.8 · BMI_slope + 0.015 (age − 55)
hypertension          0.05 (SBP_W − 130) + 0.5 · SBP_slope + 1.5 · log(SBP_sd / 6)
                      + 0.03 (BMI_W − 28) + 0.2 · male
cvd                   0.06 (age − 55) + 0.5 · male + 0.7 · smoker + 0.02 (SBP_W − 130)
                      + 0.6 (LDL_W − 3.4) − 1.0 (HDL_W − 1.4) + 0.5 (glucose_W − 5.6)
                      + 0.8 · log(SBP_sd / 6)
====================  ==========================================================================

For BMI and LDL, ``X_W`` is the patient's smooth (noise-free) level at the end of the window
after any treatment and ``BMI_slope`` the patient's yearly BMI change. For glucose, ``glucose_slope``
is the least-squares trend through the patient's smooth glucose at all their visits (a
metformin-induced drop bends it, as it bends the record) and ``glucose_W`` that trend's value at
the end of the window. Blood pressure is taken
at every visit and a reading is itself a sample of the fluctuating pressure, so its features
are those of the readings: ``SBP_slope`` is the least-squares trend through them, ``SBP_W``
that trend's value at the end of the window and ``SBP_sd`` the visit-to-visit standard
deviation around it (shrunk towards 6 mmHg for patients with few visits). Each patient's true
probability ``risk_<outcome>`` is returned, so a chapter can report the Bayes-optimal AUROC
(the AUROC of the true risk itself): the ceiling for any model. It is a ceiling, not a target
that is exactly reachable: glucose, BMI and lipids are measured with visit-to-visit variation
and assay noise, and labs are missing at many visits.

Units: time in years since the first visit; SBP and HR in mmHg / beats per minute; BMI kg/m²;
glucose (fasting) and LDL/HDL in mmol/L; HbA1c in %; smoking and medications 0/1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medbench.data.sequences import VISIT_TYPES
from medbench.errors import ConfigError, DataError

VARIABLES: tuple[str, ...] = ("sbp", "hr", "bmi", "glucose", "hba1c", "ldl", "hdl", "smoking")
MEDICATIONS: tuple[str, ...] = ("antihypertensive", "statin", "metformin")
OUTCOMES: tuple[str, ...] = ("diabetes", "hypertension", "cvd")
#: Expected fraction of patients with each outcome within the horizon (the intercepts are
#: calibrated to these on the drawn cohort).
OUTCOME_RATES: dict[str, float] = {"diabetes": 0.15, "hypertension": 0.25, "cvd": 0.10}
#: The outcome whose risk depends most on trajectories (slope and variability) rather than levels.
TRAJECTORY_OUTCOME = "hypertension"
#: The treatment that marks an outcome as already present (prevalent) by the end of the window: a
#: patient on metformin is treated for diabetes, one on an antihypertensive for hypertension. They
#: are not at risk of an *incident* diagnosis of that outcome (see :meth:`EHRCohort.at_risk`).
#: A statin treats a lipid level, not a cardiovascular event, so every patient is at risk of CVD.
PREVALENT_TREATMENT: dict[str, str] = {"diabetes": "metformin", "hypertension": "antihypertensive"}

# Probability that a variable is measured at a visit of each type (before the value-dependent
# part of the missingness). Rows: VISIT_TYPES, columns: VARIABLES.
_MEASURE_P = np.array([
    # sbp   hr    bmi   gluc  hba1c ldl   hdl   smoking
    [1.00, 0.90, 0.90, 1.00, 0.50, 0.80, 0.80, 0.85],  # routine
    [1.00, 0.85, 0.60, 1.00, 0.75, 0.45, 0.45, 0.30],  # chronic
    [1.00, 0.97, 0.10, 0.50, 0.05, 0.05, 0.05, 0.10],  # acute
])

# The first (intake) visit measures everything but HbA1c.
_INTAKE = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0])

UNITS: dict[str, str] = {"sbp": "mmHg", "hr": "bpm", "bmi": "kg/m²", "glucose": "mmol/L", "hba1c": "%",
                         "ldl": "mmol/L", "hdl": "mmol/L", "smoking": "0/1", "antihypertensive": "0/1",
                         "statin": "0/1", "metformin": "0/1"}


@dataclass
class EHRCohort:
    """A simulated cohort in the shapes real EHR extracts have.

    Attributes:
        observations: tidy long table, one row per measurement: ``patient_id`` (int),
            ``time`` (years since the first visit), ``visit_type`` (categorical), ``variable``
            (categorical: VARIABLES and MEDICATIONS), ``value`` (float).
        patients: one row per patient: ``patient_id``, ``age`` (at the first visit), ``sex``
            ("F"/"M"), ``n_visits``, the outcomes (0/1 columns named as OUTCOMES) and their true
            probabilities ``risk_<outcome>``.
        latent: one row per patient with the noise-free features the outcomes depend on
            (``glucose_W``, ``glucose_slope``, ``sbp_sd`` ...), indexed like ``patients``;
            ``<medication>_start`` is the start time (NaN: never started).
        intercepts: the calibrated intercept of each outcome's log-odds.
        window_years: length of the observation window.
        horizon_years: prediction horizon after the window.
        seed: the seed it was drawn with.
    """

    observations: pd.DataFrame
    patients: pd.DataFrame
    latent: pd.DataFrame
    intercepts: dict[str, float]
    window_years: float
    horizon_years: float
    seed: int
    rates: dict[str, float] = field(default_factory=lambda: dict(OUTCOME_RATES))

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    def risk(self, outcome: str, patient_ids=None) -> np.ndarray:
        """True probability of ``outcome``, looked up by patient id.

        Args:
            outcome: one of :data:`OUTCOMES`.
            patient_ids: ``(M,)`` ids (e.g. ``data["test"].patient_ids``); the result follows their
                order. ``None``: every patient, in ``patients`` order.

        Returns:
            ``(M,)`` (or ``(N,)``) float array.

        Raises:
            DataError: an id that is not in the cohort (a position passed as an id, or another cohort).
        """
        _check_outcome(outcome)
        return self._lookup(f"risk_{outcome}", patient_ids)

    def at_risk(self, outcome: str, patient_ids=None) -> np.ndarray:
        """Whether each patient can still have an *incident* ``outcome`` after the window.

        False for patients already treated for it by the end of the window (the outcome's
        :data:`PREVALENT_TREATMENT`: metformin for diabetes, an antihypertensive for hypertension):
        they have the disease, so a model of new diagnoses must not be scored on them. True for
        every patient for outcomes without such a treatment (CVD).

        Args:
            outcome: one of :data:`OUTCOMES`; patient_ids: as in :meth:`risk`.

        Returns:
            ``(M,)`` (or ``(N,)``) bool array.
        """
        _check_outcome(outcome)
        ids = self.patients["patient_id"].to_numpy() if patient_ids is None else patient_ids
        med = PREVALENT_TREATMENT.get(outcome)
        if med is None:
            self._rows(ids)  # same id checks as the other look-ups
            return np.ones(len(np.asarray(ids)), bool)
        start = self.latent[f"{med}_start"].to_numpy()[self._latent_rows(ids)]
        return ~(start < self.window_years)  # NaN (never started) -> at risk

    def labels(self, outcomes=OUTCOMES, patient_ids=None) -> np.ndarray:
        """Outcome labels ``(N, len(outcomes))`` int64, in ``patients`` order (or ``patient_ids`` order)."""
        rows = slice(None) if patient_ids is None else self._rows(patient_ids)
        return self.patients[list(outcomes)].to_numpy(np.int64)[rows]

    def _rows(self, patient_ids) -> np.ndarray:
        return _positions(self.patients["patient_id"].to_numpy(), patient_ids)

    def _latent_rows(self, patient_ids) -> np.ndarray:
        return _positions(self.latent["patient_id"].to_numpy(), patient_ids)

    def _lookup(self, column: str, patient_ids) -> np.ndarray:
        values = self.patients[column].to_numpy()
        return values if patient_ids is None else values[self._rows(patient_ids)]

    def history(self, patient_id: int) -> pd.DataFrame:
        """One patient's visits as a wide table: one row per visit time, one column per variable."""
        rows = self.observations[self.observations["patient_id"] == patient_id]
        wide = rows.pivot_table(index=["time", "visit_type"], columns="variable", values="value",
                                observed=True, aggfunc="first")
        return wide.reset_index()


def _positions(all_ids: np.ndarray, patient_ids) -> np.ndarray:
    """Row positions of ``patient_ids`` in ``all_ids``; DataError naming the ids that are absent."""
    ids = np.asarray(patient_ids).reshape(-1)
    order = np.argsort(all_ids, kind="stable")
    pos = np.searchsorted(all_ids[order], ids)
    pos = np.clip(pos, 0, len(all_ids) - 1)
    found = all_ids[order][pos] == ids
    if not found.all():
        missing = ids[~found]
        raise DataError(f"{len(missing)} patient id(s) are not in this cohort (e.g. {missing[:5].tolist()}): pass "
                        "patient ids (e.g. data['test'].patient_ids), not row positions, from the same cohort")
    return order[pos]


def _check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ConfigError(f"unknown outcome {outcome!r}; use one of {', '.join(OUTCOMES)}")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def outcome_logits(latent: pd.DataFrame) -> dict[str, np.ndarray]:
    """The outcomes' log-odds without intercepts, from the latent features (see the module table).

    Args:
        latent: a table with the columns of ``EHRCohort.latent``.

    Returns:
        ``{outcome: (N,) array}``.
    """
    f = {k: latent[k].to_numpy(float) for k in latent.columns}
    log_sd = np.log(f["sbp_sd"] / 6.0)
    return {
        "diabetes": 1.1 * (f["glucose_W"] - 5.6) + 2.0 * f["glucose_slope"] + 0.05 * (f["bmi_W"] - 28)
        + 0.8 * f["bmi_slope"] + 0.015 * (f["age"] - 55),
        "hypertension": 0.05 * (f["sbp_W"] - 130) + 0.5 * f["sbp_slope"] + 1.5 * log_sd
        + 0.03 * (f["bmi_W"] - 28) + 0.2 * f["male"],
        "cvd": 0.06 * (f["age"] - 55) + 0.5 * f["male"] + 0.7 * f["smoker"] + 0.02 * (f["sbp_W"] - 130)
        + 0.6 * (f["ldl_W"] - 3.4) - 1.0 * (f["hdl_W"] - 1.4) + 0.5 * (f["glucose_W"] - 5.6) + 0.8 * log_sd,
    }


#: The risk factors a clinician would name, one per recorded variable (plus age and sex): the units
#: in which chapter 07 compares explanations with the truth (:func:`factor_contributions`).
RISK_FACTORS: tuple[str, ...] = ("age", "sex") + VARIABLES + MEDICATIONS


def factor_contributions(latent: pd.DataFrame, outcome: str, centre: bool = True) -> pd.DataFrame:
    """Each patient's true log-odds contribution of each risk factor to ``outcome``.

    The terms of :func:`outcome_logits` grouped by the recorded variable they are read from
    (``sbp`` holds the level, slope and variability terms of blood pressure; ``sex`` the ``male``
    term); factors that are not in the outcome's formula (e.g. heart rate, HbA1c, every
    medication) contribute 0. Centred on the cohort mean (``centre``), the columns are the exact
    Shapley values of the true log-odds (a sum of one-factor terms), and they add up to the
    patient's log-odds minus the cohort's mean log-odds.

    Args:
        latent: ``EHRCohort.latent`` (or rows of it).
        outcome: one of :data:`OUTCOMES`.
        centre: subtract each column's mean over ``latent``'s rows.

    Returns:
        ``pandas.DataFrame`` ``(N, len(RISK_FACTORS))``, indexed like ``latent``.
    """
    _check_outcome(outcome)
    f = {k: latent[k].to_numpy(float) for k in latent.columns}
    log_sd = np.log(f["sbp_sd"] / 6.0)
    terms = {
        "diabetes": {"glucose": 1.1 * (f["glucose_W"] - 5.6) + 2.0 * f["glucose_slope"],
                     "bmi": 0.05 * (f["bmi_W"] - 28) + 0.8 * f["bmi_slope"], "age": 0.015 * (f["age"] - 55)},
        "hypertension": {"sbp": 0.05 * (f["sbp_W"] - 130) + 0.5 * f["sbp_slope"] + 1.5 * log_sd,
                         "bmi": 0.03 * (f["bmi_W"] - 28), "sex": 0.2 * f["male"]},
        "cvd": {"age": 0.06 * (f["age"] - 55), "sex": 0.5 * f["male"], "smoking": 0.7 * f["smoker"],
                "sbp": 0.02 * (f["sbp_W"] - 130) + 0.8 * log_sd, "ldl": 0.6 * (f["ldl_W"] - 3.4),
                "hdl": -1.0 * (f["hdl_W"] - 1.4), "glucose": 0.5 * (f["glucose_W"] - 5.6)},
    }[outcome]
    out = pd.DataFrame({k: terms.get(k, np.zeros(len(latent))) for k in RISK_FACTORS}, index=latent.index)
    return out - out.mean() if centre else out


def true_risk(latent: pd.DataFrame, intercepts: dict[str, float]) -> dict[str, np.ndarray]:
    """True outcome probabilities for (possibly modified) latent features; used by what-if analyses."""
    return {k: _sigmoid(intercepts[k] + v) for k, v in outcome_logits(latent).items()}


def _calibrate_intercept(logit: np.ndarray, rate: float) -> float:
    """The intercept b with mean(sigmoid(b + logit)) == rate (bisection, 60 steps)."""
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _sigmoid(mid + logit).mean() < rate:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _ramp(t, start, tau):
    """0 before ``start``, rising to 1 with time constant ``tau`` after it. Shapes broadcast."""
    dt = t - start
    return np.where(dt > 0, 1.0 - np.exp(-np.clip(dt, 0, None) / tau), 0.0)


def _first_true(cond: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Time of the first True along axis 1, inf where none. ``cond``/``times`` ``(N, V)``."""
    any_ = cond.any(axis=1)
    idx = cond.argmax(axis=1)
    t = times[np.arange(len(times)), idx]
    return np.where(any_, t, np.inf)


def _trend(values: np.ndarray, t: np.ndarray, valid: np.ndarray, W: float):
    """Least-squares line through ``values`` at the valid visits (slope shrunk a little for
    patients whose visits span a short time): value at ``W``, slope, residuals. Shapes ``(n, V)``."""
    nv = valid.sum(1)
    tm = (t * valid).sum(1) / nv
    vm = (values * valid).sum(1) / nv
    dt = (t - tm[:, None]) * valid
    slope = (dt * (values - vm[:, None])).sum(1) / ((dt ** 2).sum(1) + 0.25)
    resid = (values - vm[:, None] - slope[:, None] * dt) * valid
    return vm + slope * (W - tm), slope, resid


def simulate_ehr(n_patients: int = 10_000, seed: int = 0, window_years: float = 5.0,
                 horizon_years: float = 5.0, visit_rate: float = 2.0, max_visits: int = 40,
                 rates: dict[str, float] | None = None) -> EHRCohort:
    """Draw a cohort (vectorised: 10,000 patients take about a second).

    Args:
        n_patients: number of patients (>= 10).
        seed: the random seed; the same seed gives the same cohort.
        window_years: observation window; visits happen in ``[0, window_years)``.
        horizon_years: the outcomes are events within this many years after the window
            (the stated rates are the event rates within it).
        visit_rate: mean visits per year of an average patient (sicker patients visit more).
        max_visits: upper bound on visits per patient.
        rates: marginal outcome rates, defaults to ``OUTCOME_RATES``.

    Returns:
        An :class:`EHRCohort`.
    """
    if int(n_patients) < 10:
        raise ConfigError(f"n_patients must be at least 10, got {n_patients}")
    if window_years <= 0 or horizon_years <= 0 or visit_rate <= 0:
        raise ConfigError("window_years, horizon_years and visit_rate must be positive")
    rates = dict(OUTCOME_RATES if rates is None else rates)
    if set(rates) != set(OUTCOMES) or not all(0 < r < 1 for r in rates.values()):
        raise ConfigError(f"rates must give a rate in (0, 1) for each of {OUTCOMES}, got {rates}")
    n, V, W = int(n_patients), int(max_visits), float(window_years)
    rng = np.random.default_rng(seed)

    # --- demographics and patient-level parameters -------------------------------------------
    age = np.clip(rng.normal(55, 10, n), 30, 85)
    male = (rng.random(n) < 0.48).astype(float)
    smoker = (rng.random(n) < 0.14 + 0.08 * male).astype(float)
    bmi0 = np.clip(rng.normal(28, 4.5, n), 17, 50)
    bmi_slope = rng.normal(0.15, 0.35, n)
    s_base = 122 + 0.45 * (age - 55) + 0.9 * (bmi0 - 28) + 4 * male + rng.normal(0, 11, n)
    s_slope = rng.normal(0.8, 2.2, n)
    s_sd = np.exp(rng.normal(np.log(6.0), 0.45, n))
    g_base = 5.3 + 0.07 * (bmi0 - 28) + 0.01 * (age - 55) + rng.normal(0, 0.45, n)
    g_slope = 0.04 + 0.06 * bmi_slope + rng.normal(0, 0.2, n)
    a1c_off = rng.normal(0, 0.15, n)
    l_base = rng.normal(3.4, 0.8, n) + 0.1 * male
    l_slope = rng.normal(0.02, 0.08, n)
    hdl = np.clip(rng.normal(1.45 - 0.25 * male - 0.02 * (bmi0 - 28), 0.3, n), 0.5, 3.0)
    hr = rng.normal(72, 8, n) + 3 * smoker

    # --- irregular visits ----------------------------------------------------------------------
    burden = 0.03 * (age - 55) + 0.05 * (bmi0 - 28) + 0.02 * (s_base - 125)
    rate = visit_rate * np.exp(0.25 * burden + rng.normal(0, 0.25, n) - 0.05)
    gaps = 2.0 / 365 + rng.exponential(1.0, (n, V - 1)) / rate[:, None]  # visits at least 2 days apart
    times = np.concatenate([np.zeros((n, 1)), np.cumsum(gaps, axis=1)], axis=1)
    valid = times < W
    u = rng.random((n, V))
    p_chronic = _sigmoid(-1.6 + 0.8 * burden)[:, None]
    vtype = np.where(u < 0.45, 0, np.where(u < 0.45 + p_chronic, 1, 2))
    vtype[:, 0] = 0  # the first visit is a routine check-up

    # --- smooth trajectories, visit-to-visit variation, assay noise ----------------------------
    t = times
    fluct = {
        "sbp": rng.normal(0, 1, (n, V)) * s_sd[:, None],
        "hr": rng.normal(0, 6, (n, V)),
        "bmi": rng.normal(0, 0.25, (n, V)),
        "glucose": rng.normal(0, 0.08, (n, V)),
        "hba1c": rng.normal(0, 0.1, (n, V)),
        "ldl": rng.normal(0, 0.15, (n, V)),
        "hdl": rng.normal(0, 0.1, (n, V)),
    }
    assay = {"sbp": 0.0, "hr": 2.0, "bmi": 0.2, "glucose": 0.05, "hba1c": 0.05, "ldl": 0.1, "hdl": 0.05}
    noise = {k: rng.normal(0, s, (n, V)) for k, s in assay.items()}
    u_measure = rng.random((n, V, len(VARIABLES)))

    def smooth(ts, meds_start):
        """Smooth latent levels at times ``ts`` ``(n, V)`` (or ``(n,)``) given medication starts."""
        if ts.ndim == 2:
            st = {k: v[:, None] for k, v in meds_start.items()}
            col = lambda a: a[:, None]  # noqa: E731
        else:
            st, col = meds_start, (lambda a: a)
        r_ah, r_st, r_mf = _ramp(ts, st["antihypertensive"], 0.25), _ramp(ts, st["statin"], 0.2), \
            _ramp(ts, st["metformin"], 0.3)
        after_ah = np.clip(ts - st["antihypertensive"], 0, None)
        sbp = col(s_base) + col(s_slope) * ts - 12 * r_ah - 0.5 * col(s_slope) * after_ah
        glu = col(g_base) + col(g_slope) * ts - 0.8 * r_mf
        ldl = (col(l_base) + col(l_slope) * ts) * (1 - 0.35 * r_st)
        bmi = col(bmi0) + col(bmi_slope) * ts
        return {"sbp": sbp, "glucose": glu, "ldl": ldl, "bmi": bmi,
                "hba1c": (18 * glu + 46.7) / 28.7 + col(a1c_off),
                "hdl": np.broadcast_to(col(hdl), np.shape(ts)).astype(float),
                "hr": np.broadcast_to(col(hr), np.shape(ts)).astype(float)}

    def measure(meds_start):
        lat = smooth(t, meds_start)
        vals = {k: lat[k] + fluct[k] + noise[k] for k in lat}
        vals["smoking"] = np.broadcast_to(smoker[:, None], (n, V)).astype(float)
        # missingness: by visit type, plus value-dependent (not at random) for labs
        p = _MEASURE_P[vtype]  # (n, V, K)
        p = p.copy()
        bump = {"glucose": 1.2 * (vals["glucose"] - 6.0), "hba1c": 1.5 * (vals["hba1c"] - 6.0),
                "ldl": 0.8 * (vals["ldl"] - 4.0)}
        for k, b in bump.items():
            j = VARIABLES.index(k)
            pj = np.clip(p[..., j], 1e-6, 1 - 1e-6)
            p[..., j] = _sigmoid(np.log(pj / (1 - pj)) + np.clip(b, -3, 3))
        p[:, 0, :] = np.maximum(p[:, 0, :], _INTAKE)  # the first visit takes a full history and panel
        observed = (u_measure < p) & valid[..., None]
        return vals, observed

    no_meds = {m: np.full(n, np.inf) for m in MEDICATIONS}
    vals0, obs0 = measure(no_meds)
    j = {k: VARIABLES.index(k) for k in VARIABLES}
    starts = {
        "antihypertensive": _first_true(obs0[..., j["sbp"]] & ((vals0["sbp"] >= 155) | ((vals0["sbp"] >= 145) & (vtype == 1))), t),
        "statin": _first_true(obs0[..., j["ldl"]] & (vals0["ldl"] >= 4.6), t),
        "metformin": _first_true((obs0[..., j["glucose"]] & (vals0["glucose"] >= 6.8))
                                 | (obs0[..., j["hba1c"]] & (vals0["hba1c"] >= 6.4)), t),
    }
    vals, obs = measure(starts)
    # The treatment decision was made on the untreated values; the visit at which it was made
    # keeps its untreated measurement (the treated trajectory equals it there anyway).

    # --- latent features at the end of the window and the outcomes ------------------------------
    end = np.full(n, W)
    lat_W = smooth(end, starts)
    # blood pressure is taken at every visit, and a reading is itself a sample of the fluctuating
    # pressure: the outcome depends on the least-squares trend through the patient's readings,
    # its value at the end of the window, and the visit-to-visit SD around it (shrunk towards
    # 6 mmHg with the weight of two visits), as in studies of visit-to-visit BP variability.
    smooth_t = smooth(t, starts)
    sbp_W, sbp_slope, resid = _trend(smooth_t["sbp"] + fluct["sbp"], t, valid, W)
    sbp_sd = np.sqrt(((resid ** 2).sum(1) + 2 * 36.0) / (np.clip(valid.sum(1) - 2, 0, None) + 2))
    # glucose: the same least-squares trend, through the patient's (smooth) glucose at their visits,
    # so that a treatment's drop shows in the trend the way it shows in the record
    glucose_W, glucose_slope, _ = _trend(smooth_t["glucose"], t, valid, W)
    latent = pd.DataFrame({
        "age": age, "male": male, "smoker": smoker,
        "sbp_W": sbp_W, "sbp_slope": sbp_slope, "sbp_sd": sbp_sd,
        "glucose_W": glucose_W, "glucose_slope": glucose_slope,
        "bmi_W": lat_W["bmi"], "bmi_slope": bmi_slope, "ldl_W": lat_W["ldl"], "hdl_W": hdl,
        **{f"{m}_start": np.where(np.isfinite(starts[m]), starts[m], np.nan) for m in MEDICATIONS},
    })
    logits = outcome_logits(latent)
    intercepts = {k: _calibrate_intercept(logits[k], rates[k]) for k in OUTCOMES}
    risk = {k: _sigmoid(intercepts[k] + logits[k]) for k in OUTCOMES}
    u_out = rng.random((n, len(OUTCOMES)))
    patients = pd.DataFrame({
        "patient_id": np.arange(n), "age": age.round(1), "sex": np.where(male == 1, "M", "F"),
        "n_visits": valid.sum(1),
        **{k: (u_out[:, i] < risk[k]).astype(np.int64) for i, k in enumerate(OUTCOMES)},
        **{f"risk_{k}": risk[k] for k in OUTCOMES},
    })
    latent.insert(0, "patient_id", np.arange(n))

    # --- the long table -------------------------------------------------------------------------
    pi, vi, ki = np.nonzero(obs)
    stacked = np.stack([vals[k] for k in VARIABLES], axis=-1)
    value = stacked[pi, vi, ki]
    rnd = {"sbp": 0, "hr": 0, "bmi": 1, "glucose": 1, "hba1c": 1, "ldl": 2, "hdl": 2, "smoking": 0}
    decimals = np.array([rnd[k] for k in VARIABLES])[ki]
    value = np.round(value * 10.0 ** decimals) / 10.0 ** decimals  # as a lab system reports them
    mp, mv = np.nonzero(valid)
    med = np.stack([(t >= starts[m][:, None]) & valid for m in MEDICATIONS], axis=-1).astype(float)
    med_rows = [(mp, mv, np.full(len(mp), len(VARIABLES) + i), med[mp, mv, i]) for i in range(len(MEDICATIONS))]
    all_p = np.concatenate([pi] + [r[0] for r in med_rows])
    all_v = np.concatenate([vi] + [r[1] for r in med_rows])
    all_k = np.concatenate([ki] + [r[2] for r in med_rows])
    all_val = np.concatenate([value] + [r[3] for r in med_rows])
    order = np.lexsort((all_k, all_v, all_p))
    names = list(VARIABLES) + list(MEDICATIONS)
    observations = pd.DataFrame({
        "patient_id": all_p[order].astype(np.int64),
        "time": np.floor(t[all_p[order], all_v[order]] * 1e4) / 1e4,
        "visit_type": pd.Categorical.from_codes(vtype[all_p[order], all_v[order]], VISIT_TYPES),
        "variable": pd.Categorical.from_codes(all_k[order], names),
        "value": all_val[order],
    })
    return EHRCohort(observations, patients, latent, intercepts, W, float(horizon_years), int(seed), rates)
