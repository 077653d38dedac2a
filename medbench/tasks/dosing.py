"""Warfarin dosing (chapter 05): published equations, a refit, and generative dose models.

Stages:

- data: :func:`medbench.data.warfarin.load_iwpc` (real, optional extra) or
  :func:`~medbench.data.warfarin.simulate_warfarin` (known truth);
  :class:`CovariateScaler` standardises :func:`~medbench.data.warfarin.design_matrix` on the
  training patients only;
- baselines: :func:`fixed_dose` (35 mg/week), :func:`iwpc_dose` (the IWPC 2009 clinical and
  pharmacogenetic equations with their published coefficients), :class:`RefitEquation` (the same
  design refitted on the training split);
- generative models (:mod:`medbench.models.generative`): :func:`train_cvae` (through
  :func:`medbench.training.fit`), :func:`train_cgan` and :func:`train_naive_generator` (their own
  alternating / regression loops: ``training.fit`` runs one optimiser on one loss, a GAN needs two);
- evaluation: :func:`sample_doses` gives ``(N, S)`` doses per patient,
  :func:`medbench.metrics.dose_scores` scores them, :func:`spread_ratio` measures diversity.

Models work on ``log(dose)`` standardised with the training mean and sd: doses are positive and
their errors multiplicative (PW20 is a relative window).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from medbench.data.warfarin import DESIGN_COLUMNS, design_matrix
from medbench.errors import ConfigError
from medbench.settings import check_seed
from medbench.training import GANHistory, fit_gan

__all__ = ["IWPC_PHARMACOGENETIC", "IWPC_CLINICAL", "FIXED_DOSE", "iwpc_dose", "fixed_dose", "RefitEquation",
           "CovariateScaler", "train_cvae", "train_cgan", "train_naive_generator", "sample_doses", "spread_ratio"]

FIXED_DOSE = 35.0  # mg/week: 5 mg/day, the usual fixed starting dose

#: IWPC 2009 (NEJM 360:753, supplementary appendix S1e) pharmacogenetic equation:
#: sqrt(weekly dose, mg) = intercept + sum(coef * column); columns as in DESIGN_COLUMNS.
IWPC_PHARMACOGENETIC = {
    "intercept": 5.6044, "age_decade": -0.2614, "height_cm": 0.0087, "weight_kg": 0.0128,
    "vkorc1_AG": -0.8677, "vkorc1_AA": -1.6974, "vkorc1_unknown": -0.4854,
    "cyp_12": -0.5211, "cyp_13": -0.9357, "cyp_22": -1.0616, "cyp_23": -1.9206, "cyp_33": -2.3312,
    "cyp_unknown": -0.2188, "race_asian": -0.1092, "race_black": -0.2760, "race_unknown": -0.1032,
    "inducer": 1.1816, "amiodarone": -0.5503,
}
#: IWPC 2009 clinical equation (no genotypes), same scale.
IWPC_CLINICAL = {
    "intercept": 4.0376, "age_decade": -0.2546, "height_cm": 0.0118, "weight_kg": 0.0134,
    "race_asian": -0.6752, "race_black": 0.4060, "race_unknown": 0.0443, "inducer": 1.2799, "amiodarone": -0.5695,
}


def iwpc_dose(table: pd.DataFrame, which: str = "pharmacogenetic") -> np.ndarray:
    """Weekly dose (mg) from the published IWPC equation.

    Args:
        table: clean rows (:func:`~medbench.data.warfarin.load_iwpc` or ``simulate_warfarin``).
        which: ``"pharmacogenetic"`` or ``"clinical"``.

    Returns:
        ``(N,)`` doses: the equation predicts sqrt(dose), squared here.
    """
    coef = {"pharmacogenetic": IWPC_PHARMACOGENETIC, "clinical": IWPC_CLINICAL}.get(which)
    if coef is None:
        raise ConfigError(f"which must be 'pharmacogenetic' or 'clinical', got {which!r}")
    w = np.array([coef.get(c, 0.0) for c in DESIGN_COLUMNS])
    return (coef["intercept"] + design_matrix(table) @ w) ** 2


def fixed_dose(table: pd.DataFrame, dose: float = FIXED_DOSE) -> np.ndarray:
    """The same dose for everyone, ``(N,)``."""
    return np.full(len(table), float(dose))


class RefitEquation:
    """The IWPC design refitted by least squares on sqrt(dose) (scikit-learn ``LinearRegression``).

    Attributes (after ``fit``): ``model_`` and ``residual_sd_`` (sd of sqrt-dose residuals).
    """

    def fit(self, table: pd.DataFrame) -> "RefitEquation":
        from sklearn.linear_model import LinearRegression

        X, y = design_matrix(table), np.sqrt(table["dose"].values)
        self.model_ = LinearRegression().fit(X, y)
        self.residual_sd_ = float(np.std(y - self.model_.predict(X)))
        return self

    def predict(self, table: pd.DataFrame) -> np.ndarray:
        """``(N,)`` weekly doses (mg)."""
        return np.clip(self.model_.predict(design_matrix(table)), 0, None) ** 2


class CovariateScaler:
    """Standardises the design matrix and log dose with the training patients' mean and sd."""

    def fit(self, table: pd.DataFrame) -> "CovariateScaler":
        X = design_matrix(table)
        self.mean_, self.sd_ = X.mean(0), X.std(0) + 1e-6
        logd = np.log(table["dose"].values)
        self.dose_mean_, self.dose_sd_ = float(logd.mean()), float(logd.std())
        return self

    def covariates(self, table: pd.DataFrame) -> torch.Tensor:
        """``(N, 17)`` float32 standardised covariates."""
        return torch.as_tensor((design_matrix(table) - self.mean_) / self.sd_, dtype=torch.float32)

    def target(self, table: pd.DataFrame) -> torch.Tensor:
        """``(N, 1)`` standardised log dose."""
        z = (np.log(table["dose"].values) - self.dose_mean_) / self.dose_sd_
        return torch.as_tensor(z[:, None], dtype=torch.float32)

    def to_dose(self, z) -> np.ndarray:
        """Standardised log dose (any shape) back to mg/week."""
        z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
        return np.exp(z * self.dose_sd_ + self.dose_mean_)


