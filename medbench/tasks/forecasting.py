"""Forecasting a ward's census 1-14 days ahead, evaluated by rolling origin.

Methods (each returns a point forecast and, where it has them, quantiles):

- ``seasonal_naive``: the value one week earlier (:math:`\\hat y_{T+h} = y_{T+h-7\\lceil h/7\\rceil}`),
  intervals from its own in-sample errors at each horizon;
- ``ets``: additive damped-trend Holt-Winters with weekly seasonality
  (``statsmodels.tsa.holtwinters.ExponentialSmoothing``), fitted on the last ``fit_days``;
- ``sarima``: SARIMA(1,1,1)(0,1,1)_7 (``statsmodels`` ``SARIMAX``; the "airline" structure, kept
  small because each origin refits it), on the last ``fit_days``;
- ``gbm``: scikit-learn ``HistGradientBoostingRegressor``, one direct model for all horizons on
  lag, admission-history and calendar features (:func:`medbench.data.hospital.lag_features`), refitted at each origin;
- ``lstm``: :class:`~medbench.models.forecasting.QuantileLSTM` trained once with
  :func:`medbench.training.fit` on the days before the first origin (pinball loss), updated at
  each origin by reading the newest window; its intervals are conformalized (CQR, Romano et al.
  2019) per horizon on the last ``cal_days`` origins whose outcomes are known at the forecast
  origin (a rolling calibration window: the network is trained once, the season moves on);
- ``oracle``: :func:`medbench.data.hospital.oracle_forecast`, the exact predictive distribution.

:func:`rolling_origin` moves the forecast origin through the last weeks (>= 8 origins), fits
every method on the data up to each origin only, and collects the forecasts into
:class:`RollingResult`. :func:`kfold_optimism` refits the gradient boosting under random K-fold
(which trains on the future) and scores the *same* targets, showing how it flatters the model.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from medbench.data.hospital import N_LAGS, HospitalSim, check_horizon, lag_features, oracle_forecast, ward_frame
from medbench.errors import ConfigError
from medbench.metrics.forecasting import coverage, mase, mase_scale, pinball_loss
from medbench.models.forecasting import QuantileLSTM, pinball_torch
from medbench.settings import check_seed
from medbench.training import fit

__all__ = ["QUANTILES", "METHODS", "RollingResult", "choose_origins", "seasonal_naive",
           "ets_forecast", "sarima_forecast", "GBMForecaster", "LSTMForecaster",
           "rolling_origin", "kfold_optimism", "summary_table"]

QUANTILES = (0.025, 0.1, 0.5, 0.9, 0.975)
METHODS = ("seasonal_naive", "ets", "sarima", "gbm", "lstm", "oracle")


@dataclass
class RollingResult:
    """Forecasts of one method at every origin.

    Attributes:
        method: its name.
        origins: ``(N,)`` origin day indices.
        truth: ``(N, H)`` realised census.
        mean: ``(N, H)`` point forecasts.
        q: ``{level: (N, H)}`` quantile forecasts (empty if the method has none).
        scale: ``(N,)`` in-sample seasonal-naive MAE at each origin (MASE denominators).
        seconds: wall time spent fitting and forecasting.
    """

    method: str
    origins: np.ndarray
    truth: np.ndarray
    mean: np.ndarray
    q: dict = field(default_factory=dict)
    scale: np.ndarray | None = None
    seconds: float = 0.0

    def mase(self, horizon: int | None = None) -> float:
        """MASE over origins (and horizons, or one ``horizon`` in 1..H)."""
        if horizon is None:
            return mase(self.truth, self.mean, scale=self.scale)
        j = horizon - 1
        return mase(self.truth[:, j:j + 1], self.mean[:, j:j + 1], scale=self.scale)

    def coverage(self, level: float = 0.8) -> float:
        """Share of realised values inside the central ``level`` interval (NaN without quantiles)."""
        lo, hi = round((1 - level) / 2, 4), round((1 + level) / 2, 4)
        if lo not in self.q or hi not in self.q:
            return float("nan")
        return coverage(self.truth, self.q[lo], self.q[hi])

    def pinball(self) -> float:
        """Mean pinball loss over the quantile levels (NaN without quantiles)."""
        if not self.q:
            return float("nan")
        return float(np.mean([pinball_loss(self.truth, v, t) for t, v in self.q.items()]))


def choose_origins(n_days: int, n_origins: int, horizon: int, step: int = 7) -> np.ndarray:
    """The last ``n_origins`` origins, ``step`` days apart, leaving ``horizon`` days after the last."""
    horizon = check_horizon(horizon)
    if n_origins < 1:
        raise ConfigError(f"n_origins must be >= 1, got {n_origins}")
    last = n_days - 1 - horizon
    origins = last - step * np.arange(n_origins)[::-1]
    if origins[0] < 400:
        raise ConfigError(f"{n_origins} origins {step} days apart need more than {n_days} simulated days "
                          "(keep >= 400 days of history before the first origin)")
    return origins


# ------------------------------------------------------------------------ classical methods
def seasonal_naive(y, horizon: int, m: int = 7, quantiles=QUANTILES) -> dict:
    """Weekly seasonal naive forecast; quantiles from its in-sample errors at each horizon.

    Args:
        y: ``(T,)`` history up to the origin.
        horizon: days ahead ``H``.
        m: season length.
        quantiles: levels of the returned quantiles.

    Returns:
        ``{"mean": (H,), "q": {level: (H,)}}``.
    """
    y = np.asarray(y, float)
    horizon = check_horizon(horizon)
    T = len(y)
    mean = np.array([y[T - 1 + h - m * int(np.ceil(h / m))] for h in range(1, horizon + 1)])
    q = {}
    errs = []
    for h in range(1, horizon + 1):
        k = m * int(np.ceil(h / m))
        e = y[k:] - y[:-k]  # in-sample errors of the same lag
        errs.append(e[-730:])
    for t in quantiles:
        q[t] = mean + np.array([np.quantile(e, t) for e in errs])
    return {"mean": mean, "q": q}


def ets_forecast(y, horizon: int, fit_days: int = 730) -> dict:
    """Damped additive Holt-Winters (weekly) fitted on the last ``fit_days``: ``{"mean": (H,)}``."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = np.asarray(y, float)[-fit_days:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ExponentialSmoothing(y, trend="add", damped_trend=True, seasonal="add", seasonal_periods=7).fit()
    return {"mean": np.asarray(res.forecast(check_horizon(horizon)))}


