"""Neural survival: a DeepSurv-style network and the Cox partial-likelihood loss it trains on.

- :class:`NeuralCox` maps covariates ``(B, D)`` to a log-risk ``(B, 1)``.
- :func:`cox_partial_likelihood_loss` is the negative Cox partial log-likelihood (Breslow ties),
  the objective of :class:`NeuralCox`; it lives beside the network because the network's output
  means nothing without it (a log-risk is only defined up to this loss), and any task that reuses
  the network needs both. The pipeline that trains them is :mod:`medbench.tasks.survival`.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["NeuralCox", "cox_partial_likelihood_loss"]


def cox_partial_likelihood_loss(log_risk: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood (Breslow ties), averaged over events.

    Args:
        log_risk: ``(B,)`` or ``(B, 1)`` model outputs.
        target: ``(B, 2)``: column 0 time, column 1 event (0/1).

    Returns:
        A scalar tensor.
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
    """A DeepSurv-style MLP: covariates ``(B, D)`` -> log-risk ``(B, 1)``.

    Args:
        n_features: covariates ``D``.
        hidden: width of the two hidden layers.
        dropout: dropout after each hidden layer.
    """

    def __init__(self, n_features: int, hidden: int = 32, dropout: float = 0.2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
