"""Networks for wearable signals: a 1D-CNN that scores tremor from accelerometer windows.

The pipeline that trains it (patient split, fit, prediction, spectral baseline) is
:mod:`medbench.tasks.disease`; the simulator is :mod:`medbench.data.tremor`.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["TremorCNN"]


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
