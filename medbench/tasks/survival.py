"""Survival on real cohorts that ship with lifelines (offline): Cox PH and a neural Cox model.

The pipeline, stage by stage:

- data: :func:`medbench.data.survival_cohorts.load_cohort` (GBSG2, NCCTG lung) and
  :func:`~medbench.data.survival_cohorts.survival_split` (patients held out, stratified by event);
- :class:`Preprocessor`: median imputation and scaling learnt on the training patients only;
- :func:`fit_cox`: lifelines' Cox proportional-hazards model;
- :func:`fit_neural_cox`: :class:`medbench.models.survival.NeuralCox` trained with
  :func:`~medbench.models.survival.cox_partial_likelihood_loss` through
  :func:`medbench.training.fit`; :func:`neural_risk` scores new patients;
- evaluation: :func:`medbench.metrics.cindex` (Harrell's C) on held-out patients with a
  percentile bootstrap CI (:func:`cindex_ci`, and the paired interval of the neural-minus-Cox
  difference on the same resamples); :func:`compare_on_cohort` runs both models on one cohort
  the way chapter 04 reports them;
- assumptions: :meth:`CoxModel.ph_test`, lifelines' test of proportional hazards on the scaled
  Schoenfeld residuals (Grambsch & Therneau 1994).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from medbench.data.survival_cohorts import SurvivalData, survival_split
from medbench.errors import ConfigError
from medbench.metrics.survival import cindex
from medbench.models.survival import NeuralCox, cox_partial_likelihood_loss

__all__ = ["Preprocessor", "CoxModel", "fit_cox", "fit_neural_cox", "neural_risk", "cindex_ci", "compare_on_cohort"]


class Preprocessor:
    """Median imputation and standardisation learnt on the training patients."""

    def fit(self, X: pd.DataFrame) -> "Preprocessor":
        self.columns_ = list(X.columns)
        self.median_ = X.median()
        filled = X.fillna(self.median_)
        self.mean_, self.std_ = filled.mean(), filled.std().replace(0, 1.0)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return (X[self.columns_].fillna(self.median_) - self.mean_) / self.std_


@dataclass
class CoxModel:
    """A fitted lifelines ``CoxPHFitter`` with its preprocessor and the table it was fitted on."""

    fitter: object
    prep: Preprocessor
    train_frame: pd.DataFrame | None = None

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        """Log partial hazard per patient ``(N,)`` (higher = higher risk)."""
        return np.asarray(self.fitter.predict_log_partial_hazard(self.prep.transform(X))).ravel()

    @property
    def summary(self) -> pd.DataFrame:
        return self.fitter.summary

    def ph_test(self, time_transform: str = "rank") -> pd.DataFrame:
        """Test of proportional hazards per covariate (``lifelines.statistics.proportional_hazard_test``).

        Under proportional hazards a covariate's scaled Schoenfeld residuals do not trend with
        (a transform of) time; the test is the score test of that slope (Grambsch & Therneau
        1994), chi-squared with 1 degree of freedom, on the training patients.

        Returns:
            One row per covariate: ``test_statistic``, ``p`` and ``-log2(p)``.
        """
        from lifelines.statistics import proportional_hazard_test

        if self.train_frame is None:
            raise ConfigError("this CoxModel keeps no training table (train_frame): fit it with fit_cox")
        return proportional_hazard_test(self.fitter, self.train_frame, time_transform=time_transform).summary


def fit_cox(train: SurvivalData, penalizer: float = 0.01) -> CoxModel:
    """Fit a Cox PH model (lifelines) on standardised covariates of the training patients."""
    from lifelines import CoxPHFitter

    prep = Preprocessor().fit(train.X)
    df = prep.transform(train.X).assign(time=train.time, event=train.event)
    fitter = CoxPHFitter(penalizer=penalizer).fit(df, duration_col="time", event_col="event")
    return CoxModel(fitter, prep, df)


def fit_neural_cox(train: SurvivalData, val: SurvivalData | None = None, *, hidden: int = 32, epochs: int = 300,
                   lr: float = 3e-3, weight_decay: float = 1e-3, dropout: float = 0.2, seed: int = 0,
                   progress: bool = False):
    """Train :class:`~medbench.models.survival.NeuralCox` full-batch through :func:`medbench.training.fit`.

    The validation patients (if given) choose the best epoch by their c-index.

    Returns:
        ``(model, prep, history)``; ``neural_risk(model, prep, X)`` scores new patients.
    """
    from torch.utils.data import DataLoader, TensorDataset

    from medbench.training import fit

    prep = Preprocessor().fit(train.X)

    def loader(d: SurvivalData):
        x = torch.tensor(prep.transform(d.X).to_numpy(np.float32))
        y = torch.tensor(np.stack([d.time, d.event], 1).astype(np.float32))
        return DataLoader(TensorDataset(x, y), batch_size=len(x), shuffle=False)

    torch.manual_seed(seed)
    model = NeuralCox(train.X.shape[1], hidden, dropout)
    metrics = {"cindex": lambda out, y: cindex(y[:, 0].numpy(), out.reshape(-1).numpy(), y[:, 1].numpy())}
    history = fit(model, loader(train), loader(val) if val is not None else None,
                  loss_fn=cox_partial_likelihood_loss, epochs=epochs, lr=lr, weight_decay=weight_decay,
                  metrics=metrics if val is not None else None,
                  monitor="val_cindex" if val is not None else None, precision="fp32", device="cpu",
                  seed=seed, progress=progress)
    return model, prep, history


@torch.no_grad()
def neural_risk(model: NeuralCox, prep: Preprocessor, X: pd.DataFrame) -> np.ndarray:
    """Log-risk scores ``(N,)`` of a trained :class:`~medbench.models.survival.NeuralCox`."""
    model.eval()
    return model(torch.tensor(prep.transform(X).to_numpy(np.float32))).reshape(-1).numpy()


def _cindex_of(y: np.ndarray, score: np.ndarray) -> float:
    return cindex(y[:, 0], score, y[:, 1])


def cindex_ci(time, score, event, *, n_boot: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """Harrell's C with a 95% percentile bootstrap interval over patients (Efron & Tibshirani 1993).

    Args:
        time, score, event: ``(N,)`` as in :func:`medbench.metrics.cindex`.
        n_boot: resamples; seed: their seed (the same seed gives the same resamples as
            :func:`medbench.metrics.paired_bootstrap_diff`).

    Returns:
        ``(c, low, high)``.
    """
    from medbench.metrics import bootstrap_ci

    y = np.stack([np.asarray(time, float), np.asarray(event, float)], 1)
    return bootstrap_ci(_cindex_of, y, np.asarray(score, float), n_boot=n_boot, seed=seed)


def compare_on_cohort(data: SurvivalData, *, test_size: float = 0.3, neural_epochs: int = 150,
                      seed: int = 0, n_boot: int = 200) -> tuple[dict, CoxModel]:
    """Cox PH and neural Cox on one cohort, scored by the c-index on held-out patients.

    The held-out patients (``test_size``, stratified by event) never touch fitting; the neural
    model's best epoch is chosen on a quarter of the training patients. Every interval is a 95%
    percentile bootstrap over the held-out patients, with the same ``n_boot`` resamples (``seed``)
    for both models and their paired difference.

    Returns:
        ``(row, cox)``: ``row`` holds ``cohort``, ``train patients``, ``test patients``,
        ``Cox c-index`` (and ``... low``/``... high``), ``neural Cox c-index`` (same) and
        ``neural - Cox`` (same); ``cox`` is the fitted :class:`CoxModel`.
    """
    from medbench.metrics import paired_bootstrap_diff

    train, test = survival_split(data, test_size=test_size, seed=seed)
    cox = fit_cox(train)
    fit_part, val_part = survival_split(train, test_size=0.25, seed=seed + 1)
    net, prep, _ = fit_neural_cox(fit_part, val_part, epochs=neural_epochs, seed=seed)
    scores = {"Cox": cox.risk(test.X), "neural Cox": neural_risk(net, prep, test.X)}
    row = {"cohort": data.name, "train patients": len(train.time), "test patients": len(test.time)}
    for name, score in scores.items():
        c, lo, hi = cindex_ci(test.time, score, test.event, n_boot=n_boot, seed=seed)
        row.update({f"{name} c-index": c, f"{name} c-index low": lo, f"{name} c-index high": hi})
    y = np.stack([test.time, test.event], 1).astype(float)
    d, lo, hi = paired_bootstrap_diff(_cindex_of, y, scores["neural Cox"], scores["Cox"], n_boot=n_boot, seed=seed)
    row.update({"neural - Cox": d, "neural - Cox low": lo, "neural - Cox high": hi})
    return row, cox
