"""Survival analysis on real cohorts that ship with lifelines (offline).

- :func:`load_cohort` (from :mod:`medbench.data.survival_cohorts`) reads GBSG2 (German Breast Cancer Study Group 2: 686 women with node-positive
  breast cancer, recurrence-free survival; Schumacher et al. 1994) or NCCTG lung (228 patients
  with advanced lung cancer, overall survival; Loprinzi et al. 1994) from ``lifelines.datasets``
  and encodes the covariates (one-hot categories, log of skewed counts).
- :func:`survival_split` holds out patients, stratified by event.
- :func:`fit_cox` fits lifelines' Cox proportional-hazards model (imputation and scaling learnt
  on the training patients only).
- :class:`NeuralCox` is a small DeepSurv-style MLP trained with the negative Cox partial
  log-likelihood (Breslow ties) through :func:`medbench.training.fit`.
- :func:`cindex` is Harrell's concordance index (``lifelines.utils.concordance_index``) of a
  risk score, where a higher score means earlier events.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn


from medbench.data.survival_cohorts import COHORTS, SurvivalData, load_cohort, survival_split  # noqa: F401


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


def cindex(time, score, event) -> float:
    """Harrell's C of a risk score (higher score = earlier event)."""
    from lifelines.utils import concordance_index

    return float(concordance_index(np.asarray(time), -np.asarray(score, float), np.asarray(event)))


@dataclass
class CoxModel:
    """A fitted lifelines ``CoxPHFitter`` with its preprocessor."""

    fitter: object
    prep: Preprocessor

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        """Log partial hazard per patient (higher = higher risk)."""
        return np.asarray(self.fitter.predict_log_partial_hazard(self.prep.transform(X))).ravel()

    @property
    def summary(self) -> pd.DataFrame:
        return self.fitter.summary


def fit_cox(train: SurvivalData, penalizer: float = 0.01) -> CoxModel:
    """Fit a Cox PH model (lifelines) on standardised covariates of the training patients."""
    from lifelines import CoxPHFitter

    prep = Preprocessor().fit(train.X)
    df = prep.transform(train.X).assign(time=train.time, event=train.event)
    fitter = CoxPHFitter(penalizer=penalizer).fit(df, duration_col="time", event_col="event")
    return CoxModel(fitter, prep)


def cox_partial_likelihood_loss(log_risk: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood (Breslow ties), averaged over events.

    Args:
        log_risk: ``(B,)`` or ``(B, 1)`` model outputs.
        target: ``(B, 2)``: column 0 time, column 1 event (0/1).
    """
    log_risk = log_risk.reshape(-1).float()
    time, event = target[:, 0], target[:, 1]
    order = torch.argsort(time, descending=True)
    lr, t, e = log_risk[order], time[order], event[order]
    # risk set of patient i = everyone with time >= t_i: a cumulative logsumexp over descending
    # times; for ties use the value at the last tied position (Breslow)
    cum = torch.logcumsumexp(lr, 0)
    last_of_tie = torch.searchsorted(-t, -t, right=True) - 1
    denom = cum[last_of_tie]
    n_events = e.sum().clamp(min=1.0)
    return -((lr - denom) * e).sum() / n_events


class NeuralCox(nn.Module):
    """A DeepSurv-style MLP: covariates ``(B, D)`` -> log-risk ``(B, 1)``."""

    def __init__(self, n_features: int, hidden: int = 32, dropout: float = 0.2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)


def fit_neural_cox(train: SurvivalData, val: SurvivalData | None = None, *, hidden: int = 32, epochs: int = 300,
                   lr: float = 3e-3, weight_decay: float = 1e-3, dropout: float = 0.2, seed: int = 0,
                   progress: bool = False):
    """Train :class:`NeuralCox` full-batch through :func:`medbench.training.fit`.

    The validation patients (if given) choose the best epoch by their c-index.

    Returns:
        ``(model, prep, history)``; ``risk(model, prep, X)`` scores new patients.
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
    """Log-risk scores ``(N,)`` of a trained :class:`NeuralCox`."""
    model.eval()
    return model(torch.tensor(prep.transform(X).to_numpy(np.float32))).reshape(-1).numpy()
