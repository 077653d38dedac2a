"""Point and probabilistic forecast accuracy: MASE, sMAPE, pinball loss, interval coverage (:func:`coverage`).

Conventions of the M4 competition (Makridakis, Spiliotis & Assimakopoulos 2020, *Int J Forecast*
36:54): MASE divides the mean absolute error of the forecast by the in-sample mean absolute
error of the seasonal naive forecast,

.. math:: \\mathrm{MASE} = \\frac{\\frac1H\\sum_{h=1}^{H}|y_{T+h}-\\hat y_{T+h}|}
          {\\frac{1}{T-m}\\sum_{t=m+1}^{T}|y_t-y_{t-m}|}

(Hyndman & Koehler 2006), and sMAPE is :math:`\\frac{200}{H}\\sum_h \\frac{|y-\\hat y|}{|y|+|\\hat y|}`.
The pinball (quantile) loss of a quantile forecast :math:`q` at level :math:`\\tau` is
:math:`\\max(\\tau(y-q), (\\tau-1)(y-q))` (Koenker & Bassett 1978).
"""
from __future__ import annotations

import numpy as np

from medbench.errors import ConfigError, DataError

__all__ = ["mase", "mase_scale", "smape", "pinball_loss", "coverage"]


def _arr(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.size == 0:
        raise DataError(f"{name} is empty")
    if not np.isfinite(a).all():
        raise DataError(f"{name} holds {int((~np.isfinite(a)).sum())} NaN/inf values: forecasts and "
                        "truths must be finite (fill or drop missing days first)")
    return a


def _same_shape(a, b, na: str, nb: str) -> None:
    if a.shape != b.shape:
        raise DataError(f"{na} has shape {a.shape} but {nb} has shape {b.shape}: they must match")


def mase_scale(y_train, m: int = 7) -> float:
    """In-sample mean absolute error of the seasonal naive forecast ``y[t-m]`` (the MASE denominator).

    Args:
        y_train: ``(T,)`` training series (consecutive periods, no gaps), ``T > m``.
        m: seasonal period (7 for daily data with a weekly cycle; 1 gives the naive scale).
    """
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ConfigError(f"m (the seasonal period) must be an integer >= 1, got {m!r}")
    y = _arr(y_train, "y_train").ravel()
    if len(y) <= m:
        raise DataError(f"y_train needs more than m={m} values for the seasonal naive scale, got {len(y)}")
    scale = float(np.mean(np.abs(y[m:] - y[:-m])))
    if scale == 0:
        raise DataError("y_train repeats itself exactly every m periods: the MASE scale is 0 (undefined)")
    return scale


def mase(y_true, y_pred, y_train=None, m: int = 7, scale: float | None = None) -> float:
    """Mean absolute scaled error (M4 convention; 1.0 = as good as in-sample seasonal naive).

    Args:
        y_true: ``(H,)`` or ``(N, H)`` realised values.
        y_pred: same shape, point forecasts.
        y_train: the series the forecast was made from (gives the scale); or pass ``scale``.
        m: seasonal period of the scale.
        scale: a precomputed :func:`mase_scale` (scalar, or ``(N,)`` per forecast origin).
    """
    yt, yp = _arr(y_true, "y_true"), _arr(y_pred, "y_pred")
    _same_shape(yt, yp, "y_true", "y_pred")
    if scale is None:
        if y_train is None:
            raise ConfigError("mase needs y_train (for the seasonal naive scale) or scale")
        scale = mase_scale(y_train, m)
    scale = _arr(scale, "scale")
    if (scale <= 0).any():
        raise DataError("scale must be positive")
    err = np.abs(yt - yp)
    if scale.ndim == 1 and yt.ndim == 2:
        err = err / scale[:, None]
        return float(err.mean())
    return float(err.mean() / scale)


def smape(y_true, y_pred) -> float:
    """Symmetric MAPE in percent (M4): ``200/H * sum |y - yhat| / (|y| + |yhat|)``; 0/0 terms count 0."""
    yt, yp = _arr(y_true, "y_true"), _arr(y_pred, "y_pred")
    _same_shape(yt, yp, "y_true", "y_pred")
    den = np.abs(yt) + np.abs(yp)
    terms = np.divide(np.abs(yt - yp), den, out=np.zeros_like(den), where=den > 0)
    return float(200 * terms.mean())


def pinball_loss(y_true, y_quantile, tau: float) -> float:
    """Mean pinball loss of quantile forecasts at level ``tau`` (0.5: half the absolute error).

    Args:
        y_true: realised values, any shape.
        y_quantile: the forecast ``tau``-quantiles, same shape.
        tau: quantile level in (0, 1).
    """
    if not 0 < tau < 1:
        raise ConfigError(f"tau must lie in (0, 1), got {tau!r}")
    yt, q = _arr(y_true, "y_true"), _arr(y_quantile, "y_quantile")
    _same_shape(yt, q, "y_true", "y_quantile")
    d = yt - q
    return float(np.mean(np.maximum(tau * d, (tau - 1) * d)))


def coverage(y_true, lower, upper) -> float:
    """Share of realised values inside ``[lower, upper]`` (an 80% interval should cover ~0.80)."""
    yt, lo, hi = _arr(y_true, "y_true"), _arr(lower, "lower"), _arr(upper, "upper")
    _same_shape(yt, lo, "y_true", "lower")
    _same_shape(yt, hi, "y_true", "upper")
    if (lo > hi).any():
        raise DataError(f"lower exceeds upper in {int((lo > hi).sum())} places: pass (lower, upper) in order")
    return float(np.mean((yt >= lo) & (yt <= hi)))
