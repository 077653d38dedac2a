"""Membership-inference attacks, measured: does a model reveal who was in its training set?

An attack gives every candidate record a score (higher = "was a training member"); its success
is the ROC of those scores against true membership: the **attack AUC** (0.5 = no better than a
coin) and, because an attacker cares about being *sure* about a few people rather than right on
average, the **TPR at 1 % FPR** (Carlini et al. 2022).

- :func:`loss_threshold_scores`: Yeom et al. 2018 — members have lower loss; score = -loss.
- :func:`lira_scores`: the likelihood-ratio attack (LiRA, Carlini et al. 2022, online version):
  shadow models trained on random halves of the candidate pool give, per record, the
  distribution of the logit-scaled confidence :math:`\\phi = \\log\\frac{p}{1-p}` of its true
  label when the record is IN a shadow's training set and when it is OUT; the score is the
  Gaussian log-likelihood ratio :math:`\\log \\mathcal N(\\phi; \\mu_{in}, \\sigma_{in}^2) -
  \\log \\mathcal N(\\phi; \\mu_{out}, \\sigma_{out}^2)` of the target model's :math:`\\phi`.
  With few shadows the variances are pooled over records ("fixed variance", as the paper advises).
"""
from __future__ import annotations

import numpy as np

from medbench.errors import ConfigError

__all__ = ["attack_auc", "tpr_at_fpr", "binary_losses", "logit_confidence", "loss_threshold_scores", "lira_scores"]


def _check(is_member, scores):
    m = np.asarray(is_member).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if m.shape != s.shape:
        raise ConfigError(f"is_member {m.shape} and scores {s.shape} must have the same length.")
    if m.all() or not m.any():
        raise ConfigError("membership labels need both members and non-members.")
    if not np.isfinite(s).all():
        raise ConfigError("attack scores hold NaN or inf; clip the confidences first.")
    return m, s


def attack_auc(is_member, scores) -> float:
    """ROC AUC of attack ``scores`` (N,) against membership (N,) bool; 0.5 = chance."""
    from sklearn.metrics import roc_auc_score

    m, s = _check(is_member, scores)
    return float(roc_auc_score(m, s))


def tpr_at_fpr(is_member, scores, fpr: float = 0.01) -> float:
    """True-positive rate of the attack at a false-positive rate of ``fpr`` (interpolated on the ROC)."""
    from sklearn.metrics import roc_curve

    m, s = _check(is_member, scores)
    f, t, _ = roc_curve(m, s)
    return float(np.interp(fpr, f, t))


def binary_losses(y_true, p, eps: float = 1e-7) -> np.ndarray:
    """Per-record binary cross-entropy (N,) of probabilities ``p`` (N,) for labels ``y_true`` (N,)."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def logit_confidence(y_true, p, eps: float = 1e-7) -> np.ndarray:
    """LiRA's :math:`\\phi = \\log(p_y / (1 - p_y))` of the true label's probability (N,); ``p`` (..., N)."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    py = np.where(y == 1, p, 1 - p)
    return np.log(py) - np.log1p(-py)


def loss_threshold_scores(losses) -> np.ndarray:
    """Yeom et al.'s attack: score = -loss (a low loss says "member")."""
    return -np.asarray(losses, dtype=np.float64)


def lira_scores(target_phi, shadow_phi, shadow_in, fix_variance: bool | None = None, min_std: float = 1e-3) -> np.ndarray:
    """Online LiRA scores.

    Args:
        target_phi: (N,) logit confidence of the target model on each candidate.
        shadow_phi: (S, N) the same for S shadow models.
        shadow_in: (S, N) bool, True where the candidate was in that shadow's training set.
        fix_variance: pool the IN and OUT variances over candidates (default: when fewer than
            64 shadows, as Carlini et al. advise).
        min_std: floor on the standard deviations.

    Returns:
        (N,) log-likelihood ratios; records never IN (or never OUT) of any shadow get the
        one-sided score against the pooled mean of the other side.
    """
    t = np.asarray(target_phi, dtype=np.float64)
    sp = np.asarray(shadow_phi, dtype=np.float64)
    si = np.asarray(shadow_in, dtype=bool)
    if sp.ndim != 2 or sp.shape != si.shape or sp.shape[1] != t.shape[0]:
        raise ConfigError(f"shadow_phi {sp.shape} and shadow_in {si.shape} must be (S, N) with N = {t.shape[0]}.")
    if sp.shape[0] < 2:
        raise ConfigError("LiRA needs at least 2 shadow models.")
    fix_variance = sp.shape[0] < 64 if fix_variance is None else fix_variance
    n_in, n_out = si.sum(0), (~si).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu_in = np.where(n_in > 0, np.where(si, sp, 0).sum(0) / np.maximum(n_in, 1), np.nan)
        mu_out = np.where(n_out > 0, np.where(~si, sp, 0).sum(0) / np.maximum(n_out, 1), np.nan)
    mu_in = np.where(np.isnan(mu_in), np.nanmean(mu_in), mu_in)
    mu_out = np.where(np.isnan(mu_out), np.nanmean(mu_out), mu_out)
    res_in, res_out = (sp - mu_in)[si], (sp - mu_out)[~si]
    if fix_variance:
        sd_in = np.full_like(t, max(float(np.std(res_in)) if res_in.size else 1.0, min_std))
        sd_out = np.full_like(t, max(float(np.std(res_out)) if res_out.size else 1.0, min_std))
    else:
        sd_in = np.sqrt(np.where(si, (sp - mu_in) ** 2, 0).sum(0) / np.maximum(n_in - 1, 1))
        sd_out = np.sqrt(np.where(~si, (sp - mu_out) ** 2, 0).sum(0) / np.maximum(n_out - 1, 1))
        sd_in, sd_out = np.maximum(sd_in, min_std), np.maximum(sd_out, min_std)

    def logpdf(x, mu, sd):
        return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd)

    return logpdf(t, mu_in, sd_in) - logpdf(t, mu_out, sd_out)
