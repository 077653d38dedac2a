"""3D segmentation networks from ``monai.networks.nets`` and the sliding-window wrapper.

Build them through :func:`medbench.models.make_model` (``"unet"``, ``"basicunet"``, ``"unetr"``,
``"swinunetr"``); :class:`SlidingWindowModel` makes any of them train on crops and predict
whole volumes.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from medbench.errors import ConfigError

__all__ = ["SEGMENTATION_MODELS", "MajorityAtlas", "SlidingWindowModel", "segmentation_net"]

SEGMENTATION_MODELS = ("unet", "basicunet", "unetr", "swinunetr")


class SlidingWindowModel(nn.Module):
    """A network that trains on crops and, in eval mode, predicts whole volumes by sliding window.

    ``forward`` in training mode is ``net(x)``; in eval mode it is
    ``monai.inferers.sliding_window_inference(x, roi_size, sw_batch_size, net, overlap,
    mode="gaussian")``, so :func:`medbench.training.fit`'s validation and
    :func:`medbench.tasks.segmentation.evaluate`
    score whole volumes of any size.

    Args:
        net: the segmentation network ``(B, C_in, *roi) -> (B, C_out, *roi)``.
        roi_size: window size ``(X, Y, Z)``.
        overlap: fraction of overlap between neighbouring windows.
        sw_batch_size: windows per forward pass.
    """

    def __init__(self, net: nn.Module, roi_size: Sequence[int], overlap: float = 0.25, sw_batch_size: int = 4):
        super().__init__()
        self.net = net
        self.roi_size = tuple(int(r) for r in roi_size)
        self.overlap = float(overlap)
        self.sw_batch_size = int(sw_batch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.net(x)
        from monai.inferers import sliding_window_inference

        return sliding_window_inference(x, self.roi_size, self.sw_batch_size, self.net, overlap=self.overlap,
                                        mode="gaussian")


def segmentation_net(name: str = "unet", spatial_dims: int = 3, in_channels: int = 1, num_classes: int = 2, *,
                     roi_size=(48, 48, 32),
                     channels: Sequence[int] = (16, 32, 64, 128), strides: Sequence[int] = (2, 2, 2),
                     num_res_units: int = 1) -> nn.Module:
    """A MONAI 3D segmentation network (not yet wrapped in :class:`SlidingWindowModel`).

    Args:
        name: ``"unet"`` (``monai.networks.nets.UNet`` with ``channels``/``strides``, batch norm),
            ``"basicunet"`` (``BasicUNet``, features from ``channels``), ``"unetr"`` (ViT encoder;
            needs a fixed ``roi_size``, each side divisible by 16) or ``"swinunetr"`` (each side
            divisible by 32 and at least 64). The transformers are heavy on a CPU; keep them for a GPU.
        spatial_dims: 2 or 3 (UNETR and SwinUNETR: 3 only here).
        in_channels, num_classes: input channels and number of classes (with background).

    Returns:
        ``nn.Module`` mapping ``(B, in_channels, *roi) -> (B, num_classes, *roi)`` logits.
    """
    from monai.networks import nets

    channels = tuple(int(c) for c in channels)
    if name == "unet":
        if len(strides) != len(channels) - 1:
            raise ConfigError(f"UNet needs len(strides) == len(channels) - 1, got channels={channels}, "
                              f"strides={tuple(strides)}")
        return nets.UNet(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=num_classes, channels=channels,
                         strides=tuple(strides), num_res_units=num_res_units, norm="batch")
    if name == "basicunet":
        f = list(channels[:5]) + [channels[0]] * (5 - len(channels[:5]))
        f = f[:5] + [f[0]]
        return nets.BasicUNet(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=num_classes, features=tuple(f))
    if name == "unetr":
        if any(r % 16 for r in roi_size):
            raise ConfigError(f"UNETR needs every roi_size side divisible by 16, got {tuple(roi_size)}")
        return nets.UNETR(in_channels=in_channels, out_channels=num_classes, img_size=tuple(roi_size),
                          feature_size=channels[0], hidden_size=192, mlp_dim=768, num_heads=4)
    if name == "swinunetr":
        if any(r % 32 or r < 64 for r in roi_size):
            raise ConfigError(f"SwinUNETR needs every roi_size side divisible by 32 and >= 64 (its bottleneck "
                              f"normalises over space), got {tuple(roi_size)}")
        return nets.SwinUNETR(in_channels=in_channels, out_channels=num_classes, feature_size=12,
                              depths=(2, 2, 2, 2), num_heads=(3, 6, 12, 24))
    raise ConfigError(f"model {name!r} is unknown; use one of {', '.join(SEGMENTATION_MODELS)}")


class MajorityAtlas:
    """The baseline that never looks at the image: each voxel gets its most frequent training label.

    A floor for any segmentation model on data whose anatomy sits at the same place in every
    volume (generated phantoms and brains on one grid): what position alone achieves.

    Attributes (after :meth:`fit`):
        atlas_: ``(1, X, Y, Z)`` uint8 label map.
    """

    def __init__(self, n_classes: int):
        if n_classes < 2:
            raise ConfigError(f"n_classes must be >= 2 (with background), got {n_classes}")
        self.n_classes = int(n_classes)

    def fit(self, labels: Sequence) -> "MajorityAtlas":
        """Vote over training label maps, each ``(1, X, Y, Z)`` (or ``(X, Y, Z)``) on one grid."""
        maps = [np.asarray(lab).reshape(np.shape(lab)[-3:]) for lab in labels]
        if not maps or len({m.shape for m in maps}) != 1:
            raise ConfigError("MajorityAtlas needs at least one training label map, all on one grid; got shapes "
                              f"{sorted({m.shape for m in maps})} (resample the volumes to a common grid first)")
        counts = np.zeros((self.n_classes, *maps[0].shape), np.int32)
        for m in maps:
            for c in range(self.n_classes):
                counts[c] += m == c
        self.atlas_ = torch.as_tensor(counts.argmax(0).astype(np.uint8))[None]
        return self

    def predict(self, image=None) -> torch.Tensor:
        """The atlas ``(1, X, Y, Z)``, whatever the image (it is only taken for the API)."""
        if not hasattr(self, "atlas_"):
            raise ConfigError("call fit() before predict()")
        return self.atlas_.clone()

