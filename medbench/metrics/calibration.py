"""Calibration of predicted probabilities by logistic recalibration (Cox 1958; Steyerberg 2019).

With the linear predictor :math:`\\mathrm{lp} = \\operatorname{logit}(p)`,

- the **calibration slope** :math:`b` comes from :math:`\\operatorname{logit} P(y=1) = a + b\\,\\mathrm{lp}`
  (1 is ideal; below 1 the predictions are too extreme, as from an overfitted model; above 1 too modest);
- the **calibration intercept** (calibration-in-the-large) :math:`a` comes from
  :math:`\\operatorname{logit} P(y=1) = a + \\mathrm{lp}` (slope fixed at 1; 0 is ideal; above 0 the
  model under-predicts the event rate, below 0 it over-predicts).

Both are maximum-likelihood fits (Newton–Raphson); no package beyond NumPy is needed.
"""
from __future__ import annotations

import numpy as np

from medbench.errors import DataError

__all__ = ["calibration_slope_intercept", "calibration_slope", "calibration_intercept"]


def _newton(y: np.ndarray, X: np.ndarray, offset: np.ndarray, iters: int = 50) -> np.ndarray:
    beta = np.zeros(X.shape[1])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(offset + X @ beta)))
        w = np.clip(p * (1 - p), 1e-12, None)
        step = np.linalg.solve(X.T @ (X * w[:, None]) + 1e-10 * np.eye(X.shape[1]), X.T @ (y - p))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def calibration_slope_intercept(y_true, y_score, eps: float = 1e-6) -> tuple[float, float]:
    """Calibration slope and intercept of binary probabilities (logistic recalibration).

    Args:
        y_true: ``(N,)`` labels in {0, 1}, both present.
        y_score: ``(N,)`` predicted probabilities (clipped to ``[eps, 1 - eps]`` before the logit).

    Returns:
        ``(slope, intercept)``: ideal ``(1, 0)``.
    """
    y = np.asarray(y_true, float).reshape(-1)
    p = np.clip(np.asarray(y_score, float).reshape(-1), eps, 1 - eps)
    if len(y) != len(p):
        raise DataError(f"y_true has {len(y)} cases but y_score has {len(p)}")
    if not (0 < y.sum() < len(y)):
        raise DataError("calibration needs both classes in y_true")
    lp = np.log(p / (1 - p))
    ones = np.ones((len(y), 1))
    slope = _newton(y, np.column_stack([ones, lp]), np.zeros_like(lp))[1]
    intercept = _newton(y, ones, lp)[0]
    return float(slope), float(intercept)


def _one_class(y_true) -> bool:
    y = np.asarray(y_true, float).reshape(-1)
    return not (0 < y.sum() < len(y))


def calibration_slope(y_true, y_score) -> float:
    """The slope of :func:`calibration_slope_intercept`; NaN when ``y_true`` holds one class only
    (so :func:`medbench.metrics.bootstrap_ci` can skip such resamples)."""
    return float("nan") if _one_class(y_true) else calibration_slope_intercept(y_true, y_score)[0]


def calibration_intercept(y_true, y_score) -> float:
    """The intercept of :func:`calibration_slope_intercept`; NaN when ``y_true`` holds one class only."""
    return float("nan") if _one_class(y_true) else calibration_slope_intercept(y_true, y_score)[1]