def _loaders(scaler, train, val, batch_size, seed):
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(seed)
    tr = TensorDataset(scaler.covariates(train), scaler.target(train))
    out = [DataLoader(tr, batch_size=batch_size, shuffle=True, generator=g)]
    if val is not None:
        out.append(DataLoader(TensorDataset(scaler.covariates(val), scaler.target(val)), batch_size=1024))
    return out


def train_cvae(train: pd.DataFrame, val: pd.DataFrame | None, scaler: CovariateScaler, *, latent: int = 2,
               hidden: int = 64, epochs: int = 60, batch_size: int = 128, lr: float = 3e-3, beta: float = 1.0,
               seed: int = 0, progress: bool = False, callbacks=()):
    """Train a :class:`~medbench.models.generative.ConditionalVAE` with :func:`medbench.training.fit`.

    The loss is the negative ELBO: Gaussian negative log-likelihood of the standardised log dose
    plus ``beta`` x KL(q(z | dose, covariates) || N(0, I)); the best validation epoch is kept.

    Returns:
        ``(model, history)``.
    """
    from medbench.models.generative import ConditionalVAE, cvae_loss
    from medbench.training import fit

    seed = check_seed(seed)
    torch.manual_seed(seed)
    model = ConditionalVAE(len(DESIGN_COLUMNS), latent=latent, hidden=hidden)
    loaders = _loaders(scaler, train, val, batch_size, seed)
    hist = fit(model, loaders[0], loaders[1] if val is not None else None,
               loss_fn=lambda out, y: cvae_loss(out, y, beta=beta), epochs=epochs, lr=lr, device="cpu",
               precision="fp32", progress=progress, seed=seed, callbacks=callbacks,
               batch_fn=lambda b: ((b[0], b[1]), b[1]))  # the encoder sees the dose too
    return model.eval(), hist


