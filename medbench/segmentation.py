"""3D segmentation of CT and MRI volumes with MONAI: data, transforms, networks, training, evaluation.

The stages follow PyHealth's split (dataset -> task -> model -> trainer -> metrics):

1. :func:`build_dataset` turns a data source into MONAI-style case dicts and structure names:
   ``"phantom"`` (multi-organ CT phantoms from :mod:`medbench.data.phantom`, generated on a
   small CPU-friendly grid), ``"brain"`` (deformed MNI152 T1 with CSF / grey / white matter from
   :mod:`medbench.data.brain`) or ``"msd:<folder>"`` (a Medical Segmentation Decathlon task
   folder in the data directory, read with :func:`medbench.data.msd.load_msd_task`).
2. :func:`make_transforms` builds the deterministic part (cached once by ``CacheDataset``) and
   the random part (label-balanced crops with ``RandCropByLabelClassesd``) of the pipeline.
3. :func:`build_model` makes a MONAI ``UNet``, ``BasicUNet``, ``UNETR`` or ``SwinUNETR``,
   wrapped in :class:`SlidingWindowModel` so that evaluation always runs
   ``sliding_window_inference`` over whole volumes while training sees crops.
4. :func:`train` runs :func:`medbench.training.fit` with ``DiceCELoss`` (bf16 autocast on CPUs
   with AVX512-BF16/AMX, DDP under ``torchrun``).
5. :func:`evaluate` predicts every validation volume, post-processes (argmax, then the largest
   connected component of each structure) and scores Dice and HD95 (mm) per structure with
   ``monai.metrics``.

:func:`run` chains everything from a :class:`SegConfig`; ``python -m medbench.segmentation
--config FILE.yaml`` (or ``medbench train segmentation --config FILE.yaml``) does the same
from a YAML file and works under ``torchrun --nproc_per_node=N``.

Array conventions: volumes are channel-first ``(C, X, Y, Z)``, batches ``(B, C, X, Y, Z)``,
labels ``(1, X, Y, Z)`` integers ``0..n_structures`` (0 = background).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from medbench.errors import ConfigError, DataError, DataNotFoundError

__all__ = [
    "BRAIN_STRUCTURES",
    "MODELS",
    "PHANTOM_STRUCTURES",
    "DiceTracker",
    "SegConfig",
    "SegData",
    "SegResult",
    "SlidingWindowModel",
    "build_dataset",
    "build_model",
    "dice_hd95",
    "evaluate",
    "load_config",
    "main",
    "make_loaders",
    "make_transforms",
    "postprocess",
    "predict_volume",
    "run",
    "train",
]

#: Phantom structures segmented by default (lesions are switched off; body, fat and bone are
#: background, since bone is many components and body/fat are trivial).
PHANTOM_STRUCTURES: tuple[str, ...] = (
    "lung_left", "lung_right", "heart", "liver", "spleen", "kidney_left", "kidney_right",
)
#: Brain tissue classes of :func:`medbench.data.brain.deformed_brain` (label ids 1, 2, 3).
BRAIN_STRUCTURES: tuple[str, ...] = ("csf_other", "grey_matter", "white_matter")
MODELS = ("unet", "basicunet", "unetr", "swinunetr")
DATASETS = ("phantom", "brain", "msd:<task folder>")


# --------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------
@dataclass
class SegConfig:
    """Every knob of the pipeline (the YAML config of the entry point has these keys).

    Attributes:
        dataset: ``"phantom"``, ``"brain"`` or ``"msd:<folder>"`` (a folder name inside
            :func:`medbench.settings.data_dir`, or an absolute path).
        n_train, n_val: number of generated training / validation cases (phantom, brain).
        shape, spacing: grid of generated phantom volumes ``(X, Y, Z)`` voxels and mm.
        brain_shape: grid of the deformed brains (``None``: the loader's default).
        structures: phantom structure names to segment (``None``: :data:`PHANTOM_STRUCTURES`).
        contrast: phantom in the portal-venous phase of an iodinated contrast bolus (liver,
            spleen and kidneys enhance differently), like most abdominal segmentation data
            sets (e.g. MSD spleen); ``False`` gives non-contrast CT, where the organs differ
            by only 10-20 HU and must be told apart by shape and position.
        pixdim: MSD only, resample to this spacing in mm.
        model: one of :data:`MODELS`.
        channels, strides, num_res_units: UNet width/depth (``channels[:5]`` and feature size
            for the other nets).
        roi_size: training crop and sliding-window ROI ``(X, Y, Z)``.
        num_samples: crops per volume per epoch (label-balanced over the classes).
        batch_size: volumes per batch (each contributes ``num_samples`` crops).
        epochs, lr, optimizer, scheduler, weight_decay: passed to :func:`medbench.training.fit`.
        precision: ``"auto"`` (bf16 where the CPU supports it), ``"bf16"``, ``"fp32"``, ``"amp"``.
        overlap, sw_batch_size: sliding-window inference settings.
        keep_largest: keep the largest connected component of each structure.
        validate_every_epoch: validate inside ``fit`` (sliding window) for best-epoch selection.
        seed: seed for data generation, weights and crops.
        checkpoint_dir, resume: :func:`fit` checkpointing.
        out_dir: where :func:`main` writes ``metrics.json``, ``per_case.csv`` and ``model.pt``.
    """

    dataset: str = "phantom"
    n_train: int = 12
    n_val: int = 4
    shape: tuple = (64, 64, 40)
    spacing: tuple = (6.0, 6.0, 8.0)
    brain_shape: tuple | None = (64, 76, 64)
    structures: tuple | None = None
    contrast: bool = True
    pixdim: tuple = (3.0, 3.0, 4.0)
    model: str = "unet"
    channels: tuple = (16, 32, 64, 128)
    strides: tuple = (2, 2, 2)
    num_res_units: int = 1
    roi_size: tuple = (48, 48, 32)
    num_samples: int = 2
    batch_size: int = 2
    epochs: int = 80
    lr: float = 3e-3
    optimizer: str = "adamw"
    scheduler: str | None = "onecycle"
    weight_decay: float = 1e-4
    precision: str = "auto"
    overlap: float = 0.25
    sw_batch_size: int = 4
    keep_largest: bool = True
    validate_every_epoch: bool = False
    seed: int = 0
    checkpoint_dir: str | None = None
    resume: bool = False
    out_dir: str | None = None

    def __post_init__(self):
        for name in ("shape", "spacing", "roi_size", "channels", "strides", "pixdim"):
            setattr(self, name, tuple(getattr(self, name)))
        if self.brain_shape is not None:
            self.brain_shape = tuple(self.brain_shape)
        if self.structures is not None:
            self.structures = tuple(self.structures)
        if self.model not in MODELS:
            raise ConfigError(f"model {self.model!r} is unknown; use one of {', '.join(MODELS)}")
        if len(self.roi_size) != 3 or min(self.roi_size) < 8:
            raise ConfigError(f"roi_size must be 3 sizes >= 8, got {self.roi_size}")
        if not 0 <= self.overlap < 1:
            raise ConfigError(f"overlap must lie in [0, 1), got {self.overlap}")
        for name in ("n_train", "n_val", "epochs", "batch_size", "num_samples"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (0 if name == "epochs" else 1):
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "SegConfig":
        """Build from a dict; unknown keys raise :class:`ConfigError` naming the valid ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown segmentation config key(s) {unknown}; valid keys: {sorted(names)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


def load_config(path: str | os.PathLike) -> SegConfig:
    """Read a YAML (or JSON) config file into a :class:`SegConfig`.

    Raises:
        DataNotFoundError: the file does not exist. ConfigError: bad keys or values.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"segmentation config {path} does not exist; write a YAML file with keys of "
                                f"medbench.segmentation.SegConfig (e.g. dataset: phantom, epochs: 40)")
    try:
        d = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: the config must be a mapping of SegConfig keys, got {type(d).__name__}")
    return SegConfig.from_dict(d)


# --------------------------------------------------------------------------------------
# datasets
# --------------------------------------------------------------------------------------
@dataclass
class SegData:
    """Cases of one task, before transforms.

    Attributes:
        train, val: lists of case dicts, ``{"image": ..., "label": ..., "case": name}``;
            ``image``/``label`` are ``(1, X, Y, Z)`` MetaTensors (``kind="array"``) or file
            paths (``kind="file"``).
        structures: names of label ids ``1..n`` (id 0 is background).
        modality: ``"ct"`` or ``"mri"``.
        kind: ``"array"`` or ``"file"``.
        spacing: voxel spacing in mm of the volumes the network sees.
        source: a line saying where the data came from.
    """

    train: list[dict]
    val: list[dict]
    structures: tuple[str, ...]
    modality: str
    kind: str
    spacing: tuple[float, float, float]
    source: str = ""

    @property
    def n_classes(self) -> int:
        return len(self.structures) + 1


def _remap(label: np.ndarray, ids: Sequence[int]) -> np.ndarray:
    """Map source label ids ``ids[i]`` to ``i + 1``; everything else to 0."""
    lut = np.zeros(max(int(label.max()), max(ids)) + 1, dtype=np.uint8)
    for i, src in enumerate(ids):
        lut[src] = i + 1
    return lut[label]


def _array_case(image: np.ndarray, label: np.ndarray, affine, name: str) -> dict:
    from monai.data import MetaTensor

    aff = torch.as_tensor(np.asarray(affine, dtype=np.float64))
    return {
        "image": MetaTensor(torch.as_tensor(np.ascontiguousarray(image, dtype=np.float32))[None], affine=aff),
        "label": MetaTensor(torch.as_tensor(np.ascontiguousarray(label, dtype=np.uint8))[None], affine=aff),
        "case": name,
    }


def _phantom_data(cfg: SegConfig) -> SegData:
    from medbench.data.phantom import PHANTOM_LABELS, make_ct_cohort

    structures = tuple(cfg.structures or PHANTOM_STRUCTURES)
    unknown = [s for s in structures if s not in PHANTOM_LABELS or s == "background"]
    if unknown:
        raise ConfigError(f"unknown phantom structure(s) {unknown}; choose from "
                          f"{[k for k in PHANTOM_LABELS if k != 'background']}")
    ids = [PHANTOM_LABELS[s] for s in structures]
    cases = make_ct_cohort(cfg.n_train + cfg.n_val, seed=cfg.seed, shape=cfg.shape, spacing=cfg.spacing,
                           lesions=False, contrast=cfg.contrast)
    items = [_array_case(c["image"], _remap(c["label"], ids), c["affine"], f"phantom_{i:03d}")
             for i, c in enumerate(cases)]
    return SegData(items[:cfg.n_train], items[cfg.n_train:], structures, "ct", "array",
                   tuple(float(s) for s in cfg.spacing),
                   f"medbench.data.phantom.make_ct_cohort(seed={cfg.seed}, shape={cfg.shape}, spacing={cfg.spacing}, "
                   f"contrast={cfg.contrast})")


def _brain_data(cfg: SegConfig) -> SegData:
    from medbench.data.brain import deformed_brain

    items, spacing = [], None
    for i in range(cfg.n_train + cfg.n_val):
        kw = {"shape": cfg.brain_shape} if cfg.brain_shape is not None else {}
        c = deformed_brain(seed=cfg.seed * 1000 + i, **kw)
        spacing = tuple(float(s) for s in c["spacing"])
        lab = np.asarray(c["label"]).astype(np.uint8)
        lab[lab > len(BRAIN_STRUCTURES)] = 0
        items.append(_array_case(c["image"], lab, c["affine"], f"brain_{i:03d}"))
    return SegData(items[:cfg.n_train], items[cfg.n_train:], BRAIN_STRUCTURES, "mri", "array", spacing,
                   "medbench.data.brain.deformed_brain (MNI152 2009 template from nilearn, deformed)")


def _msd_folder(dataset: str) -> Path:
    """``"msd:Task09_Spleen"`` -> ``<data_dir>/msd/Task09_Spleen`` (or an explicit path after ``msd:``)."""
    from medbench.data.msd import msd_task_folder

    name = dataset.split(":", 1)[1] if ":" in dataset else ""
    if not name:
        raise ConfigError("dataset 'msd:' needs a task folder, e.g. dataset='msd:Task09_Spleen' (looked up in "
                          "<data dir>/msd/) or 'msd:/path/to/Task09_Spleen'")
    path = msd_task_folder(name)
    if not (path / "dataset.json").is_file():
        raise DataNotFoundError(
            f"{path / 'dataset.json'} not found: a Medical Segmentation Decathlon task folder holds dataset.json, "
            f"imagesTr/ and labelsTr/. Download the task (e.g. Task09_Spleen.tar from http://medicaldecathlon.com, "
            f"CC-BY-SA 4.0) and unpack it into <data dir>/msd/ (set $MEDBENCH_DATA_DIR to choose the data dir)")
    return path


def _msd_data(cfg: SegConfig) -> SegData:
    from medbench.data.msd import load_msd_task

    folder = _msd_folder(cfg.dataset)
    meta = json.loads((folder / "dataset.json").read_text())
    labels = {int(k): v for k, v in (meta.get("labels") or {}).items()}
    if not labels or max(labels) < 1:
        raise DataError(f"{folder / 'dataset.json'} lists no foreground labels under 'labels'")
    structures = tuple(str(labels.get(i, f"label{i}")).lower().replace(" ", "_") for i in range(1, max(labels) + 1))
    modality = str((meta.get("modality") or {}).get("0", "CT")).lower()
    modality = "ct" if modality.startswith("ct") else "mri"
    train, val = load_msd_task(folder, val_fraction=cfg.n_val / (cfg.n_train + cfg.n_val), seed=cfg.seed)
    train = [dict(d, case=Path(str(d["image"])).name.split(".")[0]) for d in train[:cfg.n_train]]
    val = [dict(d, case=Path(str(d["image"])).name.split(".")[0]) for d in val[:cfg.n_val]]
    if not train or not val:
        raise DataError(f"{folder}: need at least one training and one validation case, got "
                        f"{len(train)} and {len(val)}")
    return SegData(train, val, structures, modality, "file", tuple(float(p) for p in cfg.pixdim),
                   f"Medical Segmentation Decathlon folder {folder}")


def build_dataset(cfg: SegConfig) -> SegData:
    """The cases of ``cfg.dataset`` (see :class:`SegConfig`).

    Raises:
        ConfigError: unknown dataset name. DataNotFoundError: an MSD folder is absent.
    """
    ds = str(cfg.dataset)
    if ds == "phantom":
        return _phantom_data(cfg)
    if ds == "brain":
        return _brain_data(cfg)
    if ds.startswith("msd"):
        return _msd_data(cfg)
    raise ConfigError(f"dataset {ds!r} is unknown; use one of {', '.join(DATASETS)}")


# --------------------------------------------------------------------------------------
# transforms
# --------------------------------------------------------------------------------------
def _ct_two_windows():
    """Two input channels from one CT: a soft-tissue window and a lung window.

    One window cannot show both: soft tissue (W400/L50) turns the lungs into black air,
    the lung window (W1500/L-600) flattens liver, spleen and kidneys into one grey.
    """
    import monai.transforms as T

    from medbench.transforms import ct_window

    return [
        T.CopyItemsd(keys="image", names="image_lung", times=1),
        ct_window("image", "soft_tissue"),
        ct_window("image_lung", "lung"),
        T.ConcatItemsd(keys=["image", "image_lung"], name="image", dim=0),
        T.DeleteItemsd(keys="image_lung"),
    ]


def _ct_body(x):
    """Voxels denser than -500 HU: the body (air and most of the lungs' outside are cropped away)."""
    return x > -500


def _nonzero(x):
    return x > 0


def in_channels_for(modality: str) -> int:
    """Network input channels: 2 for CT (two windows), 1 for MRI."""
    return 2 if modality == "ct" else 1


def make_transforms(data: SegData, cfg: SegConfig):
    """The deterministic (cached) and random (per epoch) parts of the pipeline.

    Deterministic: for files ``LoadImaged`` -> RAS -> ``Spacingd(pixdim)`` -> ``CropForegroundd``
    (the body: CT > -500 HU, MRI > 0); then intensity (CT: soft-tissue + lung windows as 2 channels; MRI: z-score on non-zero
    voxels). Random: ``SpatialPadd`` to the ROI, then ``RandCropByLabelClassesd`` with equal
    ratios for every class, so each crop is centred on a voxel of a uniformly chosen class:
    a 500-voxel spleen is seen as often as a 20,000-voxel liver.

    Returns:
        ``(deterministic, random)`` ``monai.transforms.Compose`` objects.
    """
    import monai.transforms as T

    from medbench.transforms import mri_zscore, reorient_resample

    keys = ("image", "label")
    det: list = []
    if data.kind == "file":
        det += [T.LoadImaged(keys=keys, ensure_channel_first=True, image_only=True),
                reorient_resample(keys, pixdim=data.spacing)]
        # crop the air around the body (never by the label: validation must not see the truth)
        det.append(T.CropForegroundd(keys=keys, source_key="image", margin=2, allow_smaller=True,
                                     select_fn=_ct_body if data.modality == "ct" else _nonzero))
    det += _ct_two_windows() if data.modality == "ct" else [mri_zscore("image")]
    det += [T.EnsureTyped(keys="image", dtype=torch.float32), T.EnsureTyped(keys="label", dtype=torch.uint8)]
    rand = T.Compose([
        T.SpatialPadd(keys=keys, spatial_size=cfg.roi_size),
        T.RandCropByLabelClassesd(keys=keys, label_key="label", spatial_size=cfg.roi_size,
                                  num_classes=data.n_classes, ratios=[1.0] * data.n_classes,
                                  num_samples=cfg.num_samples, warn=False),
        T.RandShiftIntensityd(keys="image", offsets=0.05, prob=0.5),
        T.EnsureTyped(keys=keys, track_meta=False),
    ])
    rand.set_random_state(seed=cfg.seed)
    return T.Compose(det), rand


def make_loaders(data: SegData, cfg: SegConfig, cache: bool = True):
    """Datasets and loaders: ``CacheDataset`` (deterministic part cached once) for training.

    Returns:
        ``(train_loader, val_loader, val_dataset)``; the validation dataset yields whole
        volumes (deterministic transforms only, cached too).
    """
    from monai.data import CacheDataset, DataLoader, Dataset

    import monai.transforms as T

    det, rand = make_transforms(data, cfg)
    full = T.Compose(list(det.transforms) + list(rand.transforms))
    full.set_random_state(seed=cfg.seed)
    if cache:
        # CacheDataset runs the transforms up to the first random one once and keeps the
        # result; the random crops run each time an item is read.
        train_ds = CacheDataset(data.train, transform=full, cache_rate=1.0, num_workers=0, progress=False)
    else:
        train_ds = Dataset(data.train, transform=full)
    val_ds = CacheDataset(data.val, transform=det, cache_rate=1.0, num_workers=0, progress=False) if cache \
        else Dataset(data.val, transform=det)
    g = torch.Generator().manual_seed(cfg.seed)
    train_loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, num_workers=0, generator=g)
    val_loader = DataLoader(val_ds, batch_size=1, shuffle=False, num_workers=0)
    return train_loader, val_loader, val_ds


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------
class SlidingWindowModel(nn.Module):
    """A network that trains on crops and, in eval mode, predicts whole volumes by sliding window.

    ``forward`` in training mode is ``net(x)``; in eval mode it is
    ``monai.inferers.sliding_window_inference(x, roi_size, sw_batch_size, net, overlap,
    mode="gaussian")``, so :func:`medbench.training.fit`'s validation and :func:`evaluate`
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


def build_model(name: str = "unet", in_channels: int = 1, out_channels: int = 2, *, roi_size=(48, 48, 32),
                channels: Sequence[int] = (16, 32, 64, 128), strides: Sequence[int] = (2, 2, 2),
                num_res_units: int = 1) -> nn.Module:
    """A MONAI 3D segmentation network (not yet wrapped in :class:`SlidingWindowModel`).

    Args:
        name: ``"unet"`` (``monai.networks.nets.UNet`` with ``channels``/``strides``, batch norm),
            ``"basicunet"`` (``BasicUNet``, features from ``channels``), ``"unetr"`` (ViT encoder;
            needs a fixed ``roi_size``, each side divisible by 16) or ``"swinunetr"`` (each side
            divisible by 32 and at least 64). The transformers are heavy on a CPU; keep them for a GPU.
        in_channels, out_channels: input channels and number of classes (with background).

    Returns:
        ``nn.Module`` mapping ``(B, in_channels, *roi) -> (B, out_channels, *roi)`` logits.
    """
    from monai.networks import nets

    channels = tuple(int(c) for c in channels)
    if name == "unet":
        if len(strides) != len(channels) - 1:
            raise ConfigError(f"UNet needs len(strides) == len(channels) - 1, got channels={channels}, "
                              f"strides={tuple(strides)}")
        return nets.UNet(spatial_dims=3, in_channels=in_channels, out_channels=out_channels, channels=channels,
                         strides=tuple(strides), num_res_units=num_res_units, norm="batch")
    if name == "basicunet":
        f = list(channels[:5]) + [channels[0]] * (5 - len(channels[:5]))
        f = f[:5] + [f[0]]
        return nets.BasicUNet(spatial_dims=3, in_channels=in_channels, out_channels=out_channels, features=tuple(f))
    if name == "unetr":
        if any(r % 16 for r in roi_size):
            raise ConfigError(f"UNETR needs every roi_size side divisible by 16, got {tuple(roi_size)}")
        return nets.UNETR(in_channels=in_channels, out_channels=out_channels, img_size=tuple(roi_size),
                          feature_size=channels[0], hidden_size=192, mlp_dim=768, num_heads=4)
    if name == "swinunetr":
        if any(r % 32 or r < 64 for r in roi_size):
            raise ConfigError(f"SwinUNETR needs every roi_size side divisible by 32 and >= 64 (its bottleneck "
                              f"normalises over space), got {tuple(roi_size)}")
        return nets.SwinUNETR(in_channels=in_channels, out_channels=out_channels, feature_size=12,
                              depths=(2, 2, 2, 2), num_heads=(3, 6, 12, 24))
    raise ConfigError(f"model {name!r} is unknown; use one of {', '.join(MODELS)}")


# --------------------------------------------------------------------------------------
# metrics and post-processing
# --------------------------------------------------------------------------------------
def postprocess(logits: torch.Tensor, n_classes: int, keep_largest: bool = True) -> torch.Tensor:
    """Logits ``(C, X, Y, Z)`` -> label map ``(1, X, Y, Z)``: argmax, then per class the largest component.

    ``KeepLargestConnectedComponent(independent=True)`` removes every island of a structure
    but its biggest, a cheap way to delete false positives far from the organ (an organ is
    one connected piece; for structures that are not, pass ``keep_largest=False``).
    """
    from monai.transforms import AsDiscrete, KeepLargestConnectedComponent

    pred = AsDiscrete(argmax=True)(logits)
    if keep_largest and n_classes > 1:
        pred = KeepLargestConnectedComponent(applied_labels=list(range(1, n_classes)), is_onehot=False,
                                             independent=True, connectivity=1)(pred)
    return torch.as_tensor(pred).to(torch.uint8)


def dice_hd95(pred: torch.Tensor, label: torch.Tensor, n_classes: int,
              spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Per-structure Dice and 95th-percentile Hausdorff distance (mm) with ``monai.metrics``.

    Args:
        pred, label: integer label maps ``(1, X, Y, Z)`` (or ``(X, Y, Z)``).
        n_classes: number of classes including background.
        spacing: voxel size in mm, so HD95 comes out in mm.

    Returns:
        ``(dice, hd95)`` arrays of length ``n_classes - 1`` (background excluded). Dice is 1
        when a structure is absent from both; HD95 is ``nan`` when it is absent from either.
    """
    from monai.metrics import compute_dice, compute_hausdorff_distance
    from monai.networks.utils import one_hot

    p = torch.as_tensor(pred).long().reshape(1, 1, *pred.shape[-3:])
    y = torch.as_tensor(label).long().reshape(1, 1, *label.shape[-3:])
    p1, y1 = one_hot(p, n_classes), one_hot(y, n_classes)
    dice = compute_dice(p1, y1, include_background=False, ignore_empty=False)[0].numpy().astype(float)
    present = (p1.flatten(2).any(-1) & y1.flatten(2).any(-1))[0, 1:].numpy()
    hd = np.full(n_classes - 1, np.nan)
    if present.any():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # monai warns about empty structures; we mask them
            h = compute_hausdorff_distance(p1, y1, include_background=False, percentile=95,
                                           spacing=[float(s) for s in spacing])[0].numpy()
        hd[present] = h[present]
    return dice, hd


class DiceTracker:
    """Stateful mean Dice (argmax, no post-processing) for ``fit(metrics={"dice": DiceTracker(n)})``.

    ``fit`` calls ``reset()``, ``update(outputs, targets)`` for each validation batch
    (``outputs`` logits ``(B, C, X, Y, Z)``, ``targets`` ``(B, 1, X, Y, Z)``) and ``compute()``.
    """

    def __init__(self, n_classes: int):
        from monai.metrics import DiceMetric

        self.n_classes = n_classes
        self.metric = DiceMetric(include_background=False, reduction="mean", ignore_empty=False)

    def reset(self) -> None:
        self.metric.reset()

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        from monai.networks.utils import one_hot

        pred = outputs.argmax(1, keepdim=True)
        self.metric(one_hot(pred, self.n_classes), one_hot(targets.long(), self.n_classes))

    def compute(self) -> float:
        return float(self.metric.aggregate().item())


# --------------------------------------------------------------------------------------
# training, inference, evaluation
# --------------------------------------------------------------------------------------
def make_loss():
    """``DiceCELoss`` on logits against integer labels (soft Dice + cross-entropy, equal weights).

    Cross-entropy gives smooth gradients early; Dice counters class imbalance (a small organ
    counts as much as a big one). The loss runs in float32 even under bf16 autocast.
    """
    from monai.losses import DiceCELoss

    dice_ce = DiceCELoss(to_onehot_y=True, softmax=True, include_background=True)

    def loss_fn(outputs, targets):
        return dice_ce(outputs.float(), targets)

    return loss_fn


def train(model: SlidingWindowModel, train_loader, val_loader=None, *, cfg: SegConfig, n_classes: int,
          callbacks=(), progress: bool = False, **fit_kw):
    """Train with :func:`medbench.training.fit` (DiceCE, the config's optimiser/schedule/precision).

    With a validation loader, ``val_dice`` (sliding window, argmax) is computed every epoch
    and the best epoch's weights are kept.

    Returns:
        :class:`medbench.training.History`.
    """
    from medbench.training import fit

    kw: dict[str, Any] = dict(
        loss_fn=make_loss(), epochs=cfg.epochs, optimizer=cfg.optimizer, lr=cfg.lr, weight_decay=cfg.weight_decay,
        scheduler=cfg.scheduler, precision=cfg.precision, seed=cfg.seed, callbacks=callbacks, progress=progress,
        checkpoint_dir=cfg.checkpoint_dir, resume=cfg.resume,
    )
    if val_loader is not None:
        kw.update(metrics={"dice": DiceTracker(n_classes)}, monitor="val_dice", mode="max")
    kw.update(fit_kw)
    return fit(model, train_loader, val_loader, **kw)


def _autocast(precision: str):
    from medbench.training import resolve_precision

    p = resolve_precision(precision, torch.device("cpu"))
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=(p == "bf16"))


@torch.no_grad()
def predict_volume(model: nn.Module, image: torch.Tensor, *, roi_size: Sequence[int] | None = None,
                   overlap: float | None = None, sw_batch_size: int | None = None,
                   precision: str = "auto") -> torch.Tensor:
    """Sliding-window logits for one volume.

    Args:
        model: a :class:`SlidingWindowModel` (its ROI/overlap are the defaults) or a bare net.
        image: ``(C, X, Y, Z)`` or ``(1, C, X, Y, Z)``.
        roi_size, overlap, sw_batch_size: override the window settings.
        precision: ``"auto"``/``"bf16"`` run under bf16 autocast where supported.

    Returns:
        float32 logits ``(n_classes, X, Y, Z)``.
    """
    from monai.inferers import sliding_window_inference

    net = model.net if isinstance(model, SlidingWindowModel) else model
    roi = tuple(roi_size or getattr(model, "roi_size", image.shape[-3:]))
    ov = getattr(model, "overlap", 0.25) if overlap is None else overlap
    sw = sw_batch_size or getattr(model, "sw_batch_size", 4)
    x = torch.as_tensor(image).float()
    if x.ndim == 4:
        x = x[None]
    was = model.training
    model.eval()
    dev = next(net.parameters()).device
    with _autocast(precision):
        out = sliding_window_inference(x.to(dev), roi, sw, net, overlap=ov, mode="gaussian")
    model.train(was)
    return torch.as_tensor(out)[0].float().cpu()


@dataclass
class SegResult:
    """Output of :func:`evaluate`.

    Attributes:
        table: ``pandas.DataFrame`` with one row per (case, structure): ``case``, ``structure``,
            ``dice``, ``hd95_mm``.
        predictions: ``{case: (1, X, Y, Z) uint8 label map}`` after post-processing.
        images, labels: the evaluated (transformed) volumes ``(C, X, Y, Z)`` / ``(1, X, Y, Z)``.
        seconds_per_volume: mean sliding-window inference time per volume (post-processing excluded).
    """

    table: Any
    predictions: dict
    images: dict
    labels: dict
    seconds_per_volume: float

    def summary(self):
        """Mean Dice and HD95 per structure (a ``DataFrame`` indexed by structure)."""
        return self.table.groupby("structure", sort=False)[["dice", "hd95_mm"]].mean()

    @property
    def mean_dice(self) -> float:
        return float(self.table["dice"].mean())

    @property
    def mean_hd95(self) -> float:
        return float(np.nanmean(self.table["hd95_mm"].to_numpy(dtype=float)))


def evaluate(model: nn.Module, val_ds, structures: Sequence[str], spacing: Sequence[float], *,
             keep_largest: bool = True, precision: str = "auto", roi_size=None, overlap=None) -> SegResult:
    """Predict every volume of ``val_ds`` by sliding window, post-process, score each structure.

    Args:
        model: trained :class:`SlidingWindowModel`.
        val_ds: dataset of dicts with ``"image"`` ``(C, X, Y, Z)``, ``"label"`` ``(1, X, Y, Z)``,
            and optionally ``"case"``.
        structures: names of labels ``1..n``.
        spacing: voxel size (mm) for HD95.

    Returns:
        :class:`SegResult`.
    """
    import pandas as pd

    n_classes = len(structures) + 1
    rows, preds, images, labels, times = [], {}, {}, {}, []
    for i in range(len(val_ds)):
        item = val_ds[i]
        name = str(item.get("case", f"case_{i:03d}"))
        t0 = time.perf_counter()
        logits = predict_volume(model, item["image"], roi_size=roi_size, overlap=overlap, precision=precision)
        times.append(time.perf_counter() - t0)
        pred = postprocess(logits, n_classes, keep_largest)
        lab = torch.as_tensor(item["label"]).to(torch.uint8)
        dice, hd = dice_hd95(pred, lab, n_classes, spacing)
        for s, d, h in zip(structures, dice, hd):
            rows.append({"case": name, "structure": s, "dice": float(d), "hd95_mm": float(h)})
        preds[name] = pred
        images[name] = torch.as_tensor(item["image"]).float()
        labels[name] = lab
    return SegResult(pd.DataFrame(rows), preds, images, labels, float(np.mean(times)) if times else math.nan)


def make_model(data: SegData, cfg: SegConfig) -> SlidingWindowModel:
    """:func:`build_model` for this data and config, wrapped in :class:`SlidingWindowModel`."""
    net = build_model(cfg.model, in_channels_for(data.modality), data.n_classes, roi_size=cfg.roi_size,
                      channels=cfg.channels, strides=cfg.strides, num_res_units=cfg.num_res_units)
    return SlidingWindowModel(net, cfg.roi_size, cfg.overlap, cfg.sw_batch_size)


@dataclass
class RunOutput:
    """What :func:`run` returns: config, data, model, training history and evaluation."""

    cfg: SegConfig
    data: SegData
    model: SlidingWindowModel
    history: Any
    result: SegResult | None
    metrics: dict = field(default_factory=dict)


def run(cfg: SegConfig, *, callbacks=(), progress: bool = False, evaluate_on_all_ranks: bool = False) -> RunOutput:
    """The whole pipeline: data -> transforms -> model -> :func:`train` -> :func:`evaluate`.

    Under ``torchrun`` every rank builds the same data and model; ``fit`` shards the crops
    with a ``DistributedSampler`` and averages gradients (DDP); rank 0 evaluates.

    Returns:
        :class:`RunOutput`; ``metrics`` holds ``mean_dice``, ``dice_<structure>``,
        ``mean_hd95_mm``, ``train_seconds``, ``inference_seconds_per_volume`` (rank 0).
    """
    from medbench.settings import seed_everything

    seed_everything(cfg.seed)
    data = build_dataset(cfg)
    train_loader, val_loader, val_ds = make_loaders(data, cfg)
    model = make_model(data, cfg)
    cpu0 = time.process_time()
    history = train(model, train_loader, val_loader if cfg.validate_every_epoch else None, cfg=cfg,
                    n_classes=data.n_classes, callbacks=callbacks, progress=progress)
    history.train_cpu_seconds = time.process_time() - cpu0
    rank = int(os.environ.get("RANK", 0))
    result, metrics = None, {}
    if rank == 0 or evaluate_on_all_ranks:
        result = evaluate(model, val_ds, data.structures, data.spacing, keep_largest=cfg.keep_largest,
                          precision=cfg.precision)
        metrics = result_metrics(result, history)
    return RunOutput(cfg, data, model, history, result, metrics)


def result_metrics(result: SegResult, history=None) -> dict:
    """The chapter's headline metrics from an evaluation (and the training history)."""
    m = {"mean_dice": result.mean_dice}
    for s, row in result.summary().iterrows():
        m[f"dice_{s}"] = float(row["dice"])
    m["mean_hd95_mm"] = result.mean_hd95
    if history is not None:
        m["train_seconds"] = float(history.train_seconds)
        if hasattr(history, "train_cpu_seconds"):  # all threads; / cores = wall time on an idle machine
            m["train_cpu_seconds"] = float(history.train_cpu_seconds)
    m["inference_seconds_per_volume"] = result.seconds_per_volume
    return m


# --------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------
def build_parser(prog: str = "python -m medbench.segmentation") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Train and evaluate a 3D segmentation model from a YAML "
                                "config (works under torchrun --nproc_per_node=N).")
    p.add_argument("--config", required=True, type=Path, help="YAML file with medbench.segmentation.SegConfig keys")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the config's out_dir, else "
                   "./segmentation_run)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (YAML value), e.g. --set epochs=5")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    return p


