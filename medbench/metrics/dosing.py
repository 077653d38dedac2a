"""Dose-prediction measures: point errors (MAE, PW20, R²) and distribution scores (interval
coverage and width, CRPS from samples).

Doses are in mg/week. PW20 is the share of patients whose predicted dose lies within 20% of the
dose they actually needed (IWPC 2009, NEJM 360:753), as a fraction in [0, 1].
The CRPS of a sample ``x_1..x_S`` at the observation ``y`` is the energy form
``CRPS = mean_s |x_s - y| - 1/2 mean_{s,t} |x_s - x_t|`` (Gneiting & Raftery 2007, *JASA* 102:359);
it has the dose's units, rewards sharp *and* calibrated distributions, and equals the absolute
error when the "distribution" is a single point.
"""
from __future__ import annotations

import numpy as np

from medbench.errors import ConfigError

__all__ = ["dose_mae", "pw20", "dose_r2", "interval_coverage", "interval_width", "crps_samples",
           "dose_scores"]


def _pair(y_true, y_pred):
    y, p = np.asarray(y_true, dtype=np.float64).ravel(), np.asarray(y_pred, dtype=np.float64).ravel()
    if y.shape != p.shape or y.size == 0:
        raise ConfigError(f"y_true and y_pred must be non-empty and of equal length, got {y.shape} and {p.shape}")
    return y, p


def dose_mae(y_true, y_pred) -> float:
    """Mean absolute error (mg/week). Args: ``(N,)`` true and predicted doses."""
    y, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(p - y)))


def pw20(y_true, y_pred, tol: float = 0.2) -> float:
    """Share of patients with ``|pred - true| <= tol * true`` (fraction in [0, 1])."""
    y, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(p - y) <= tol * y))


def dose_r2(y_true, y_pred) -> float:
    """Coefficient of determination on the dose scale (may be negative)."""
    y, p = _pair(y_true, y_pred)
    return float(1.0 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))


def _samples(y_true, samples):
    y = np.asarray(y_true, dtype=np.float64).ravel()
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != y.size:
        raise ConfigError(f"samples must be (N, S) with N = len(y_true) = {y.size}, got shape {s.shape}")
    return y, s


def interval_coverage(y_true, samples, level: float = 0.8) -> float:
    """Share of patients whose true dose lies in the central ``level`` interval of their samples.

    Args:
        y_true: ``(N,)`` true doses. samples: ``(N, S)`` sampled doses per patient.
        level: central probability of the interval (0.8: the 10th to 90th percentile).
    """
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level}")
    y, s = _samples(y_true, samples)
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return float(np.mean((y >= lo) & (y <= hi)))


def interval_width(samples, level: float = 0.8) -> float:
    """Mean width (mg/week) of the central ``level`` interval of ``(N, S)`` samples."""
    s = np.asarray(samples, dtype=np.float64)
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return float(np.mean(hi - lo))


def crps_samples(y_true, samples, reduce: bool = True):
    """Continuous ranked probability score of per-patient samples (lower is better).

    Args:
        y_true: ``(N,)`` observed doses. samples: ``(N, S)`` sampled doses.
        reduce: return the mean over patients (else the ``(N,)`` scores).

    Returns:
        The mean CRPS (mg/week), or ``(N,)`` per-patient CRPS.
    """
    y, s = _samples(y_true, samples)
    n_s = s.shape[1]
    s = np.sort(s, axis=1)
    term1 = np.mean(np.abs(s - y[:, None]), axis=1)
    # mean_{s,t} |x_s - x_t| from sorted samples: (2 / S^2) sum_i (2i - S - 1) x_(i)
    w = 2 * np.arange(1, n_s + 1) - n_s - 1
    term2 = 2.0 * (s @ w) / n_s ** 2
    crps = term1 - 0.5 * term2
    return float(np.mean(crps)) if reduce else crps


def dose_scores(y_true, samples=None, point=None, level: float = 0.8) -> dict:
    """Every dosing score at once.

    Args:
        y_true: ``(N,)`` true doses (mg/week).
        samples: optional ``(N, S)`` sampled doses (gives coverage, width, CRPS; and the point
            prediction, their median, when ``point`` is None).
        point: optional ``(N,)`` point predictions.
        level: interval level.

    Returns:
        ``{"mae", "pw20", "r2"}`` plus ``{"coverage", "width", "crps"}`` when samples are given (a
        point prediction's CRPS is its MAE).
    """
    if samples is None and point is None:
        raise ConfigError("dose_scores needs samples, point predictions, or both")
    if point is None:
        point = np.median(np.asarray(samples, dtype=np.float64), axis=1)
    out = {"mae": dose_mae(y_true, point), "pw20": pw20(y_true, point), "r2": dose_r2(y_true, point)}
    if samples is not None:
        out.update(coverage=interval_coverage(y_true, samples, level), width=interval_width(samples, level),
                   crps=crps_samples(y_true, samples))
    return out
