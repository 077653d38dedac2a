"""A multilayer perceptron for tabular patient features, DP-SGD ready (no BatchNorm, no in-place ops)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["TabularMLP"]


class TabularMLP(nn.Module):
    """``Linear -> ReLU`` blocks and a linear head: ``(B, D) -> (B, num_outputs)`` logits.

    Args:
        in_features: D.
        hidden: widths of the hidden layers.
        num_outputs: logits per patient (1 for a binary outcome).

    ReLUs are not in-place: opacus' per-sample gradient hooks break on in-place activations
    (opacus#828), and no BatchNorm (it mixes patients within a batch, which DP-SGD cannot bound).
    """

    def __init__(self, in_features: int, hidden: tuple[int, ...] = (256, 256), num_outputs: int = 1):
        super().__init__()
        layers, d = [], int(in_features)
        for h in hidden:
            layers += [nn.Linear(d, int(h)), nn.ReLU(inplace=False)]
            d = int(h)
        layers.append(nn.Linear(d, int(num_outputs)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
