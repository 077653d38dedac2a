"""Private training, measured: DP-SGD (opacus) at several epsilons against membership-inference attacks.

Pipeline (:func:`run_dp_study`): a simulated cohort with a known risk
(:func:`medbench.data.risk_cohort.simulate_risk_cohort`) -> a candidate pool of ``2 n_train``
patients and ``n_test`` test patients -> for each epsilon ``n_models`` models, each trained on a random
half of the pool (``n_train`` patients), each a :class:`~medbench.models.tabular.TabularMLP` trained with
:func:`medbench.training.fit` (DP-SGD through opacus' ``PrivacyEngine`` for finite epsilon) ->
utility (the models' mean test AUROC with a bootstrap CI over test patients; the test patients are used
for nothing else) and
two attacks on the pool (loss threshold; LiRA with the other models as shadows), every model in turn
the target.

Recipes, fixed before looking at any test number:

- non-private (epsilon = inf): Adam, lr 1e-3, batches of 50, ``epochs`` epochs, no early stopping
  and no weight decay — how a small model is often trained, and it fits its training patients;
- DP-SGD: per-sample gradients clipped to ``max_grad_norm``, Gaussian noise with the multiplier that
  the accountant (RDP by default, PRV optional; delta = 1e-5) needs for the target epsilon over
  ``dp_epochs`` epochs of Poisson-sampled batches of expected size ``dp_batch_size``; Adam at
  ``dp_lr``. Fewer, larger, noisier steps are what DP-SGD needs (Ponomareva et al. 2023).

opacus' optimizer and Poisson data loader plug into ``training.fit`` unchanged (an optimizer
instance and any iterable of batches); ``restore_best`` is off, because picking the "best" epoch by
training loss would be a data-dependent choice the privacy accountant does not count.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from medbench.errors import ConfigError
from medbench.settings import TaskConfig, check_seed

__all__ = ["DPConfig", "DPStudy", "run_dp_study", "train_model", "fix_for_dp", "noise_multiplier"]


@dataclass
class DPConfig(TaskConfig):
    """Settings of :func:`run_dp_study` (defaults = the chapter's default profile)."""

    n_train: int = 200
    n_test: int = 2000
    n_labs: int = 24
    hidden: int = 64
    epochs: int = 200
    batch_size: int = 50
    lr: float = 1e-3
    dp_epochs: int = 20
    dp_batch_size: int = 100
    dp_lr: float = 1e-2
    max_grad_norm: float = 1.0
    epsilons: tuple = (1.0, 3.0, 8.0, math.inf)
    delta: float = 1e-5
    accountant: str = "rdp"
    n_models: int = 8
    n_boot: int = 200
    seed: int = 0

    def __post_init__(self):
        self.seed = check_seed(self.seed)
        self.epsilons = tuple(float(e) for e in self.epsilons)
        if any(e <= 0 for e in self.epsilons):
            raise ConfigError(f"epsilons={self.epsilons}: every epsilon must be > 0 (inf = no privacy).")
        if not 0 < self.delta < 1.0 / max(self.n_train, 1):
            raise ConfigError(f"delta={self.delta}: choose 0 < delta < 1/n_train = {1 / self.n_train:.2g}.")
        if self.accountant not in ("rdp", "prv"):
            raise ConfigError(f"accountant={self.accountant!r}: choose 'rdp' or 'prv'.")
        if self.n_models < 4 or self.n_models % 2:
            raise ConfigError(f"n_models={self.n_models}: use an even number >= 4 (each patient IN half of them).")
        for k in ("n_train", "n_test", "epochs", "dp_epochs", "batch_size", "dp_batch_size"):
            if int(getattr(self, k)) < 1:
                raise ConfigError(f"{k}={getattr(self, k)} must be >= 1.")


@dataclass
class DPStudy:
    """Results: ``table`` (one row per epsilon), ``test_prob[eps]`` (n_test, n_models) probabilities, and
    ``attack_scores[eps]`` ({"loss", "lira"}: (n_models * 2 n_train,) scores, membership in ``is_member``)."""

    cfg: DPConfig
    table: pd.DataFrame
    y_test: np.ndarray
    test_prob: dict
    is_member: np.ndarray  # (n_models * 2 n_train,) membership of the pooled attack candidates
    attack_scores: dict
    bayes_auroc: float
    baseline_auroc: float
    test_risk: np.ndarray = field(repr=False, default=None)


def fix_for_dp(model: torch.nn.Module) -> torch.nn.Module:
    """``ModuleValidator.fix`` (BatchNorm -> GroupNorm ...) then every in-place activation made out-of-place.

    After ``fix``, in-place ReLUs crash opacus' backward hooks (opacus#828), so they are switched off here.
    """
    from opacus.validators import ModuleValidator

    model = ModuleValidator.fix(model)
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        raise ConfigError(f"the model cannot be trained with DP-SGD: {errors}")
    return model


def noise_multiplier(epsilon: float, delta: float, sample_rate: float, epochs: int, accountant: str = "rdp") -> float:
    """The Gaussian noise multiplier that spends ``epsilon`` at ``delta`` over ``epochs`` epochs at ``sample_rate``."""
    from opacus.accountants.utils import get_noise_multiplier

    return float(get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate,
                                      epochs=epochs, accountant=accountant))


