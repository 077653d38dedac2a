"""LSTM and GRU classifiers for padded patient histories, with masking.

Padded steps never reach the recurrent cell: the batch is packed with
``torch.nn.utils.rnn.pack_padded_sequence`` using the true lengths, so the summary of a
patient is the hidden state after their *last real visit*, whatever the padding holds
(a test changes the padding values and checks the output does not move).

One model serves single-task (``n_tasks=1``) and multi-task (``n_tasks=3``: diabetes,
hypertension and CVD from one shared encoder, one linear head each) prediction; it returns
logits, to be trained with ``BCEWithLogitsLoss``. Training and prediction (``train_recurrent``,
``predict_risk``) live in :mod:`medbench.tasks.disease`; ``make_model("lstm" | "gru")`` builds one.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from medbench.errors import ConfigError

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentClassifier(nn.Module):
    """A masked LSTM/GRU encoder with one logit per task.

    Args:
        input_size: features per step ``F``.
        cell: ``"lstm"`` or ``"gru"``.
        hidden_size: recurrent units.
        num_layers: stacked recurrent layers.
        n_tasks: number of outputs (1: single task; >1: multi-task heads on a shared encoder).
        dropout: dropout on the summary vector (and between layers when ``num_layers > 1``).
        pooling: ``"last"`` (state after the last real visit) or ``"last+mean"`` (concatenated with
            the masked mean of all real steps' states).

    Shapes:
        ``forward(x (B, T, F), lengths (B,)) -> logits (B, n_tasks)``;
        ``forward(x, lengths, per_step=True) -> (B, T, n_tasks)``: the logit after each visit
        (what the model would have said at that point of the history; padded steps are 0).
    """

    def __init__(self, input_size: int, cell: str = "lstm", hidden_size: int = 64, num_layers: int = 1,
                 n_tasks: int = 1, dropout: float = 0.1, pooling: str = "last"):
        super().__init__()
        if cell not in CELLS:
            raise ConfigError(f"cell must be one of {list(CELLS)}, got {cell!r}")
        if pooling not in ("last", "last+mean"):
            raise ConfigError(f"pooling must be 'last' or 'last+mean', got {pooling!r}")
        if n_tasks < 1 or input_size < 1 or hidden_size < 1:
            raise ConfigError("input_size, hidden_size and n_tasks must be positive")
        self.cell, self.pooling, self.n_tasks = cell, pooling, n_tasks
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)
        width = hidden_size * (2 if pooling == "last+mean" else 1)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.Linear(width, n_tasks)  # one row per task = one linear head each

    def encode(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """States ``(B, T, H)`` (zeros on padding) and the summary ``(B, width)``."""
        if x.dim() != 3:
            raise ConfigError(f"x must be (B, T, F), got shape {tuple(x.shape)}")
        lengths = torch.as_tensor(lengths).to("cpu", torch.int64)
        if (lengths < 1).any() or (lengths > x.shape[1]).any():
            raise ConfigError("lengths must be between 1 and T")
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        idx = (lengths - 1).to(x.device)
        last = states[torch.arange(x.shape[0], device=x.device), idx]
        if self.pooling == "last":
            return states, last
        steps = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
        mean = (states * steps[..., None]).sum(1) / lengths.to(x.device, states.dtype)[:, None]
        return states, torch.cat([last, mean], -1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        states, summary = self.encode(x, lengths)
        if per_step:
            if self.pooling != "last":
                raise ConfigError("per_step outputs need pooling='last'")
            steps = torch.arange(x.shape[1], device=x.device)[None, :] < torch.as_tensor(lengths).to(x.device)[:, None]
            return self.heads(states) * steps[..., None]
        return self.heads(self.dropout(summary))