def main(argv: list[str] | None = None, prog: str = "python -m medbench.segmentation") -> int:
    """Command-line entry point; returns an exit code (0 ok, 2 bad config or data)."""
    import yaml

    from medbench.errors import MedbenchError

    args = build_parser(prog).parse_args(argv)
    try:
        cfg = load_config(args.config)
        over = {}
        for item in args.set:
            if "=" not in item:
                raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
            k, v = item.split("=", 1)
            over[k.strip()] = yaml.safe_load(v)
        if over:
            cfg = SegConfig.from_dict({**cfg.to_dict(), **over})
        out = Path(args.out or cfg.out_dir or "segmentation_run")
        torch.set_num_threads(max(1, torch.get_num_threads()))
        res = run(cfg, progress=args.progress)
    except MedbenchError as exc:
        print(f"medbench segmentation: error: {exc}", file=sys.stderr)
        return 2
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        metrics = dict(res.metrics, world_size=world, epochs=len(res.history), precision=res.history.precision)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        res.result.table.to_csv(out / "per_case.csv", index=False)
        torch.save({"config": cfg.to_dict(), "structures": list(res.data.structures),
                    "model": res.model.state_dict()}, out / "model.pt")
        print(json.dumps(metrics, indent=2))
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
    except Exception:  # pragma: no cover - best effort shutdown
        pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
