"""Full-batch gradient descent versus minibatch SGD, and the noise a minibatch gradient carries.

"SGD" in many texts is full-batch gradient descent: ``g`` is the gradient of the mean loss
over *all* N examples, so the path is deterministic. Stochastic gradient descent uses the
gradient of a random minibatch of B examples: an unbiased but noisy estimate of ``g``. For
B examples drawn without replacement,

    E ||g_B - g||^2 = (sigma^2 / B) * (N - B) / (N - 1),

where ``sigma^2 = (1/N) sum_i ||g_i - g||^2`` is the spread of the per-example gradients ``g_i``
(the finite-population correction ``(N-B)/(N-1)`` makes the noise vanish at B = N).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import torch

from medbench.errors import ConfigError
from medbench.teaching.optimizers import SGD

LossOnIndex = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss_fn(w, idx)``: the mean loss of parameters ``w (P,)`` over the examples ``idx (B,)``."""


def _grad(loss_fn: LossOnIndex, w: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    w = w.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(w, idx), w)
    return g


def gradient_noise_table(loss_fn: LossOnIndex, w: torch.Tensor, n: int, batch_sizes: list[int],
                         n_draws: int = 200, seed: int = 0) -> pd.DataFrame:
    """Measured and predicted RMS deviation of minibatch gradients from the full gradient at ``w``.

    Args:
        loss_fn: mean loss over the examples ``idx`` (see :data:`LossOnIndex`).
        w: parameters ``(P,)`` where the gradients are taken.
        n: number of examples N.
        batch_sizes: minibatch sizes B (each 1..N).
        n_draws: minibatches drawn (without replacement within a batch) per size.
        seed: seed of the draws.

    Returns:
        One row per B: ``rms |g_B - g|`` measured, predicted (formula in the module
        docstring), their ratio, and the measured deviation relative to ``|g|``.
    """
    if any(not 1 <= b <= n for b in batch_sizes):
        raise ConfigError(f"batch_sizes must lie in 1..{n} (the number of examples), got {batch_sizes}")
    full = _grad(loss_fn, w, torch.arange(n))
    per_example = torch.stack([_grad(loss_fn, w, torch.tensor([i])) for i in range(n)])  # (N, P)
    sigma2 = float(((per_example - full) ** 2).sum(dim=1).mean())
    rng = np.random.default_rng(seed)
    rows = []
    for b in batch_sizes:
        sq = [float(((per_example[rng.choice(n, size=b, replace=False)].mean(0) - full) ** 2).sum())
              for _ in range(n_draws)]
        measured = float(np.sqrt(np.mean(sq)))
        predicted = float(np.sqrt(sigma2 / b * (n - b) / max(n - 1, 1)))
        rows.append({"batch size B": b, "rms |g_B - g| measured": measured, "predicted": predicted,
                     "measured / predicted": measured / predicted if predicted > 0 else float("nan"),
                     "rms |g_B - g| / |g|": measured / float(full.norm())})
    return pd.DataFrame(rows).set_index("batch size B")


def minibatch_sgd_curve(loss_fn: LossOnIndex, w0: torch.Tensor, n: int, lr: float, batch_size: int,
                        steps: int, seed: int = 0) -> list[float]:
    """Train with (minibatch) SGD and return the full-data loss after every step.

    Each epoch shuffles the N examples and walks through them in batches of ``batch_size``;
    ``batch_size = n`` is full-batch gradient descent (deterministic).

    Returns:
        ``steps`` full-data losses, one per parameter update.
    """
    if not 1 <= batch_size <= n:
        raise ConfigError(f"batch_size must lie in 1..{n}, got {batch_size}")
    g = torch.Generator().manual_seed(seed)
    w = w0.detach().clone().requires_grad_(True)
    opt = SGD([w], lr=lr)
    curve: list[float] = []
    order = torch.randperm(n, generator=g)
    pos = 0
    while len(curve) < steps:
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=g), 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        opt.zero_grad()
        loss_fn(w, idx).backward()
        opt.step()
        with torch.no_grad():
            curve.append(float(loss_fn(w, torch.arange(n))))
    return curve