def train_model(X: np.ndarray, y: np.ndarray, cfg: DPConfig, epsilon: float, seed: int, sigma: float | None = None,
                account: bool = True):
    """Train one :class:`TabularMLP` on ``X`` (N, D) / ``y`` (N,) with ``fit``; DP-SGD when ``epsilon`` is finite.

    Args:
        account: ask the accountant for the epsilon spent (~0.7 s with RDP; NaN when False).

    Returns:
        ``(model, info)`` with ``info = {"noise_multiplier", "epsilon_spent"}`` (0 and inf without DP).
    """
    from torch.utils.data import DataLoader, TensorDataset

    from medbench.models.tabular import TabularMLP
    from medbench.training import fit

    torch.manual_seed(seed)
    ds = TensorDataset(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32).unsqueeze(1))
    model = TabularMLP(X.shape[1], hidden=(cfg.hidden, cfg.hidden))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(seed)
    common = dict(loss_fn=loss_fn, progress=False, precision="fp32", restore_best=False, device="cpu")
    if math.isinf(epsilon):
        loader = DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, generator=gen)
        fit(model, loader, epochs=cfg.epochs, optimizer=torch.optim.Adam(model.parameters(), lr=cfg.lr), **common)
        return model.eval(), {"noise_multiplier": 0.0, "epsilon_spent": math.inf}
    from opacus import PrivacyEngine

    model = fix_for_dp(model)
    loader = DataLoader(ds, batch_size=cfg.dp_batch_size, shuffle=True, generator=gen)
    q = cfg.dp_batch_size / len(ds)
    if sigma is None:
        sigma = noise_multiplier(epsilon, cfg.delta, q, cfg.dp_epochs, cfg.accountant)
    engine = PrivacyEngine(accountant=cfg.accountant)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # opacus warns about secure RNG (not needed for a course) and hooks
        gsm, opt, dp_loader = engine.make_private(module=model, optimizer=torch.optim.Adam(model.parameters(), lr=cfg.dp_lr),
                                                  data_loader=loader, noise_multiplier=sigma,
                                                  max_grad_norm=cfg.max_grad_norm, noise_generator=gen)
        fit(gsm, dp_loader, epochs=cfg.dp_epochs, optimizer=opt, **common)
        spent = float(engine.get_epsilon(cfg.delta)) if account else math.nan
    return gsm._module.eval(), {"noise_multiplier": float(sigma), "epsilon_spent": spent}


def _predict(model, X) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model(torch.as_tensor(X, dtype=torch.float32))).squeeze(1).numpy().astype(np.float64)