def sarima_forecast(y, horizon: int, fit_days: int = 730, order=(1, 1, 1), seasonal_order=(0, 1, 1, 7),
                    quantiles=QUANTILES) -> dict:
    """SARIMA fitted on the last ``fit_days``: ``{"mean": (H,), "q": {level: (H,)}}`` (Gaussian intervals)."""
    from scipy import stats
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = np.asarray(y, float)[-fit_days:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = SARIMAX(y, order=order, seasonal_order=seasonal_order).fit(disp=False)
        fc = res.get_forecast(check_horizon(horizon))
    mean, sd = np.asarray(fc.predicted_mean), np.sqrt(np.asarray(fc.var_pred_mean))
    return {"mean": mean, "q": {t: mean + stats.norm.ppf(t) * sd for t in quantiles}}


# ------------------------------------------------------------------------ gradient boosting
class GBMForecaster:
    """Direct multi-horizon gradient boosting on :func:`~medbench.data.hospital.lag_features` (scikit-learn API: ``fit``/``predict``)."""

    def __init__(self, horizon: int = 14, max_iter: int = 200, learning_rate: float = 0.05, train_days: int = 1095,
                 seed: int = 0):
        self.horizon, self.max_iter, self.learning_rate = check_horizon(horizon), max_iter, learning_rate
        self.train_days, self.seed = train_days, check_seed(seed)

    def fit(self, frame: pd.DataFrame, origin: int) -> "GBMForecaster":
        """Fit on every origin whose targets are observed by ``origin`` (nothing after it)."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        start = max(N_LAGS, origin - self.train_days)
        train_origins = np.arange(start, origin - self.horizon + 1)
        X, y = lag_features(frame, train_origins, self.horizon)
        self.model_ = HistGradientBoostingRegressor(max_iter=self.max_iter, learning_rate=self.learning_rate,
                                                    random_state=self.seed).fit(X, y)
        return self

    def predict(self, frame: pd.DataFrame, origin: int) -> np.ndarray:
        """``(H,)`` census forecasts for ``origin + 1 .. origin + H``."""
        X, _ = lag_features(frame, [origin], self.horizon)
        return frame["census"].to_numpy()[origin] + self.model_.predict(X)


# ------------------------------------------------------------------------ quantile LSTM
class LSTMForecaster:
    """A :class:`QuantileLSTM` trained with :func:`medbench.training.fit` on windows before an origin.

    Inputs per day: census (centred on the window's last day), emergency and elective admissions,
    discharges, holiday, day of week and day of year (sine/cosine); scaled by training statistics.
    Targets: census change over 1..H days divided by ``scale_`` (the in-sample seasonal-naive MAE).
    ``calibration``: "rolling" (CQR on the last ``cal_days`` origins with known outcomes, at each
    forecast), "validation" (CQR on the validation windows, fixed) or "none" (raw quantiles).
    """

    def __init__(self, horizon: int = 14, window: int = 28, hidden: int = 64, epochs: int = 30, lr: float = 3e-3,
                 batch_size: int = 64, quantiles=QUANTILES, val_days: int = 182, calibration: str = "rolling",
                 cal_days: int = 182, seed: int = 0, device="cpu", progress: bool = False):
        self.horizon, self.window, self.hidden, self.epochs = check_horizon(horizon), window, hidden, epochs
        self.lr, self.batch_size, self.quantiles, self.val_days = lr, batch_size, tuple(quantiles), val_days
        if calibration not in ("rolling", "validation", "none"):
            raise ConfigError(f"calibration must be 'rolling', 'validation' or 'none', got {calibration!r}")
        self.calibration, self.cal_days = calibration, int(cal_days)
        self.seed, self.device, self.progress = check_seed(seed), device, progress

    def _inputs(self, frame: pd.DataFrame) -> np.ndarray:
        d = frame.index
        X = np.stack([frame["census"], frame["emergency"], frame["elective"], frame["discharges"], frame["holiday"],
                      np.sin(2 * np.pi * d.dayofweek / 7), np.cos(2 * np.pi * d.dayofweek / 7),
                      np.sin(2 * np.pi * d.dayofyear / 365.25), np.cos(2 * np.pi * d.dayofyear / 365.25)], 1)
        return X.astype(np.float32)

    def _windows(self, X, c, origins, with_target=True):
        L, H = self.window, self.horizon
        xs = np.stack([X[t - L + 1:t + 1] for t in origins]).copy()
        xs[:, :, 0] -= c[origins][:, None]  # census relative to the origin
        xs = (xs - self.mu_) / self.sd_
        if not with_target:
            return torch.from_numpy(xs.astype(np.float32))
        ys = np.stack([c[t + 1:t + H + 1] - c[t] for t in origins]) / self.scale_
        return torch.from_numpy(xs.astype(np.float32)), torch.from_numpy(ys.astype(np.float32))

    def fit(self, frame: pd.DataFrame, origin: int, callbacks=()) -> "LSTMForecaster":
        """Train on windows whose targets end by ``origin``; the last ``val_days`` choose the epoch
        and calibrate the intervals."""
        from torch.utils.data import DataLoader, TensorDataset

        X, c = self._inputs(frame), frame["census"].to_numpy()
        L, H = self.window, self.horizon
        all_o = np.arange(L, origin - H + 1)
        split = origin - H - self.val_days
        tr, va = all_o[all_o <= split - H], all_o[all_o > split]  # a gap of H days: no shared targets
        self.scale_ = mase_scale(c[:origin + 1], 7)
        ref = np.stack([X[t - L + 1:t + 1] for t in tr[::7]]).copy()
        ref[:, :, 0] -= c[tr[::7]][:, None]
        self.mu_, self.sd_ = ref.mean((0, 1)), ref.std((0, 1)) + 1e-6
        xtr, ytr = self._windows(X, c, tr)
        xva, yva = self._windows(X, c, va)
        g = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self.model_ = QuantileLSTM(X.shape[1], H, self.quantiles, hidden=self.hidden)
        t0 = time.time()
        self.history_ = fit(self.model_, DataLoader(TensorDataset(xtr, ytr), batch_size=self.batch_size, shuffle=True,
                                                    generator=g),
                            DataLoader(TensorDataset(xva, yva), batch_size=512),
                            loss_fn=lambda p, y: pinball_torch(p, y, self.quantiles), epochs=self.epochs, lr=self.lr,
                            scheduler="cosine", precision="fp32", device=self.device, seed=self.seed,
                            progress=self.progress, callbacks=callbacks)
        self.train_seconds_ = time.time() - t0
        self.offsets_ = self._conformal(X, c, va)  # static CQR offsets from the validation windows
        return self

    def _raw(self, xs: torch.Tensor) -> np.ndarray:
        self.model_.eval()
        with torch.no_grad():
            return self.model_(xs.to(next(self.model_.parameters()).device)).float().cpu().numpy()

    def _conformal(self, X, c, cal_origins) -> dict:
        """Per-horizon CQR offsets ``{lower level: (H,)}`` from origins whose ``H``-day targets are known:
        the ``ceil((n+1)(1-a))/n`` quantile of the conformity scores ``max(lo - y, y - hi)``."""
        xs, ys = self._windows(X, c, cal_origins)
        pred, truth, out = self._raw(xs), ys.numpy(), {}
        for lo_t in [t for t in self.quantiles if t < 0.5 and round(1 - t, 6) in self.quantiles]:
            lo, hi = pred[..., self.quantiles.index(lo_t)], pred[..., self.quantiles.index(round(1 - lo_t, 6))]
            e = np.maximum(lo - truth, truth - hi)  # (n, H); negative where the interval was too wide
            out[lo_t] = np.quantile(e, min(1.0, np.ceil((len(e) + 1) * (1 - 2 * lo_t)) / len(e)), axis=0)
        return out

    def predict(self, frame: pd.DataFrame, origin: int) -> dict:
        """``{"mean": (H,), "q": {level: (H,)}}`` for the ``H`` days after ``origin`` (median as the point)."""
        X, c = self._inputs(frame), frame["census"].to_numpy()
        p = self._raw(self._windows(X, c, np.array([origin]), with_target=False))[0]  # (H, Q)
        med = p[:, self.quantiles.index(0.5)]
        off = {}
        if self.calibration == "rolling":  # outcomes known by the origin: targets end at origin at the latest
            cal = np.arange(max(self.window, origin - self.horizon - self.cal_days + 1), origin - self.horizon + 1)
            off = self._conformal(X, c, cal) if len(cal) >= 20 else self.offsets_
        elif self.calibration == "validation":
            off = self.offsets_
        q = {}
        for j, t in enumerate(self.quantiles):
            lo_t = min(t, round(1 - t, 6))
            shift = 0.0 if t == 0.5 or lo_t not in off else (-off[lo_t] if t < 0.5 else off[lo_t])
            v = p[:, j] + shift
            q[t] = c[origin] + self.scale_ * (np.minimum(v, med) if t < 0.5 else np.maximum(v, med))
        return {"mean": q[0.5], "q": q}


# ------------------------------------------------------------------------ rolling origin
def rolling_origin(sim: HospitalSim, ward: str, *, origins, horizon: int = 14, methods=METHODS, seed: int = 0,
                   lstm: dict | None = None, gbm: dict | None = None, fit_days: int = 730, refit_every: int = 1,
                   progress: bool = False) -> dict:
    """Evaluate ``methods`` at each origin on data up to that origin only.

    Args:
        sim: the simulated hospital; ward: which ward's census.
        origins: ``(N,)`` increasing day indices (see :func:`choose_origins`), N >= 1.
        horizon: days ahead.
        methods: subset of :data:`METHODS`.
        seed: seed for the learned models.
        lstm, gbm: keyword arguments of :class:`LSTMForecaster` / :class:`GBMForecaster`.
        fit_days: history used by ETS and SARIMA.
        refit_every: refit the gradient boosting at every k-th origin; in between, its last fit
            (made on older data only) forecasts from the new origin's features.
        progress: tqdm bar over origins.

    Returns:
        ``{method: RollingResult}``; the fitted LSTM is ``result["lstm"].model``.
    """
    from tqdm.auto import tqdm

    horizon, seed = check_horizon(horizon), check_seed(seed)
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ConfigError(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    frame = ward_frame(sim, ward)
    c = frame["census"].to_numpy()
    origins = np.asarray(origins, int)
    if origins.max() + horizon >= len(c):
        raise ConfigError(f"the last origin + horizon ({origins.max() + horizon}) is beyond the {len(c)} days")
    out = {m: {"mean": [], "q": {}, "seconds": 0.0} for m in methods}
    model = gbm_fit = None
    if "lstm" in methods:
        t0 = time.time()
        model = LSTMForecaster(horizon=horizon, seed=seed, **(lstm or {})).fit(frame, int(origins[0]))
        out["lstm"]["seconds"] += time.time() - t0
    for i, o in enumerate(tqdm(origins, desc=f"rolling origin ({ward})", disable=not progress)):
        y = c[:o + 1]
        for m in methods:
            t0 = time.time()
            if m == "seasonal_naive":
                f = seasonal_naive(y, horizon)
            elif m == "ets":
                f = ets_forecast(y, horizon, fit_days)
            elif m == "sarima":
                f = sarima_forecast(y, horizon, fit_days)
            elif m == "gbm":
                if gbm_fit is None or i % max(int(refit_every), 1) == 0:
                    gbm_fit = GBMForecaster(horizon, seed=seed, **(gbm or {})).fit(frame, int(o))
                f = {"mean": gbm_fit.predict(frame, int(o))}
            elif m == "lstm":
                f = model.predict(frame, int(o))
            else:
                f = oracle_forecast(sim, ward, int(o), horizon, QUANTILES)
            out[m]["seconds"] += time.time() - t0
            out[m]["mean"].append(f["mean"])
            for t, v in f.get("q", {}).items():
                out[m]["q"].setdefault(t, []).append(v)
    truth = np.stack([c[o + 1:o + horizon + 1] for o in origins])
    scale = np.array([mase_scale(c[:o + 1], 7) for o in origins])
    res = {m: RollingResult(m, origins, truth, np.stack(v["mean"]), {t: np.stack(q) for t, q in v["q"].items()},
                            scale, v["seconds"]) for m, v in out.items()}
    if model is not None:
        res["lstm"].model = model
    return res


def kfold_optimism(sim: HospitalSim, ward: str, *, origins, horizon: int = 14, k: int = 5, seed: int = 0,
                   gbm: dict | None = None, rolling: RollingResult | None = None) -> dict:
    """Random K-fold vs rolling origin for the gradient boosting, scored on the same targets.

    Random K-fold shuffles the (origin, h) rows of all days into ``k`` folds: a test row's
    neighbours in time, and the days after it, sit in the training folds. The rows of the rolling
    origins are scored out of fold with the same MASE scales as :func:`rolling_origin`.

    Returns:
        ``{"kfold_mase", "rolling_mase", "kfold_optimism"}`` (optimism = K-fold minus rolling; < 0 flatters).
    """
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import KFold

    seed = check_seed(seed)
    frame = ward_frame(sim, ward)
    c = frame["census"].to_numpy()
    origins = np.asarray(origins, int)
    all_o = np.arange(max(N_LAGS, origins[0] - GBMForecaster().train_days), origins[-1] + 1)
    X, y = lag_features(frame, all_o, horizon)
    oof = np.full(len(y), np.nan)
    g = gbm or {}
    for tr, te in KFold(k, shuffle=True, random_state=seed).split(X):
        m = HistGradientBoostingRegressor(max_iter=g.get("max_iter", 200), learning_rate=g.get("learning_rate", 0.05),
                                          random_state=seed).fit(X[tr], y[tr])
        oof[te] = m.predict(X[te])
    rows = np.searchsorted(all_o, origins)
    pred = np.stack([c[o] + oof[r * horizon:(r + 1) * horizon] for o, r in zip(origins, rows)])
    truth = np.stack([c[o + 1:o + horizon + 1] for o in origins])
    scale = np.array([mase_scale(c[:o + 1], 7) for o in origins])
    if rolling is None:
        rolling = rolling_origin(sim, ward, origins=origins, horizon=horizon, methods=("gbm",), seed=seed, gbm=gbm)["gbm"]
    kf = mase(truth, pred, scale=scale)
    return {"kfold_mase": kf, "rolling_mase": rolling.mase(), "kfold_optimism": kf - rolling.mase()}


def summary_table(results: dict) -> pd.DataFrame:
    """One row per method: MASE (all horizons, h=1, h=7, h=14), 80%/95% coverage, pinball loss, seconds."""
    rows = {}
    for m, r in results.items():
        H = r.truth.shape[1]
        rows[m] = {"MASE": r.mase(), "MASE h=1": r.mase(1), f"MASE h={min(7, H)}": r.mase(min(7, H)),
                   f"MASE h={H}": r.mase(H), "coverage 80%": r.coverage(0.8), "coverage 95%": r.coverage(0.95),
                   "pinball": r.pinball(), "seconds": r.seconds}
    return pd.DataFrame(rows).T
