"""The 3D segmentation task (chapter 03): config -> data -> pipelines -> model -> fit -> evaluation.

:func:`build_dataset` (phantom, brain or MSD cases from :mod:`medbench.data.segmentation`) ->
:func:`make_loaders` (the ``ct_3d_*`` / ``mri_3d_*`` presets of :mod:`medbench.transforms`,
deterministic head cached by ``CacheDataset``) -> :func:`build_model` (``make_model`` wrapped in a
``SlidingWindowModel``: crops in training, whole volumes by sliding window in evaluation) ->
:func:`train` (:func:`medbench.training.fit`, ``DiceCELoss``) -> :func:`evaluate` (argmax, largest
component per structure, Dice and HD95 in mm). :func:`run` chains them from a :class:`SegConfig`;
``medbench train segmentation --config FILE.yaml`` does the same, also under ``torchrun``.

Volumes are channel-first ``(C, X, Y, Z)``, batches ``(B, C, X, Y, Z)``, labels ``(1, X, Y, Z)``
integers ``0..n_structures`` (0 = background).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from medbench.data.segmentation import SegData
from medbench.errors import ConfigError
from medbench.metrics.segmentation import DiceTracker, SegResult, score_case
from medbench.models.segmentation import SEGMENTATION_MODELS, SlidingWindowModel
from medbench.settings import TaskConfig, parse_sizes
from medbench.transforms import CT_CHANNELS, in_channels_for, labels_from_logits

__all__ = [
    "RunOutput", "SegConfig", "build_dataset", "build_model", "config_from_parameters", "evaluate",
    "eval_dataset", "evaluate_atlas", "make_loaders", "make_pipelines", "predict_volume", "result_metrics", "run", "train",
]

DATASETS = ("phantom", "brain", "msd:<task folder>")


# --------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------
@dataclass
class SegConfig(TaskConfig):
    """Every knob of the pipeline (the YAML config of ``medbench train segmentation`` has these keys).

    Build it from a dict or a YAML file with :meth:`from_dict` / :meth:`from_yaml` (``KEY=VALUE``
    overrides parsed as Python literals first: ``lr=2e-3`` is a float).

    Attributes:
        dataset: ``"phantom"``, ``"brain"`` or ``"msd:<folder>"`` (a folder name inside
            ``<data dir>/msd/``, or an absolute path).
        n_train, n_val, n_test: generated training / validation / test cases (phantom, brain; at
            most this many for MSD). Validation chooses the model, test is scored once.
        shape, spacing: grid of generated phantom volumes ``(X, Y, Z)`` voxels and mm.
        brain_shape: grid of the deformed brains (``None``: the loader's default).
        structures: phantom structure names to segment (``None``: :data:`PHANTOM_STRUCTURES`).
        contrast: phantom in the portal-venous phase of an iodinated contrast bolus (liver,
            spleen and kidneys enhance differently), like most abdominal segmentation data
            sets; ``False`` gives non-contrast CT, where organs differ by only 10-20 HU.
        pixdim: MSD only, resample to this spacing in mm.
        model: one of :data:`~medbench.models.segmentation.SEGMENTATION_MODELS`.
        channels, strides, num_res_units: UNet width/depth (``channels[:5]`` and feature size
            for the other nets).
        roi_size: training crop and sliding-window ROI ``(X, Y, Z)``.
        num_samples: crops per volume per epoch (label-balanced over the classes).
        batch_size: volumes per batch (each contributes ``num_samples`` crops).
        epochs, lr, optimizer, scheduler, weight_decay: passed to :func:`medbench.training.fit`.
        precision: ``"auto"`` (bf16 where the device supports it), ``"bf16"``, ``"fp32"``, ``"amp"``.
        overlap, sw_batch_size: sliding-window inference settings.
        keep_largest: keep the largest connected component of each structure.
        validate_every_epoch: validate inside ``fit`` (sliding window) and keep the epoch of best
            validation Dice; ``False`` keeps the final epoch (no selection at all).
        seed: seed for data generation, weights and crops.
        checkpoint_dir, resume: :func:`medbench.training.fit` checkpointing.
        out_dir: where ``medbench train segmentation`` writes ``metrics.json``, ``per_case.csv``, ``model.pt``.
    """

    dataset: str = "phantom"
    n_train: int = 12
    n_val: int = 4
    n_test: int = 4
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
        from medbench.settings import check_seed

        for name in ("shape", "spacing", "roi_size", "channels", "strides", "pixdim"):
            setattr(self, name, tuple(getattr(self, name)))
        if self.brain_shape is not None:
            self.brain_shape = tuple(self.brain_shape)
        if self.structures is not None:
            self.structures = tuple(self.structures)
        if self.model not in SEGMENTATION_MODELS:
            raise ConfigError(f"model {self.model!r} is unknown; use one of {', '.join(SEGMENTATION_MODELS)}")
        if len(self.roi_size) != 3 or min(self.roi_size) < 8:
            raise ConfigError(f"roi_size must be 3 sizes >= 8, got {self.roi_size}")
        if not 0 <= self.overlap < 1:
            raise ConfigError(f"overlap must lie in [0, 1), got {self.overlap}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        for name in ("n_train", "n_val", "n_test", "epochs", "batch_size", "num_samples"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        self.seed = check_seed(self.seed)


def config_from_parameters(*, grid: str = "64x64x40", channels: str = "16,32,64,128", roi_size: str = "48x48x32",
                           schedule: str = "onecycle", model_name: str = "unet", dataset: str = "phantom",
                           **params) -> SegConfig:
    """A :class:`SegConfig` from chapter 03's notebook parameters.

    ``grid`` (``"64x64x40"``) is the phantom grid over a fixed 384 x 384 x 320 mm field of view,
    ``channels`` the UNet width per level (one stride-2 step between levels), ``roi_size``
    ``"XxYxZ"`` and ``schedule`` ``"none"`` for no schedule; other keys are :class:`SegConfig`'s.
    The brain's CSF is not one connected piece, so ``dataset="brain"`` keeps every component.
    """
    shape = parse_sizes("grid", grid, 3)
    widths = parse_sizes("channels", channels)
    params.setdefault("keep_largest", True)
    if dataset == "brain":
        params["keep_largest"] = False
    return SegConfig.from_dict(dict(
        params, dataset=dataset, model=model_name, shape=shape,
        spacing=(384 / shape[0], 384 / shape[1], 320 / shape[2]), channels=widths, strides=(2,) * (len(widths) - 1),
        roi_size=parse_sizes("roi_size", roi_size, 3), scheduler=None if schedule == "none" else schedule))


def build_dataset(cfg: SegConfig) -> SegData:
    """The cases of ``cfg.dataset`` (see :class:`SegConfig` and :mod:`medbench.data.segmentation`).

    Raises:
        ConfigError: unknown dataset name. DataNotFoundError: an MSD folder is absent.
    """
    from medbench.data import segmentation as cases

    ds = str(cfg.dataset)
    n = cfg.n_train + cfg.n_val + cfg.n_test
    if ds == "phantom":
        data = cases.phantom_cases(n, seed=cfg.seed, shape=cfg.shape, spacing=cfg.spacing, contrast=cfg.contrast,
                                   structures=cfg.structures)
    elif ds == "brain":
        data = cases.brain_cases(n, seed=cfg.seed, shape=cfg.brain_shape)
    elif ds.startswith("msd"):
        return cases.msd_cases(ds.split(":", 1)[1] if ":" in ds else "", cfg.n_train, cfg.n_val, cfg.n_test,
                               seed=cfg.seed, pixdim=cfg.pixdim)
    else:
        raise ConfigError(f"dataset {ds!r} is unknown; use one of {', '.join(DATASETS)}")
    return data.split(cfg.n_train, cfg.n_val)


# --------------------------------------------------------------------------------------
# pipelines and model
# --------------------------------------------------------------------------------------
def make_pipelines(data: SegData, cfg: SegConfig):
    """Training and evaluation pipelines from the ``<modality>_3d_train`` / ``_eval`` presets.

    Deterministic head (cached by ``CacheDataset``): for files ``LoadImaged`` -> RAS ->
    ``Spacingd(pixdim)`` -> crop the air around the body (found on the image, never on the
    label); then intensity (CT: soft-tissue and lung windows as 2 channels; MRI: z-score on
    non-zero voxels). Training adds ``SpatialPadd`` to the ROI, ``RandCropByLabelClassesd`` with
    equal class ratios and a small intensity shift (no flips: a left kidney must stay left).

    Returns:
        ``(train, eval)`` ``monai.transforms.Compose`` objects.
    """
    from medbench.transforms import get_pipeline

    files = data.kind == "file"
    common = dict(window=list(CT_CHANNELS), load="file" if files else None, pixdim=data.spacing if files else None,
                  crop_foreground=files, cast=True)
    train = get_pipeline(f"{data.modality}_3d_train", spatial_size=cfg.roi_size, crop="classes",
                         num_classes=data.n_classes, num_samples=cfg.num_samples, augmentations=("intensity_shift",),
                         shift=0.05, prob=0.5, seed=cfg.seed, **common)
    return train, get_pipeline(f"{data.modality}_3d_eval", divisible_by=None, **common)


def _dataset(cases: list[dict], transform, cache: bool):
    """``CacheDataset`` (runs the transforms up to the first random one once) or a plain ``Dataset``."""
    from monai.data import CacheDataset, Dataset

    if cache:
        return CacheDataset(cases, transform=transform, cache_rate=1.0, num_workers=0, progress=False)
    return Dataset(cases, transform=transform)


def eval_dataset(cases: list[dict], data: SegData, cfg: SegConfig, cache: bool = True):
    """Whole volumes of ``cases`` (validation or test) through the evaluation pipeline."""
    return _dataset(cases, make_pipelines(data, cfg)[1], cache)


def make_loaders(data: SegData, cfg: SegConfig, cache: bool = True):
    """Training crops (cached deterministic head, random crops at each read) and validation volumes.

    Returns:
        ``(train_loader, val_loader, val_dataset)``; the validation dataset yields whole
        volumes. Test volumes: ``eval_dataset(data.test, data, cfg)``.
    """
    from monai.data import DataLoader

    train_tf, eval_tf = make_pipelines(data, cfg)
    train_ds, val_ds = _dataset(data.train, train_tf, cache), _dataset(data.val, eval_tf, cache)
    g = torch.Generator().manual_seed(cfg.seed)
    train_loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, num_workers=0, generator=g)
    val_loader = DataLoader(val_ds, batch_size=1, shuffle=False, num_workers=0)
    return train_loader, val_loader, val_ds


def build_model(data: SegData, cfg: SegConfig) -> SlidingWindowModel:
    """The config's network (:func:`medbench.models.make_model`) wrapped in a ``SlidingWindowModel``."""
    from medbench.models import make_model

    net = make_model(cfg.model, spatial_dims=3, in_channels=in_channels_for(data.modality),
                     num_classes=data.n_classes, roi_size=cfg.roi_size, channels=cfg.channels, strides=cfg.strides,
                     num_res_units=cfg.num_res_units)
    return SlidingWindowModel(net, cfg.roi_size, cfg.overlap, cfg.sw_batch_size)


# --------------------------------------------------------------------------------------
# training, inference, evaluation
# --------------------------------------------------------------------------------------
def _dice_ce_loss():
    """``DiceCELoss`` on logits against integer labels (soft Dice + cross-entropy, equal weights).

    Cross-entropy gives smooth gradients early; Dice counters class imbalance (a small organ
    counts as much as a big one). The loss runs in float32 even under bf16 autocast.
    """
    from monai.losses import DiceCELoss

    dice_ce = DiceCELoss(to_onehot_y=True, softmax=True, include_background=True)
    return lambda outputs, targets: dice_ce(outputs.float(), targets)


def train(model: SlidingWindowModel, train_loader, val_loader=None, *, cfg: SegConfig, n_classes: int,
          callbacks=(), progress: bool = False, **fit_kw):
    """Train with :func:`medbench.training.fit` (DiceCE, the config's optimiser/schedule/precision).

    With a validation loader, ``val_dice`` (sliding window, argmax) is computed every epoch
    and the best epoch's weights are kept; without one the final epoch is kept (``fit`` would
    otherwise restore the epoch of lowest *training* loss).

    Returns:
        :class:`medbench.training.History`.
    """
    from medbench.training import fit

    kw: dict[str, Any] = dict(
        loss_fn=_dice_ce_loss(), epochs=cfg.epochs, optimizer=cfg.optimizer, lr=cfg.lr,
        weight_decay=cfg.weight_decay, scheduler=cfg.scheduler, precision=cfg.precision, seed=cfg.seed,
        callbacks=callbacks, progress=progress, checkpoint_dir=cfg.checkpoint_dir, resume=cfg.resume,
    )
    if val_loader is not None:
        kw.update(metrics={"dice": DiceTracker(n_classes)}, monitor="val_dice", mode="max")
    else:
        kw.update(restore_best=False)
    kw.update(fit_kw)
    return fit(model, train_loader, val_loader, **kw)


@torch.no_grad()
def predict_volume(model: nn.Module, image: torch.Tensor, *, roi_size: Sequence[int] | None = None,
                   overlap: float | None = None, sw_batch_size: int | None = None,
                   precision: str = "auto") -> torch.Tensor:
    """Sliding-window logits for one volume, on the device the model's weights are on.

    Args:
        model: a ``SlidingWindowModel`` (its ROI/overlap are the defaults) or a bare net.
        image: ``(C, X, Y, Z)`` or ``(1, C, X, Y, Z)``.
        roi_size, overlap, sw_batch_size: override the window settings.
        precision: resolved for the model's device by :func:`medbench.training.autocast`.

    Returns:
        float32 logits ``(n_classes, X, Y, Z)`` on the CPU.
    """
    from monai.inferers import sliding_window_inference

    from medbench.training import autocast

    net = model.net if isinstance(model, SlidingWindowModel) else model
    roi = tuple(roi_size or getattr(model, "roi_size", image.shape[-3:]))
    ov = getattr(model, "overlap", 0.25) if overlap is None else overlap
    sw = sw_batch_size or getattr(model, "sw_batch_size", 4)
    x = torch.as_tensor(image).float()
    x = x[None] if x.ndim == 4 else x
    was = model.training
    model.eval()
    dev = next(net.parameters()).device
    with autocast(precision, dev):
        out = sliding_window_inference(x.to(dev), roi, sw, net, overlap=ov, mode="gaussian")
    model.train(was)
    return torch.as_tensor(out)[0].float().cpu()


def evaluate(model: nn.Module, val_ds, structures: Sequence[str], spacing: Sequence[float], *,
             keep_largest: bool = True, precision: str = "auto", roi_size=None, overlap=None) -> SegResult:
    """Predict every volume of ``val_ds`` by sliding window, post-process, score each structure.

    Args:
        model: trained ``SlidingWindowModel``.
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
        pred = labels_from_logits(logits, n_classes, keep_largest)
        lab = torch.as_tensor(item["label"]).to(torch.uint8)
        raw = labels_from_logits(logits, n_classes, False) if keep_largest else None
        rows += score_case(name, structures, pred, lab, spacing, raw)
        preds[name] = pred
        images[name] = torch.as_tensor(item["image"]).float()
        labels[name] = lab
    return SegResult(pd.DataFrame(rows), preds, images, labels, float(np.mean(times)) if times else math.nan)


def evaluate_atlas(data: SegData, dataset, spacing: Sequence[float] | None = None) -> SegResult | None:
    """The image-free floor: a :class:`~medbench.models.segmentation.MajorityAtlas` of the training
    labels scored on ``dataset`` like :func:`evaluate` scores a model.

    Returns:
        :class:`SegResult`, or ``None`` when the volumes are not on one grid (files such as MSD).
    """
    import pandas as pd

    from medbench.models.segmentation import MajorityAtlas

    if data.kind != "array":
        return None
    atlas = MajorityAtlas(data.n_classes).fit([c["label"] for c in data.train]).predict()
    rows, preds, labels = [], {}, {}
    for i in range(len(dataset)):
        item = dataset[i]
        name, lab = str(item.get("case", f"case_{i:03d}")), torch.as_tensor(item["label"]).to(torch.uint8)
        rows += score_case(name, data.structures, atlas, lab, spacing or data.spacing)
        preds[name], labels[name] = atlas, lab
    return SegResult(pd.DataFrame(rows), preds, {}, labels, 0.0)


@dataclass
class RunOutput:
    """What :func:`run` returns: config, data, model, history, and scores on test (``result``),
    validation (``val_result``) and of the atlas baseline on test (``atlas_result``)."""

    cfg: SegConfig
    data: SegData
    model: SlidingWindowModel
    history: Any
    result: SegResult | None
    metrics: dict = field(default_factory=dict)
    val_result: SegResult | None = None
    atlas_result: SegResult | None = None


def run(cfg: SegConfig, *, callbacks=(), progress: bool = False, evaluate_on_all_ranks: bool = False) -> RunOutput:
    """The whole pipeline: data -> pipelines -> model -> :func:`train` -> :func:`evaluate`.

    Under ``torchrun`` every rank builds the same data and model; ``fit`` shards the crops
    with a ``DistributedSampler`` and averages gradients (DDP); rank 0 evaluates.

    Model selection sees only the validation volumes (``validate_every_epoch``); the test
    volumes are scored once, after training.

    Returns:
        :class:`RunOutput`; ``metrics`` (rank 0): see :func:`result_metrics`.
    """
    from medbench.settings import seed_everything

    seed_everything(cfg.seed)
    data = build_dataset(cfg)
    train_loader, val_loader, val_ds = make_loaders(data, cfg)
    model = build_model(data, cfg)
    cpu0 = time.process_time()
    history = train(model, train_loader, val_loader if cfg.validate_every_epoch else None, cfg=cfg,
                    n_classes=data.n_classes, callbacks=callbacks, progress=progress)
    history.train_cpu_seconds = time.process_time() - cpu0
    out = RunOutput(cfg, data, model, history, None)
    if int(os.environ.get("RANK", 0)) == 0 or evaluate_on_all_ranks:
        test_ds = eval_dataset(data.test, data, cfg)
        kw = dict(keep_largest=cfg.keep_largest, precision=cfg.precision)
        out.val_result = evaluate(model, val_ds, data.structures, data.spacing, **kw)
        out.result = evaluate(model, test_ds, data.structures, data.spacing, **kw)
        out.atlas_result = evaluate_atlas(data, test_ds)
        out.metrics = result_metrics(out.result, history, out.val_result, out.atlas_result)
    return out


def result_metrics(result: SegResult, history=None, val_result: SegResult | None = None,
                   atlas_result: SegResult | None = None) -> dict:
    """The chapter's headline metrics: test scores (``mean_dice``, ``dice_<structure>``,
    ``mean_hd95_mm`` over found structures, ``n_missed_organs``), ``val_mean_dice``,
    ``atlas_mean_dice``, training and inference seconds."""
    m = {"mean_dice": result.mean_dice}
    for s, row in result.summary().iterrows():
        m[f"dice_{s}"] = float(row["dice"])
    m["mean_hd95_mm"] = result.mean_hd95
    m["n_missed_organs"] = result.n_missed
    if val_result is not None:
        m["val_mean_dice"] = val_result.mean_dice
    if atlas_result is not None:
        m["atlas_mean_dice"] = atlas_result.mean_dice
    if history is not None:
        m["train_seconds"] = float(history.train_seconds)
        if hasattr(history, "train_cpu_seconds"):  # all threads; / cores = wall time on an idle machine
            m["train_cpu_seconds"] = float(history.train_cpu_seconds)
    m["inference_seconds_per_volume"] = result.seconds_per_volume
    return m
