"""A small tabular clinical cohort with a known risk: the data of chapter 08's private-training study.

Each patient has 8 clinical covariates (age, sex, BMI, systolic blood pressure, LDL, HbA1c,
smoker, eGFR) and ``n_labs - 8`` further lab values, correlated with them but carrying no risk of
their own. A 5-year event is drawn from a logistic model of the clinical covariates:

.. math:: \\operatorname{logit} P(y = 1 \\mid x) = \\beta_0 + \\sum_j \\beta_j z_j,

with ``z`` the standardised covariates and the coefficients in :data:`COEFFICIENTS` (a
Framingham-like direction of effects, scaled so the Bayes-optimal AUROC is about 0.75: many
events are chance, so a network that fits its training patients perfectly has *memorised*
them). The true risk is returned, so the best achievable AUROC is known.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medbench.errors import ConfigError
from medbench.settings import check_seed

__all__ = ["COEFFICIENTS", "RiskCohort", "simulate_risk_cohort"]

COEFFICIENTS = {"age": 0.75, "sex_male": 0.35, "bmi": 0.25, "sbp": 0.45, "ldl": 0.35, "hba1c": 0.4,
                "smoker": 0.45, "egfr": -0.3}
INTERCEPT = -1.1


@dataclass
class RiskCohort:
    """``X`` (N, D) float32 standardised features, ``y`` (N,) int64 events, ``risk`` (N,) true probability,
    ``patient_id`` (N,), ``feature_names``."""

    X: np.ndarray
    y: np.ndarray
    risk: np.ndarray
    patient_id: np.ndarray
    feature_names: list[str]


def simulate_risk_cohort(n: int = 2000, n_labs: int = 24, seed: int = 0) -> RiskCohort:
    """Simulate ``n`` patients with ``n_labs`` features (8 clinical + correlated labs) and a known 5-year risk."""
    seed = check_seed(seed)
    if int(n) < 20 or int(n_labs) < 8:
        raise ConfigError(f"n={n}, n_labs={n_labs}: need n >= 20 patients and n_labs >= 8 features.")
    rng = np.random.default_rng(seed)
    names = list(COEFFICIENTS)
    z = rng.standard_normal((n, len(names)))
    z[:, 1] = (rng.random(n) < 0.5).astype(float) * 2 - 1        # sex, +-1
    z[:, 6] = (rng.random(n) < 0.2).astype(float) * 2.5 - 0.5      # smoker, 20 %
    beta = np.array([COEFFICIENTS[k] for k in names])
    risk = 1 / (1 + np.exp(-(INTERCEPT + z @ beta)))
    y = (rng.random(n) < risk).astype(np.int64)
    extra = int(n_labs) - len(names)
    mix = rng.normal(0, 0.5, (len(names), extra))
    labs = z @ mix + rng.standard_normal((n, extra))
    X = np.concatenate([z, labs], axis=1)
    X = (X - X.mean(0)) / X.std(0)
    return RiskCohort(X.astype(np.float32), y, risk, np.arange(n), names + [f"lab_{i:02d}" for i in range(extra)])
