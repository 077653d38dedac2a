"""Small networks of chapter 06: a quantile LSTM forecaster and an actor-critic policy net.

- :class:`QuantileLSTM` reads a window of daily features and outputs, for each horizon
  ``h = 1..H``, the quantiles of the change of the target from the last observed day.
  Quantiles are made non-crossing by sorting (monotone by construction).
- :class:`ActorCritic` maps an observation to action logits and a state value (the neural
  admission policy; trained by :func:`medbench.tasks.operations.train_actor_critic`).
"""
from __future__ import annotations

import torch
from torch import nn

from medbench.errors import ConfigError

__all__ = ["QuantileLSTM", "ActorCritic", "pinball_torch"]


class QuantileLSTM(nn.Module):
    """LSTM encoder + linear head with ``H * Q`` outputs.

    Args:
        n_features: features per day ``F``.
        horizon: days ahead ``H``.
        quantiles: quantile levels ``Q`` (increasing, in (0, 1)).
        hidden: LSTM units.
        num_layers: stacked LSTM layers.
        dropout: dropout on the summary vector.

    Shapes:
        ``forward(x (B, L, F)) -> (B, H, Q)``, sorted along the last axis.
    """

    def __init__(self, n_features: int, horizon: int, quantiles=(0.1, 0.5, 0.9), hidden: int = 64,
                 num_layers: int = 1, dropout: float = 0.1):
        super().__init__()
        q = list(quantiles)
        if not q or any(not 0 < t < 1 for t in q) or sorted(q) != q:
            raise ConfigError(f"quantiles must be increasing levels in (0, 1), got {quantiles!r}")
        if horizon < 1 or n_features < 1 or hidden < 1:
            raise ConfigError("n_features, horizon and hidden must be positive")
        self.horizon, self.quantiles = horizon, tuple(q)
        self.lstm = nn.LSTM(n_features, hidden, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden + n_features, hidden), nn.ReLU(),
                                  nn.Linear(hidden, horizon * len(q)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        z = torch.cat([out[:, -1], x[:, -1]], dim=1)  # last state + the last day's raw features
        y = self.head(z).view(-1, self.horizon, len(self.quantiles))
        return torch.sort(y, dim=-1).values


def pinball_torch(pred: torch.Tensor, target: torch.Tensor, quantiles) -> torch.Tensor:
    """Mean pinball loss of ``pred (B, H, Q)`` against ``target (B, H)`` over all quantile levels."""
    tau = torch.as_tensor(quantiles, dtype=pred.dtype, device=pred.device)
    d = target.unsqueeze(-1) - pred
    return torch.maximum(tau * d, (tau - 1) * d).mean()


class ActorCritic(nn.Module):
    """Two-layer MLP trunk with a policy head (logits) and a value head.

    Shapes:
        ``forward(obs (B, D)) -> (logits (B, A), value (B,))``.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.policy = nn.Linear(hidden, n_actions)
        self.value = nn.Linear(hidden, 1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.trunk(obs)
        return self.policy(z), self.value(z).squeeze(-1)
