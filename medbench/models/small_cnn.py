"""The seed's teaching baseline: conv-ReLU-pool twice, then a dense classifier."""
from __future__ import annotations

import torch
from torch import nn

from medbench.errors import ConfigError


class SmallCNN(nn.Module):
    """Two convolution blocks (conv 3x3 -> [BatchNorm] -> ReLU -> max-pool 2) and a dense head.

    The feature map is average-pooled to a fixed ``grid`` (4 x 4 in 2D) before flattening so
    the same network accepts 28 px MedMNIST images and 32/64 px CT patches.

    Args:
        in_channels: input channels C.
        num_classes: output logits K.
        spatial_dims: 2 (images ``(B, C, H, W)``) or 3 (volumes ``(B, C, H, W, D)``).
        channels: filters of the two convolution blocks.
        hidden: units of the hidden dense layer.
        dropout: dropout before the output layer.
        norm: put a BatchNorm after each convolution (trains faster; set False for the bare seed net).
        grid: side of the pooled feature grid.

    Shapes:
        input ``(B, C, *spatial)`` -> logits ``(B, K)``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, spatial_dims: int = 2,
                 channels: tuple[int, int] = (16, 32), hidden: int = 64, dropout: float = 0.2,
                 norm: bool = True, grid: int = 4):
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ConfigError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
        Conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        Norm = nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d
        Pool = nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d
        Adapt = nn.AdaptiveAvgPool2d if spatial_dims == 2 else nn.AdaptiveAvgPool3d
        layers: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            layers += [Conv(c_in, c, 3, padding=1)]
            if norm:
                layers += [Norm(c)]
            layers += [nn.ReLU(inplace=True), Pool(2)]
            c_in = c
        layers += [Adapt(grid)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * grid ** spatial_dims, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