def run_dp_study(cfg: DPConfig | None = None, progress: bool = False) -> DPStudy:
    """Train the target and shadow models at every epsilon; measure utility and membership leakage.

    Returns:
        :class:`DPStudy`; ``table`` columns: ``epsilon``, ``noise_multiplier``, ``epsilon_spent``, ``auroc`` (mean
        over the models), ``auroc_lo``, ``auroc_hi``, ``auroc_model0``, ``train_loss`` (model 0), ``mia_loss_auc``, ``mia_loss_tpr``, ``mia_lira_auc``,
        ``mia_lira_tpr``, ``mia_auc`` and ``mia_tpr`` (the stronger attack of the two), ``seconds``.
    """
    from sklearn.linear_model import LogisticRegression

    from medbench.data.risk_cohort import simulate_risk_cohort
    from medbench.data.sequences import split_patients
    from medbench.metrics import (
        attack_auc,
        auroc,
        binary_losses,
        bootstrap_ci,
        lira_scores,
        logit_confidence,
        loss_threshold_scores,
        mean_auroc,
        tpr_at_fpr,
    )

    cfg = cfg or DPConfig()
    n_pool = 2 * cfg.n_train
    cohort = simulate_risk_cohort(n_pool + cfg.n_test, n_labs=cfg.n_labs, seed=cfg.seed)
    parts = split_patients(cohort.patient_id, fractions=(n_pool, cfg.n_test), seed=cfg.seed)
    pool, test = np.sort(parts["train"]), np.sort(parts["test"])
    X, y = cohort.X, cohort.y
    rng = np.random.default_rng(cfg.seed + 1)
    # model m trains on the pool patients with inside[m] (exactly n_train of them, so every model has the
    # sampling rate the accountant was given); each patient is IN exactly half of the models (Carlini et al.). Model 0 is "the" target whose utility is reported; for the
    # attacks every model is the target in turn, with the others as its shadows, and the scores of
    # all targets are pooled (M x the candidates: a less noisy attack AUC than one target gives).
    inside = np.zeros((cfg.n_models, n_pool), bool)
    for m in range(0, cfg.n_models, 2):  # models 2k and 2k+1 split the pool into complementary halves
        half = rng.permutation(n_pool)[: cfg.n_train]
        inside[m, half] = True
        inside[m + 1] = ~inside[m]
    base = LogisticRegression(max_iter=2000).fit(X[pool[inside[0]]], y[pool[inside[0]]])
    baseline = auroc(y[test], base.predict_proba(X[test])[:, 1])
    rows, probs, scores = [], {}, {}
    it = cfg.epsilons
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(cfg.epsilons, desc="epsilon")
    for eps in it:
        t0 = time.perf_counter()
        sigma = None
        if not math.isinf(eps):
            sigma = noise_multiplier(eps, cfg.delta, cfg.dp_batch_size / cfg.n_train, cfg.dp_epochs, cfg.accountant)
        phi, loss_s = np.zeros((cfg.n_models, n_pool)), np.zeros((cfg.n_models, n_pool))
        p_test = np.zeros((len(test), cfg.n_models))
        for m in range(cfg.n_models):
            idx = pool[inside[m]]
            model, inf_m = train_model(X[idx], y[idx], cfg, eps, seed=cfg.seed + 100 * m, sigma=sigma, account=m == 0)
            p_pool = _predict(model, X[pool])
            phi[m] = logit_confidence(y[pool], p_pool)
            loss_s[m] = loss_threshold_scores(binary_losses(y[pool], p_pool))
            p_test[:, m] = _predict(model, X[test])
            if m == 0:
                info = inf_m
                train_loss = float(binary_losses(y[idx], p_pool[inside[0]]).mean())
        # target m's shadows: every model but m and its complementary partner m ^ 1, so each patient is IN
        # exactly as many shadows as OUT (unequal counts bias LiRA's mean estimates, and the AUC below 0.5)
        models = np.arange(cfg.n_models)
        lira_s = np.stack([lira_scores(phi[m], phi[models // 2 != m // 2], inside[models // 2 != m // 2])
                           for m in range(cfg.n_models)])
        member = inside.ravel()
        la, lt = attack_auc(member, loss_s.ravel()), tpr_at_fpr(member, loss_s.ravel(), 0.01)
        ra, rt = attack_auc(member, lira_s.ravel()), tpr_at_fpr(member, lira_s.ravel(), 0.01)
        a, lo, hi = bootstrap_ci(mean_auroc, y[test], p_test, n_boot=cfg.n_boot, seed=cfg.seed)
        key = "inf" if math.isinf(eps) else f"{eps:g}"
        probs[key], scores[key] = p_test, {"loss": loss_s.ravel(), "lira": lira_s.ravel()}
        rows.append({"epsilon": eps, **info, "auroc": a, "auroc_lo": lo, "auroc_hi": hi,
                     "auroc_model0": auroc(y[test], p_test[:, 0]), "train_loss": train_loss,
                     "mia_loss_auc": la, "mia_loss_tpr": lt, "mia_lira_auc": ra, "mia_lira_tpr": rt,
                     "mia_auc": max(la, ra), "mia_tpr": max(lt, rt), "seconds": time.perf_counter() - t0})
    return DPStudy(cfg, pd.DataFrame(rows), y[test], probs, inside.ravel(), scores,
                   float(auroc(y[test], cohort.risk[test])), float(baseline), cohort.risk[test])
