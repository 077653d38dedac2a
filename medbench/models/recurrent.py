"""LSTM and GRU classifiers for padded patient histories, with masking.

Padded steps never reach the recurrent cell: the batch is packed with
``torch.nn.utils.rnn.pack_padded_sequence`` using the true lengths, so the summary of a
patient is the hidden state after their *last real visit*, whatever the padding holds
(a test changes the padding values and checks the output does not move).

One model serves single-task (``n_tasks=1``) and multi-task (``n_tasks=3``: diabetes,
hypertension and CVD from one shared encoder, one linear head each) prediction; it returns
logits, to be trained with ``BCEWithLogitsLoss``.
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


def lstm_classifier(input_size: int, n_tasks: int = 1, **kw) -> RecurrentClassifier:
    """An LSTM :class:`RecurrentClassifier` (factory name ``"lstm"``)."""
    return RecurrentClassifier(input_size, cell="lstm", n_tasks=n_tasks, **kw)


def gru_classifier(input_size: int, n_tasks: int = 1, **kw) -> RecurrentClassifier:
    """A GRU :class:`RecurrentClassifier` (factory name ``"gru"``)."""
    return RecurrentClassifier(input_size, cell="gru", n_tasks=n_tasks, **kw)


@torch.no_grad()
def predict_proba(model: nn.Module, X, lengths, batch_size: int = 1024, per_step: bool = False):
    """Sigmoid probabilities as a NumPy array: ``(N, n_tasks)`` (or ``(N, T, n_tasks)`` per step).

    Args:
        model: a :class:`RecurrentClassifier`.
        X: ``(N, T, F)`` array or tensor; lengths: ``(N,)``.
    """
    import numpy as np

    model.eval()
    device = next(model.parameters()).device
    X = torch.as_tensor(np.asarray(X, np.float32))
    lengths = torch.as_tensor(np.asarray(lengths, np.int64))
    out = []
    for i in range(0, len(X), batch_size):
        logits = model(X[i:i + batch_size].to(device), lengths[i:i + batch_size], per_step=per_step)
        out.append(torch.sigmoid(logits.float()).cpu())
    return torch.cat(out).numpy()


# --------------------------------------------------------------------------------------------
# wearable signals: a 1D-CNN regressor
# --------------------------------------------------------------------------------------------
class TremorCNN(nn.Module):
    """A 1D-CNN that estimates a tremor severity score from an accelerometer window.

    Each window is centred per axis (removing gravity's constant part) and a fourth channel,
    the magnitude of the centred signal, is added. Four conv blocks (conv-BN-ReLU-pool) then a
    global average and a linear output.

    Args:
        channels: width of the conv blocks.
        dropout: dropout before the output layer.
        init_score: initial output bias (use the training mean of the score).
        rotate: in training mode, rotate each window by a random 3-D rotation (augmentation for
            the unknown orientation of the sensor on the wrist).

    Shapes: ``(B, 3, L)`` in g -> ``(B, 1)`` score.
    """

    def __init__(self, channels: int = 32, dropout: float = 0.1, init_score: float = 0.0, rotate: bool = True):
        super().__init__()
        self.rotate = rotate
        layers, c_in = [], 4
        for c_out, k in [(channels // 2, 7), (channels, 5), (channels, 5), (channels, 3)]:
            layers += [nn.Conv1d(c_in, c_out, k, padding=k // 2), nn.BatchNorm1d(c_out), nn.ReLU(), nn.MaxPool1d(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * c_in, 1))
        with torch.no_grad():  # start from the average score (e.g. the training mean), not from 0
            self.head[-1].bias.fill_(float(init_score))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(-1, keepdim=True)
        if self.training and self.rotate:  # augmentation: the watch sits differently on every wrist
            q, r = torch.linalg.qr(torch.randn(x.shape[0], 3, 3, device=x.device))
            q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
            x = q @ x
        x = torch.cat([x * 10.0, x.norm(dim=1, keepdim=True) * 10.0], 1)  # g -> roughly unit scale
        h = self.features(x)
        pooled = torch.cat([h.mean(-1), h.amax(-1)], 1)
        return self.head(pooled)