def train_cgan(train: pd.DataFrame, scaler: CovariateScaler, *, noise: int = 4, hidden: int = 64, epochs: int = 150,
               batch_size: int = 128, lr: float = 1e-3, seed: int = 0, progress: bool = False, callback=None):
    """Train a conditional GAN correctly: alternate a discriminator step and a generator step.

    Discriminator: binary cross-entropy, real ``(dose, c)`` pairs labelled 1 and generated pairs 0.
    Generator: the **non-saturating** loss ``-log D(G(z, c), c)`` -- its gradient flows *through
    the discriminator*, so the generator learns to produce doses the discriminator cannot tell from
    real ones (the whole conditional distribution), not to regress onto each real dose.
    The loop is :func:`medbench.training.fit_gan`.

    Args:
        callback: optional ``fn(epoch, history, generator)`` after every epoch (the ``GANPanel`` uses it).

    Returns:
        ``(generator, discriminator, GANHistory)``.
    """
    from medbench.models.generative import ConditionalGenerator, Discriminator

    seed = check_seed(seed)
    torch.manual_seed(seed)
    c_dim = len(DESIGN_COLUMNS)
    G, D = ConditionalGenerator(c_dim, noise=noise, hidden=hidden), Discriminator(c_dim, hidden=hidden)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.9))
    (loader,) = _loaders(scaler, train, None, batch_size, seed)
    hist = fit_gan(G, D, loader, noise=noise, epochs=epochs, opt_g=opt_g, opt_d=opt_d,
                   unpack=lambda batch: (batch[1], batch[0]), progress=progress, desc="cGAN", callback=callback)
    return G.eval(), D.eval(), hist


def train_naive_generator(train: pd.DataFrame, scaler: CovariateScaler, *, noise: int = 4, hidden: int = 64,
                          epochs: int = 60, batch_size: int = 128, lr: float = 1e-3, seed: int = 0):
    """The course source's bug: a generator trained by MSE *toward the real doses*.

    This is what ``generator.train_on_batch(noise, real_data)`` does: no discriminator, just
    regression from (noise, covariates) to each patient's dose. The MSE minimiser is the conditional
    mean, which does not depend on the noise, so the generator learns to ignore it: every draw for a
    patient gives the same dose (the spread collapses).

    Returns:
        ``(generator, GANHistory)`` (``g_loss`` holds the MSE per epoch).
    """
    from medbench.models.generative import ConditionalGenerator

    seed = check_seed(seed)
    torch.manual_seed(seed)
    G = ConditionalGenerator(len(DESIGN_COLUMNS), noise=noise, hidden=hidden)
    opt = torch.optim.Adam(G.parameters(), lr=lr)
    (loader,) = _loaders(scaler, train, None, batch_size, seed)
    hist, t0 = GANHistory([], []), time.perf_counter()
    for _ in range(epochs):
        losses = []
        for c, y in loader:
            loss = nn.functional.mse_loss(G(torch.randn(len(c), noise), c), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        hist.g_loss.append(float(np.mean(losses)))
    hist.seconds = time.perf_counter() - t0
    return G.eval(), hist


@torch.no_grad()
def sample_doses(model: nn.Module, table: pd.DataFrame, scaler: CovariateScaler, n_samples: int = 200,
                 seed: int = 0) -> np.ndarray:
    """Draw doses for each patient from a conditional generative model.

    Args:
        model: a ``ConditionalVAE`` or ``ConditionalGenerator`` (anything with ``sample(c, n)``).
        table: patients to dose. scaler: the training :class:`CovariateScaler`.
        n_samples: draws per patient.

    Returns:
        ``(N, n_samples)`` doses in mg/week.
    """
    torch.manual_seed(check_seed(seed))
    return scaler.to_dose(model.sample(scaler.covariates(table), int(n_samples)))


def spread_ratio(samples: np.ndarray, real_log_sd: float) -> float:
    """Generated spread / real spread, on the log-dose scale.

    Args:
        samples: ``(N, S)`` doses drawn per patient.
        real_log_sd: sd of real log doses around the best covariate prediction (e.g. the training
            residual sd of a regression on log dose; on the simulator, the true sigma).

    Returns:
        Mean over patients of the within-patient sd of log samples, divided by ``real_log_sd``:
        about 1 for a generator that reproduces the real variability, about 0 for a collapsed one.
    """
    return float(np.mean(np.std(np.log(samples), axis=1)) / real_log_sd)
