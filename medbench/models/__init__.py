"""Model factory: one call, :func:`make_model`, for every network in medbench.

Names (2D and 3D through ``spatial_dims``):

- ``"small_cnn"``: :class:`~medbench.models.small_cnn.SmallCNN`, the seed's conv-ReLU-pool x2 +
  dense baseline (a few 10k parameters);
- ``"densenet121"``: ``monai.networks.nets.DenseNet121``;
- ``"resnet18"``: ``monai.networks.nets.resnet18``;
- ``"efficientnet_b0"``: ``monai.networks.nets.EfficientNetBN("efficientnet-b0")``;
- ``"lstm"``, ``"gru"``: :class:`~medbench.models.recurrent.RecurrentClassifier` for sequences;
- ``"unet"``, ``"basicunet"``, ``"unetr"``, ``"swinunetr"``: segmentation networks
  (:func:`~medbench.models.segmentation.segmentation_net`), logits per voxel.

Weights are always randomly initialised: medbench never downloads pretrained weights
(transfer learning in chapter 02 pretrains on a phantom task instead).
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from medbench.errors import ConfigError
from medbench.models.small_cnn import SmallCNN

__all__ = ["MODELS", "SmallCNN", "make_model", "count_parameters", "reset_classifier"]


def _small_cnn(spatial_dims, in_channels, num_classes, **kw):
    return SmallCNN(in_channels=in_channels, num_classes=num_classes, spatial_dims=spatial_dims, **kw)


def _densenet121(spatial_dims, in_channels, num_classes, **kw):
    from monai.networks.nets import DenseNet121

    return DenseNet121(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=num_classes, **kw)


def _resnet18(spatial_dims, in_channels, num_classes, **kw):
    from monai.networks.nets import resnet18

    return resnet18(pretrained=False, spatial_dims=spatial_dims, n_input_channels=in_channels,
                    num_classes=num_classes, **kw)


def _efficientnet_b0(spatial_dims, in_channels, num_classes, **kw):
    from monai.networks.nets import EfficientNetBN

    return EfficientNetBN("efficientnet-b0", pretrained=False, progress=False, spatial_dims=spatial_dims,
                          in_channels=in_channels, num_classes=num_classes, **kw)


def _recurrent(cell):
    def build(spatial_dims, in_channels, num_classes, **kw):
        from medbench.models.recurrent import RecurrentClassifier

        # Sequences (B, T, F): in_channels = F features, num_classes = tasks; spatial_dims is unused.
        return RecurrentClassifier(in_channels, cell=cell, n_tasks=num_classes, **kw)

    return build


def _segmentation(name):
    def build(spatial_dims, in_channels, num_classes, **kw):
        from medbench.models.segmentation import segmentation_net

        # Dense outputs (B, num_classes, *spatial): one logit per class and voxel.
        return segmentation_net(name, spatial_dims, in_channels, num_classes, **kw)

    return build


MODELS: dict[str, Callable[..., nn.Module]] = {
    "small_cnn": _small_cnn,
    "densenet121": _densenet121,
    "resnet18": _resnet18,
    "efficientnet_b0": _efficientnet_b0,
    "lstm": _recurrent("lstm"),
    "gru": _recurrent("gru"),
    "unet": _segmentation("unet"),
    "basicunet": _segmentation("basicunet"),
    "unetr": _segmentation("unetr"),
    "swinunetr": _segmentation("swinunetr"),
}


def make_model(name: str, *, spatial_dims: int = 2, in_channels: int = 1, num_classes: int = 2, **kw) -> nn.Module:
    """Build a network by name.

    Args:
        name: one of :data:`MODELS` (``"small_cnn"``, ``"densenet121"``, ``"resnet18"``,
            ``"efficientnet_b0"``; ``"lstm"``/``"gru"`` for sequences ``(B, T, F)`` with
            ``in_channels=F`` and ``num_classes`` = number of tasks, see
            :class:`medbench.models.recurrent.RecurrentClassifier`; ``"unet"`` ... for
            segmentation, see :func:`medbench.models.segmentation.segmentation_net`).
        spatial_dims: 2 for images ``(B, C, H, W)``, 3 for volumes ``(B, C, H, W, D)``.
        in_channels: input channels C.
        num_classes: number of output logits K (use 1 for a single-logit binary model).
        **kw: passed to the network's constructor.

    Returns:
        An ``nn.Module`` mapping ``(B, C, *spatial)`` to logits ``(B, K)`` (segmentation:
        ``(B, K, *spatial)``).

    Raises:
        ConfigError: unknown name, bad ``spatial_dims``, or ``pretrained=True``.
    """
    key = str(name).lower().replace("-", "_")
    if key not in MODELS:
        raise ConfigError(f"model {name!r} is unknown; choose one of {', '.join(MODELS)}")
    if spatial_dims not in (2, 3):
        raise ConfigError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
    if kw.pop("pretrained", False):
        raise ConfigError("medbench never downloads pretrained weights; pretrain on a local task instead "
                          "(see chapter 02, transfer learning)")
    return MODELS[key](spatial_dims, in_channels, num_classes, **kw)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def reset_classifier(model: nn.Module, num_classes: int | None = None) -> nn.Module:
    """Replace the network's last ``nn.Linear`` with a freshly initialised one (for fine-tuning).

    Args:
        model: any network whose output layer is an ``nn.Linear``.
        num_classes: outputs of the new layer (default: same as before).

    Returns:
        The same model, modified in place.
    """
    last_name, last = None, None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            last_name, last = name, mod
    if last is None:
        raise ConfigError(f"{type(model).__name__} has no nn.Linear output layer to reset")
    new = nn.Linear(last.in_features, num_classes or last.out_features).to(last.weight.device)
    parent = model.get_submodule(last_name.rpartition(".")[0]) if "." in last_name else model
    setattr(parent, last_name.rpartition(".")[2], new)
    return model
