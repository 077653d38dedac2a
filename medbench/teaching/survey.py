"""What the course's source survey printed wrongly, runnable next to the corrected forms.

Each error is a function or optimizer that does what the survey wrote, beside the
correction that ``torch`` implements. Chapter 00 runs them and the tests check every claim
numerically:

* **Adam without the bias correction of m**: the survey prints
  ``theta <- theta - alpha * m_t / (sqrt(v_t) * (1 - beta2^t))``. At ``t = 1`` with the
  default betas this moves each weight by ``alpha (1-beta1) / (sqrt(1-beta2) (1-beta2))
  = 3162.3 alpha`` instead of ``alpha`` (:class:`SurveyAdam`).
* **Momentum as an exponential moving average** ``v <- beta v + (1-beta) g``: this is torch's
  ``dampening=beta`` variant, whose steady-state step under a constant gradient is
  ``lr * g``, ``1/(1-beta)`` = 10x smaller (at ``beta = 0.9``) than torch's default
  ``SGD(momentum=beta)`` (``lr * g / (1-beta)``) (:class:`EMAMomentum`).
* **A 2x2 matrix times a 3-vector**: undefined; :func:`matvec` checks shapes and says so.
* **Cross-entropy on a non-probability**: ``nn.CrossEntropyLoss`` takes logits and applies
  log-softmax itself; feeding it softmax outputs applies softmax twice
  (:func:`double_softmax_cross_entropy`), which floors the loss at
  ``log(1 + (C-1)/e)`` and shrinks its gradients.
* **The multi-class log loss written in its binary form**
  (:func:`log_loss_binary_form`) is a different objective from the multi-class
  ``-log p_y`` (:func:`log_loss_multiclass`).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from medbench.errors import ConfigError, DataError
from medbench.teaching.optimizers import Adam, _Optimizer

ADAM_VARIANTS = ("torch", "uncorrected", "survey")


class SurveyAdam(Adam):
    """Adam as the survey prints it: ``p <- p - lr * m / (sqrt(v) * (1 - b2^t) + eps)``.

    ``m`` is never bias-corrected and ``v``'s correction sits outside the square root, so the
    first step is ``lr (1-b1) / (sqrt(1-b2) (1-b2))`` = 3162.3 ``lr`` at the default betas
    (torch: ``lr``). The ratio decays to 1 only after several thousand steps.
    """

    def _update(self, i, g):
        self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
        self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
        return self.lr * self.m[i] / (self.v[i].sqrt() * (1 - self.b2**self.t) + self.eps)


class EMAMomentum(_Optimizer):
    """Momentum written as an exponential moving average: ``v <- b v + (1-b) g``; ``p <- p - lr v``.

    Args:
        params: tensors to optimise.
        lr: learning rate.
        beta: averaging factor in [0, 1).
        init: ``"zero"`` (the survey: ``v`` starts at 0, so ``v_1 = (1-b) g_1``) or ``"grad"``
            (``v_1 = g_1``, exactly torch's ``SGD(momentum=b, dampening=b)``).

    With ``init="zero"`` and ``lr = eta / (1 - b)`` it is exactly torch's default
    ``SGD(lr=eta, momentum=b)`` (``v_t = (1-b) * b_t`` at every step).
    """

    def __init__(self, params, lr: float, beta: float = 0.9, init: str = "zero"):
        super().__init__(params, lr)
        if not 0 <= beta < 1:
            raise ConfigError(f"beta must be in [0, 1), got {beta!r}")
        if init not in ("zero", "grad"):
            raise ConfigError(f"init must be 'zero' or 'grad', got {init!r}")
        self.beta, self.init = float(beta), init
        self.velocity: list[torch.Tensor | None] = [None] * len(self.params)

    def _update(self, i, g):
        v = self.velocity[i]
        if v is None:
            v = g.clone() if self.init == "grad" else (1 - self.beta) * g
        else:
            v = self.beta * v + (1 - self.beta) * g
        self.velocity[i] = v
        return self.lr * v


def make_adam(variant: str, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
    """``"torch"`` (Kingma & Ba, bias-corrected; matches ``torch.optim.Adam``), ``"uncorrected"``
    (neither moment corrected) or ``"survey"`` (:class:`SurveyAdam`)."""
    if variant == "torch":
        return Adam(params, lr=lr, betas=betas, eps=eps)
    if variant == "uncorrected":
        return Adam(params, lr=lr, betas=betas, eps=eps, bias_correction=False)
    if variant == "survey":
        return SurveyAdam(params, lr=lr, betas=betas, eps=eps)
    raise ConfigError(f"unknown Adam variant {variant!r}; choose from {', '.join(ADAM_VARIANTS)}")


def step_ratios(make: Callable[[list[torch.Tensor]], object], steps: int, lr: float,
                gradient: float = 1.0) -> np.ndarray:
    """Step size / ``lr`` at every step under a constant gradient, measured by running the optimizer.

    The loss is linear, ``L(p) = gradient * p``, so ``g`` is the same at every step and the
    ratio shows what the update rule itself does (the "effective learning rate").

    Args:
        make: builds the optimizer from a parameter list, e.g. ``lambda p: make_adam("survey", p, lr)``.
        steps: number of steps.
        lr: the learning rate ``make`` uses (the ratio's denominator).
        gradient: the constant gradient (Adam's ratios do not depend on it while ``|g| >> eps``).

    Returns:
        ``(steps,)`` array of ``|p_t - p_{t-1}| / lr``.
    """
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = make([p])
    out = np.empty(steps)
    for t in range(steps):
        before = float(p.detach())
        opt.zero_grad()
        (gradient * p).sum().backward()
        opt.step()
        out[t] = abs(float(p.detach()) - before) / lr
    return out


def adam_step_ratio_formula(variant: str, t: np.ndarray, betas: tuple[float, float] = (0.9, 0.999)) -> np.ndarray:
    """Closed form of :func:`step_ratios` for Adam under a constant gradient (``eps`` ignored).

    torch: 1; uncorrected: ``(1-b1^t) / sqrt(1-b2^t)``; survey: ``(1-b1^t) / (1-b2^t)^{3/2}``.
    """
    b1, b2 = betas
    t = np.asarray(t, dtype=float)
    if variant == "torch":
        return np.ones_like(t)
    if variant == "uncorrected":
        return (1 - b1**t) / np.sqrt(1 - b2**t)
    if variant == "survey":
        return (1 - b1**t) / (1 - b2**t) ** 1.5
    raise ConfigError(f"unknown Adam variant {variant!r}; choose from {', '.join(ADAM_VARIANTS)}")


def first_step_ratio(variant: str, loss_fn: Callable[[torch.Tensor], torch.Tensor], init: torch.Tensor,
                     lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> float:
    """Median over weights of ``|step 1| / lr`` for an Adam variant on a real loss.

    Args:
        loss_fn: maps a parameter vector (shape of ``init``) to a scalar loss.
        init: starting parameters ``(P,)``.
    """
    p = init.detach().clone().requires_grad_(True)
    opt = make_adam(variant, [p], lr=lr, betas=betas)
    loss_fn(p).backward()
    nonzero = p.grad.abs() > 0
    opt.step()
    return float(((p.detach() - init).abs()[nonzero] / lr).median())


def momentum_steady_state_ratio(beta: float = 0.9, lr: float = 0.01, steps: int = 500) -> dict[str, float]:
    """Steady-state step / lr under a constant unit gradient, measured after ``steps`` steps.

    Returns:
        ``{"torch momentum": ~1/(1-beta), "torch dampening": ~1, "survey EMA": ~1,
        "ratio": torch momentum / survey EMA}`` (10 at ``beta = 0.9``).
    """
    last = {
        "torch momentum": step_ratios(lambda p: torch.optim.SGD(p, lr=lr, momentum=beta), steps, lr)[-1],
        "torch dampening": step_ratios(lambda p: torch.optim.SGD(p, lr=lr, momentum=beta, dampening=beta),
                                       steps, lr)[-1],
        "survey EMA": step_ratios(lambda p: EMAMomentum(p, lr=lr, beta=beta), steps, lr)[-1],
    }
    last["ratio"] = last["torch momentum"] / last["survey EMA"]
    return {k: float(v) for k, v in last.items()}


def max_abs_diff(make_a: Callable, make_b: Callable, loss_fn: Callable[[torch.Tensor], torch.Tensor],
                 init: torch.Tensor, steps: int = 100) -> float:
    """Run two optimizers side by side from ``init``; the largest parameter difference over all steps.

    Args:
        make_a, make_b: build an optimizer from a parameter list (ours or ``torch.optim``).
        loss_fn: parameter vector -> scalar loss.
        init: starting parameters ``(P,)``; each run starts from a copy.
    """
    pa = init.detach().clone().requires_grad_(True)
    pb = init.detach().clone().requires_grad_(True)
    opts = ((make_a([pa]), pa), (make_b([pb]), pb))
    worst = 0.0
    for _ in range(steps):
        for opt, p in opts:
            opt.zero_grad()
            loss_fn(p).backward()
            opt.step()
        worst = max(worst, float((pa - pb).detach().abs().max()))
    return worst


def matvec(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A x`` for ``A (m, n)`` and ``x (n,)``, with the shapes checked first.

    Raises:
        DataError: ``A`` is not 2-D, ``x`` not 1-D, or ``A``'s columns differ from ``x``'s length
            (the survey's 2x2 matrix times a 3-vector).
    """
    if A.ndim != 2 or x.ndim != 1:
        raise DataError(f"matvec needs a matrix A (m, n) and a vector x (n,); got A {tuple(A.shape)}, "
                        f"x {tuple(x.shape)}")
    if A.shape[1] != x.shape[0]:
        raise DataError(f"cannot multiply A {tuple(A.shape)} by x {tuple(x.shape)}: A has {A.shape[1]} columns "
                        f"but x has {x.shape[0]} entries; a product A x needs them equal")
    return A @ x


def double_softmax_cross_entropy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The mistake: ``CrossEntropyLoss()(softmax(z), y)``: softmax applied twice.

    Shapes: logits ``z (N, C)``, classes ``y (N,)``. Returns the mean loss.
    """
    return torch.nn.functional.cross_entropy(torch.softmax(z, dim=1), y)


def double_softmax_floor(n_classes: int) -> float:
    """Smallest loss :func:`double_softmax_cross_entropy` can reach: ``log(1 + (C-1)/e)``.

    Reached by a perfectly confident, correct prediction (probabilities one-hot), where the
    correct cross-entropy is 0.
    """
    return math.log1p((n_classes - 1) / math.e)


def log_loss_multiclass(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Multi-class log loss ``-(1/N) sum_n log p[n, y_n]`` (= ``-(1/N) sum_n sum_c Y_nc log p_nc``).

    Shapes: probabilities ``p (N, C)`` (rows sum to 1), classes ``y (N,)``.
    """
    return -torch.log(p[torch.arange(len(y)), y]).mean()


def log_loss_binary_form(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The binary formula applied to every class: ``-(1/N) sum_n sum_c [Y log p + (1-Y) log(1-p)]``.

    ``Y`` is the one-hot ``(N, C)`` of ``y``. Equal to :func:`log_loss_multiclass` only when
    the wrong classes get probability 0; otherwise larger, and it scores two predictions
    with the same ``p_y`` differently depending on how the rest is spread.
    """
    Y = torch.nn.functional.one_hot(y, p.shape[1]).to(p.dtype)
    return -(Y * torch.log(p) + (1 - Y) * torch.log1p(-p)).sum(dim=1).mean()
