"""Activation functions and their derivatives, written from their formulas.

Each entry of :data:`ACTIVATIONS` is an :class:`Activation` whose ``f`` and ``df`` take
and return tensors of any shape. ``torch_f`` is the library version they are checked
against.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from medbench.errors import ConfigError


@dataclass(frozen=True)
class Activation:
    """An activation: value ``f(x)``, derivative ``df(x)``, torch reference and a note."""

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    df: Callable[[torch.Tensor], torch.Tensor]
    torch_f: Callable[[torch.Tensor], torch.Tensor]
    note: str


def _sigmoid(x):
    # Stable: never evaluates exp of a large positive number.
    e = torch.exp(-x.abs())
    return torch.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _phi(x):  # standard normal pdf
    return torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _Phi(x):  # standard normal cdf
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


_ALPHA = 0.01  # leaky ReLU slope, torch's default
ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("relu", lambda x: x.clamp_min(0), lambda x: (x > 0).to(x.dtype), torch.relu,
                   "max(0, x); gradient 0 for x<0 ('dead' units), 1 for x>0; d/dx at 0 taken as 0 like torch."),
        Activation("leaky_relu", lambda x: torch.where(x > 0, x, _ALPHA * x),
                   lambda x: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, _ALPHA)),
                   lambda x: F.leaky_relu(x, _ALPHA), "x for x>0, 0.01x otherwise: keeps a small gradient."),
        Activation("sigmoid", _sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x)), torch.sigmoid,
                   "1/(1+e^-x); derivative at most 0.25, so deep sigmoid stacks vanish."),
        Activation("tanh", torch.tanh, lambda x: 1 - torch.tanh(x) ** 2, torch.tanh,
                   "zero-centred; derivative 1 - tanh^2, at most 1."),
        Activation("softplus", lambda x: F.relu(x) + torch.log1p(torch.exp(-x.abs())), _sigmoid, F.softplus,
                   "log(1+e^x), a smooth ReLU; its derivative is the sigmoid."),
        Activation("elu", lambda x: torch.where(x > 0, x, torch.expm1(x)),
                   lambda x: torch.where(x > 0, torch.ones_like(x), torch.exp(x)), F.elu,
                   "x for x>0, e^x - 1 otherwise (alpha=1)."),
        Activation("gelu", lambda x: x * _Phi(x), lambda x: _Phi(x) + x * _phi(x), F.gelu,
                   "x * Phi(x), the exact (erf) form used by transformers."),
        Activation("silu", lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))), F.silu,
                   "x * sigmoid(x), also called swish."),
    ]
}


def get_activation(name: str) -> Activation:
    """Look up an activation by name; a :class:`ConfigError` lists the valid names."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ConfigError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}") from None


def check_against_torch(x: torch.Tensor) -> dict[str, tuple[float, float]]:
    """For every activation: max |f - torch_f| and max |df - autograd derivative| on ``x``."""
    result = {}
    for name, act in ACTIVATIONS.items():
        xg = x.detach().clone().requires_grad_(True)
        y = act.torch_f(xg)
        (grad,) = torch.autograd.grad(y.sum(), xg)
        result[name] = (
            float((act.f(x) - act.torch_f(x)).abs().max()),
            float((act.df(x) - grad).abs().max()),
        )
    return result
