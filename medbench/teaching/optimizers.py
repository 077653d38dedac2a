"""SGD, SGD with momentum and Adam written from their update formulas.

They follow ``torch.optim`` conventions (``params``, ``step()``, ``zero_grad()``) so that
a test and chapter 00 can run them side by side with ``torch.optim.SGD``/``Adam`` and
compare parameters after every step.

Conventions, as in torch (and not always as in textbooks):

* Momentum keeps a velocity ``b <- mu*b + g`` (``b`` starts at ``g``) and steps
  ``p <- p - lr*b``. Sutskever et al. write ``v <- mu*v - lr*g; p <- p + v``; the two
  are the same when ``lr`` is constant.
* Adam (Kingma & Ba 2015, Algorithm 1) divides both moment estimates by ``1 - beta^t``
  (bias correction). Many texts print Adam without it. ``m`` and ``v`` both start at zero,
  but the step is ``m / sqrt(v)``: ``m`` is shrunk by ``1 - b1^t`` and ``sqrt(v)`` by the
  much smaller ``sqrt(1 - b2^t)``, so without the correction the early steps are too
  **large**. Under a constant gradient the uncorrected step is
  ``lr * (1 - b1^t) / sqrt(1 - b2^t)``: 3.16 ``lr`` at t = 1, peaking at 6.57 ``lr`` at
  t = 12 and still above 1.1 ``lr`` at t = 1,750 (default betas); the corrected step is
  ``lr`` from the first step on. ``bias_correction=False`` shows that.
* "SGD" here is whatever gradient it is given: on the full data set it is (deterministic)
  gradient descent; on minibatch gradients it is stochastic gradient descent
  (:mod:`medbench.teaching.minibatch`).
"""
from __future__ import annotations

from typing import Iterable

import torch

from medbench.errors import ConfigError


class _Optimizer:
    def __init__(self, params: Iterable[torch.Tensor], lr: float):
        self.params = [p for p in params]
        if not self.params:
            raise ConfigError("optimizer got an empty parameter list")
        if not lr > 0:
            raise ConfigError(f"learning rate lr must be > 0, got {lr!r}")
        self.lr = float(lr)
        self.t = 0  # steps taken

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        for i, p in enumerate(self.params):
            if p.grad is not None:
                p -= self._update(i, p.grad)

    def _update(self, i: int, g: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class SGD(_Optimizer):
    """Plain gradient descent: ``p <- p - lr * g`` (stochastic only if ``g`` is a minibatch gradient)."""

    def _update(self, i, g):
        return self.lr * g


class Momentum(_Optimizer):
    """SGD with (heavy-ball) momentum: ``b <- mu*b + g``; ``p <- p - lr*b``."""

    def __init__(self, params, lr: float, momentum: float = 0.9):
        super().__init__(params, lr)
        if not 0 <= momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)
        self.velocity: list[torch.Tensor | None] = [None] * len(self.params)

    def _update(self, i, g):
        b = self.velocity[i]
        b = g.clone() if b is None else self.momentum * b + g
        self.velocity[i] = b
        return self.lr * b


class Adam(_Optimizer):
    """Adam with bias-corrected first and second moments.

    ``m <- b1*m + (1-b1)*g``; ``v <- b2*v + (1-b2)*g^2``;
    ``m_hat = m/(1-b1^t)``; ``v_hat = v/(1-b2^t)``; ``p <- p - lr*m_hat/(sqrt(v_hat)+eps)``.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, bias_correction: bool = True):
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ConfigError(f"betas must each be in [0, 1), got {betas!r}")
        self.b1, self.b2, self.eps = float(b1), float(b2), float(eps)
        self.bias_correction = bias_correction
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def _update(self, i, g):
        self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
        self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
        m_hat, v_hat = self.m[i], self.v[i]
        if self.bias_correction:
            m_hat = m_hat / (1 - self.b1**self.t)
            v_hat = v_hat / (1 - self.b2**self.t)
        return self.lr * m_hat / (v_hat.sqrt() + self.eps)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name: str, params, **hparams) -> _Optimizer:
    """Build one of :data:`OPTIMIZERS` by name with keyword hyper-parameters."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ConfigError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}") from None
    return cls(params, **hparams)


def torch_twin(name: str, params, **hparams) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer that :func:`make_optimizer` with the same arguments matches."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=hparams["lr"])
    if name == "momentum":
        return torch.optim.SGD(params, lr=hparams["lr"], momentum=hparams.get("momentum", 0.9))
    if name == "adam":
        if not hparams.get("bias_correction", True):
            raise ConfigError("torch.optim.Adam always bias-corrects; there is no twin for bias_correction=False")
        return torch.optim.Adam(params, lr=hparams.get("lr", 1e-3), betas=hparams.get("betas", (0.9, 0.999)),
                                eps=hparams.get("eps", 1e-8))
    raise ConfigError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")


def compare_with_torch(name: str, loss_fn, init: torch.Tensor, steps: int = 100, **hparams) -> float:
    """Run ours and torch's optimizer side by side on ``loss_fn(params)``.

    Args:
        name: ``"sgd"``, ``"momentum"`` or ``"adam"``.
        loss_fn: maps a parameter tensor (same shape as ``init``) to a scalar loss.
        init: starting parameters; both runs start from a copy.
        steps: number of steps.

    Returns:
        The largest absolute difference between the two parameter vectors over all steps.
    """
    ours_p = init.detach().clone().requires_grad_(True)
    ref_p = init.detach().clone().requires_grad_(True)
    ours, ref = make_optimizer(name, [ours_p], **hparams), torch_twin(name, [ref_p], **hparams)
    worst = 0.0
    for _ in range(steps):
        for opt, p in ((ours, ours_p), (ref, ref_p)):
            opt.zero_grad()
            loss_fn(p).backward()
            opt.step()
        worst = max(worst, float((ours_p - ref_p).detach().abs().max()))
    return worst
