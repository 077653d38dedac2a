"""Loss functions in their numerically stable forms, next to the naive textbook forms.

Shapes: ``pred``/``target`` ``(N,)`` or ``(N, ...)`` for MSE and binary cross-entropy
(logits ``z``, targets in {0, 1}); ``(N, C)`` logits and ``(N,)`` integer classes for
multi-class cross-entropy. All return the mean over the batch, as torch does by default.
"""
from __future__ import annotations

import torch


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error, mean((pred - target)^2)."""
    return ((pred - target) ** 2).mean()


def bce_naive(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-[y log s(z) + (1-y) log(1-s(z))] computed literally.

    It returns ``inf`` long before anything overflows: once ``e^{-z}`` is below half the
    spacing of floats next to 1, ``1 + e^{-z}`` rounds to 1, so ``s(z) = 1`` exactly and
    ``log(1 - s(z)) = -inf`` for an example labelled 0. That happens at ``z > 24 ln 2 = 16.6``
    in float32 and ``z > 53 ln 2 = 36.7`` in float64 (:func:`naive_bce_inf_logit`). For an
    example labelled 1, ``s(z)`` reaches 0 only when ``e^{-z}`` overflows (``z < -88.7`` in
    float32, ``z < -709.8`` in float64).
    """
    p = 1.0 / (1.0 + torch.exp(-z))
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def naive_bce_inf_logit(dtype: torch.dtype = torch.float64) -> float:
    """Smallest logit ``z > 0`` at which :func:`bce_naive` of a label-0 example is ``inf`` in ``dtype``.

    Found by bisection on ``1 - s(z) == 0`` evaluated in ``dtype``: 16.64 for float32,
    36.74 for float64 (``ln 2`` times the mantissa bits + 1).
    """
    def saturated(z: float) -> bool:
        t = torch.tensor(z, dtype=dtype)
        return bool(1 - 1 / (1 + torch.exp(-t)) == 0)

    lo, hi = 0.0, 1000.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if saturated(mid) else (mid, hi)
    return hi


def bce_with_logits(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy from logits, stable form ``max(z,0) - z*y + log(1+e^-|z|)``.

    Algebraically equal to :func:`bce_naive`; never exponentiates a positive number.
    """
    return (z.clamp_min(0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()


def cross_entropy_naive(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-log softmax(z)[y] computed literally: exp overflows for logits above ~88 in float32."""
    p = torch.exp(z) / torch.exp(z).sum(dim=1, keepdim=True)
    return -torch.log(p[torch.arange(len(y)), y]).mean()


def cross_entropy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Multi-class cross-entropy via log-sum-exp with the max subtracted.

    ``logsumexp(z) - z_y`` where ``logsumexp(z) = m + log(sum(exp(z - m)))``, ``m = max(z)``.
    """
    m = z.max(dim=1, keepdim=True).values
    lse = m.squeeze(1) + torch.log(torch.exp(z - m).sum(dim=1))
    return (lse - z[torch.arange(len(y)), y]).mean()
