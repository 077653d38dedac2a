"""Image classification (chapter 02): data -> :class:`ImageClassifier` -> evaluation.

:class:`ImageClassifier` bundles the steps of chapter 02: MONAI preprocessing (intensity
range to [0, 1], cached with ``CacheDataset``) and augmentation (flips, 90-degree rotations,
noise), both from the :mod:`medbench.transforms` presets ``"ct_2d_patch_train"`` /
``"ct_2d_patch_eval"``; a network from :func:`medbench.models.make_model`; class balance by a
weighted loss or a balanced sampler; a patient-level validation split for early stopping /
best-model selection; and ``predict_proba``. Around it, :func:`load_image_data`: the chapter's
data, split by patient (CT nodule patches from the phantom, malignancy or detection, or a
MedMNIST 2D dataset read by :mod:`medbench.data.medmnist`). The chapter's studies (baselines,
cross-validation, class balance, transfer learning) are in
:mod:`medbench.tasks.classification_studies`.

Inputs are arrays ``(N, C, H, W)``, ``(N, H, W)`` or MedMNIST's ``(N, H, W, 3)``; labels ``(N,)``
class indices (binary or multiclass) or ``(N, L)`` 0/1 (multilabel).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from medbench import transforms
from medbench.data.medmnist import to_channels_first
from medbench.data.sequences import split_patients
from medbench.errors import ConfigError, DataError
from medbench.transforms import HU_PATCH_RANGE, UINT8_RANGE

__all__ = ["ImageClassifier", "ImageData", "Split", "BALANCE", "HU_CALCIUM_RANGE", "image_dataset",
           "load_image_data"]

BALANCE = ("none", "weights", "sampler")

HU_CALCIUM_RANGE = (-1000.0, 800.0)
"""Preprocessing window of chapter 02's phantom patches (air to dense calcium): wider than
:data:`medbench.transforms.HU_PATCH_RANGE` so a calcification (800-1500 HU) stays brighter than
the soft tissue around it instead of being clipped to the same value."""


def image_dataset(images, labels, pipeline, cache: bool = True):
    """A MONAI dataset of ``{"image": (C, H, W), "label": ...}`` items transformed by ``pipeline``.

    With ``cache`` it is a ``CacheDataset``: the pipeline's deterministic head runs once and
    its random steps on every access (on the cached item without a deep copy: ~30% faster per
    epoch, safe because MONAI's dictionary transforms return new dicts and the patch
    augmentations new tensors); without, a ``Dataset`` runs everything every time.
    """
    from monai.data import CacheDataset, Dataset

    items = [{"image": np.asarray(im, dtype=np.float32), "label": lab} for im, lab in zip(images, labels)]
    if cache:
        return CacheDataset(items, transform=pipeline, progress=False, num_workers=0, copy_cache=False)
    return Dataset(items, transform=pipeline)


def _labels(labels) -> np.ndarray:
    """``(N,)``, ``(N, 1)`` -> ``(N,)``; multilabel ``(N, L)`` unchanged."""
    labels = np.asarray(labels)
    return labels[:, 0] if labels.ndim == 2 and labels.shape[1] == 1 else labels


def _task_of(labels: np.ndarray) -> tuple[str, int]:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        return "multilabel", labels.shape[1]
    k = int(labels.max()) + 1 if labels.size else 2
    return ("binary", 2) if k <= 2 else ("multiclass", k)


# ---------------------------------------------------------------------------- data
class Split(NamedTuple):
    """Images ``(N, C, H, W)``, labels ``(N,)`` and patient ids ``(N,)`` of one part of a dataset."""

    images: np.ndarray
    labels: np.ndarray
    groups: np.ndarray


@dataclass
class ImageData:
    """A 2D image classification dataset split by patient (what :func:`load_image_data` returns).

    Attributes:
        train, test: the patient-level split.
        all: every image, for cross-validation (the phantom's generation order).
        class_names: one name per class index.
        intensity_range: the range the preprocessing maps to [0, 1] (also the display window).
        test_meta: the phantom's per-patch truth for the test set (``diameter_mm`` ...); ``None``
            for MedMNIST.
    """

    train: Split
    test: Split
    all: Split
    class_names: list[str]
    intensity_range: tuple[float, float]
    test_meta: Any = field(default=None, repr=False)

    @property
    def task(self) -> str:
        """``"binary"``, ``"multiclass"`` or ``"multilabel"`` (labels ``(N, L)``, ChestMNIST)."""
        if self.train.labels.ndim == 2:
            return "multilabel"
        return "binary" if len(self.class_names) == 2 else "multiclass"

    def summary(self):
        """``pandas.DataFrame``: cases, patients and class counts of train and test."""
        import pandas as pd

        parts = (self.train, self.test)
        return pd.DataFrame({
            "cases": [len(p.labels) for p in parts],
            "patients": [len(np.unique(p.groups)) for p in parts],
            **{f"class {k} ({n})": [int((p.labels == k).sum()) for p in parts]
               for k, n in enumerate(self.class_names)},
        }, index=["train", "test"])


def load_image_data(dataset: str = "phantom", *, seed: int = 0, n_patients: int = 40, patches_per_patient: int = 20,
                    patch_size: int = 32, test_fraction: float = 0.25, task: str = "nodule", medmnist_size: int = 28,
                    medmnist_max_train: int | None = 3000) -> ImageData:
    """Chapter 02's data: simulated CT nodule patches, or a MedMNIST 2D dataset from the data directory.

    Args:
        dataset: ``"phantom"`` (:func:`medbench.data.patches.nodule_patches`, task ``"nodule"``,
            split by patient with ``test_fraction``) or a MedMNIST 2D flag such as
            ``"pneumoniamnist"`` (:func:`medbench.data.medmnist.medmnist_train_test`: the
            authors' train+val for training, their test split for testing).
        seed: seed of the phantom, its split and the MedMNIST subsample.
        n_patients, patches_per_patient, patch_size: phantom size (patches are 1 mm pixels, HU).
        test_fraction: phantom: fraction of patients in the test set.
        task: phantom: ``"nodule"`` (detection: lung tissue vs nodule, window
            :data:`~medbench.transforms.HU_PATCH_RANGE`) or ``"malignancy"`` (benign vs malignant
            nodules, window :data:`HU_CALCIUM_RANGE`; ``test_meta["p_malignant"]`` is the true probability).
        medmnist_size: MedMNIST image size (28, 64, 128, 224).
        medmnist_max_train: MedMNIST: keep at most this many training images.

    Raises:
        ConfigError, DataNotFoundError: an unknown flag, or a MedMNIST file not in the data directory.
    """
    if dataset == "phantom":
        from medbench.data.patches import nodule_patches

        data = nodule_patches(n_patients=n_patients, patches_per_patient=patches_per_patient, size=patch_size,
                              task=task, seed=seed)
        train, test = data.split_by_patient(test_fraction=test_fraction, seed=seed)
        names, window = ((["lung tissue", "nodule"], HU_PATCH_RANGE) if task == "nodule"
                         else (["benign", "malignant"], HU_CALCIUM_RANGE))
        return ImageData(Split(train.images, train.labels, train.patient_ids),
                         Split(test.images, test.labels, test.patient_ids),
                         Split(data.images, data.labels, data.patient_ids),
                         names, window, test_meta=test.meta)
    from medbench.data.medmnist import MEDMNIST_FLAGS, medmnist_train_test

    train, test = medmnist_train_test(dataset, medmnist_size, max_train=medmnist_max_train, seed=seed)
    info = MEDMNIST_FLAGS[dataset.lower()]
    return ImageData(Split(*train), Split(*test), Split(*train), [info.labels[k] for k in sorted(info.labels)],
                     UINT8_RANGE)


# ---------------------------------------------------------------------------- model
class ImageClassifier:
    """Train and apply a CNN on 2D images, scikit-learn style.

    Args:
        model: name for :func:`medbench.models.make_model` (``"small_cnn"``, ``"resnet18"``, ...).
        epochs: maximum epochs.
        lr: Adam learning rate.
        batch_size: mini-batch size.
        augment: apply MONAI random augmentation to training images.
        balance: ``"none"``, ``"weights"`` (class-weighted cross-entropy, weights = inverse
            class frequency) or ``"sampler"`` (``WeightedRandomSampler`` drawing classes equally).
        intensity_range: input range mapped to [0, 1] (HU for CT, ``(0, 255)`` for MedMNIST);
            an override of the :attr:`PIPELINE` presets.
        val_fraction: fraction of patients held out for validation: early stopping and
            best-epoch selection on the validation loss (AUROC is recorded too, but it saturates
            at 1.0 on easy tasks and would pick an under-trained early epoch); 0 trains on
            everything for ``epochs``.
        patience: early-stopping patience in epochs.
        precision: ``fp32`` / ``bf16`` / ``amp`` / ``auto`` (see :mod:`medbench.training`).
        init_from: a model or state dict to start from (transfer learning); layers whose
            shapes match are copied, the classifier head is re-initialised.
        seed: seed for weights, batches and augmentation.
        device: torch device (default :func:`medbench.settings.get_device`: CUDA if available).
        model_kw: extra arguments for the network.
        fit_kw: extra arguments for :func:`medbench.training.fit` (e.g. ``callbacks``, ``progress``).

    Attributes (after ``fit``):
        model_: the trained network (best validation epoch).
        history_: :class:`medbench.training.History`.
        task_, n_classes_: ``"binary"``/``"multiclass"``/``"multilabel"`` and class count.
        train_seconds_: wall-clock seconds of ``fit``.
    """

    PIPELINE = "ct_2d_patch"
    """Transform presets used: ``get_pipeline(PIPELINE + "_train")`` for training (with
    ``augment``) and ``PIPELINE + "_eval"`` for validation and prediction."""

    def __init__(self, model: str = "small_cnn", *, epochs: int = 20, lr: float = 2e-3, batch_size: int = 64,
                 augment: bool = True, balance: str = "none", intensity_range=HU_PATCH_RANGE, val_fraction: float = 0.2,
                 patience: int | None = 6, precision: str = "fp32", init_from=None, seed: int = 0,
                 device=None, model_kw: dict | None = None, fit_kw: dict | None = None):
        if balance not in BALANCE:
            raise ConfigError(f"balance must be one of {', '.join(BALANCE)}, got {balance!r}")
        self.model, self.epochs, self.lr, self.batch_size = model, epochs, lr, batch_size
        self.augment, self.balance, self.intensity_range = augment, balance, intensity_range
        self.val_fraction, self.patience, self.precision = val_fraction, patience, precision
        self.init_from, self.seed, self.device = init_from, seed, device
        self.model_kw, self.fit_kw = dict(model_kw or {}), dict(fit_kw or {})

    # -------------------------------------------------------------- helpers
    def pipeline(self, train: bool = False):
        """The MONAI pipeline for training (``train`` and ``augment``: seeded random steps) or evaluation."""
        if train and self.augment:
            return transforms.get_pipeline(f"{self.PIPELINE}_train", intensity_range=self.intensity_range,
                                           seed=self.seed)
        return transforms.get_pipeline(f"{self.PIPELINE}_eval", intensity_range=self.intensity_range)

    def _loss(self, labels):
        if self.task_ == "multilabel":
            if self.balance == "weights":
                pos = labels.mean(0).clip(1e-3, 1 - 1e-3)
                return nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - pos) / pos, dtype=torch.float32))
            return nn.BCEWithLogitsLoss()
        if self.balance == "weights":
            counts = np.bincount(labels, minlength=self.n_classes_).astype(np.float64)
            w = len(labels) / (self.n_classes_ * np.maximum(counts, 1))
            return nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32))
        return nn.CrossEntropyLoss()

    def _loader(self, images, labels, train: bool):
        from torch.utils.data import DataLoader, WeightedRandomSampler

        lab = labels.astype(np.float32) if self.task_ == "multilabel" else labels.astype(np.int64)
        ds = image_dataset(images, lab, self.pipeline(train), cache=True)
        g = torch.Generator().manual_seed(self.seed)
        if not train:
            return DataLoader(ds, batch_size=256, shuffle=False)
        if self.balance == "sampler" and self.task_ != "multilabel":
            counts = np.bincount(labels, minlength=self.n_classes_).astype(np.float64)
            weights = 1.0 / np.maximum(counts, 1)[labels]
            sampler = WeightedRandomSampler(torch.tensor(weights, dtype=torch.float64), num_samples=len(labels),
                                            replacement=True, generator=g)
            return DataLoader(ds, batch_size=self.batch_size, sampler=sampler)
        return DataLoader(ds, batch_size=self.batch_size, shuffle=True, generator=g)

    def _init_weights(self, net):
        src = self.init_from
        if src is None:
            return
        state = src.state_dict() if isinstance(src, nn.Module) else src
        from medbench.models import reset_classifier

        own = net.state_dict()
        copied = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not copied:
            raise ConfigError("init_from shares no layer of matching shape with this model; pretrain the same "
                              "architecture with the same input channels")
        net.load_state_dict(copied, strict=False)
        reset_classifier(net, self.n_classes_ if self.task_ != "binary" else 2)

    # -------------------------------------------------------------- sklearn API
    def fit(self, images, labels, groups=None, *, val: tuple | None = None) -> "ImageClassifier":
        """Train on ``images`` ``(N, C, H, W)`` with ``labels`` ``(N,)`` (or ``(N, L)``).

        Args:
            images, labels: training data.
            groups: ``(N,)`` patient ids; the validation split keeps patients apart.
            val: optional ``(images, labels)`` validation set (else ``val_fraction`` of patients).
        """
        from medbench.metrics import torch_metric
        from medbench.models import make_model
        from medbench.settings import seed_everything
        from medbench.training import fit

        t0 = time.perf_counter()
        images, labels = to_channels_first(images), _labels(labels)
        if len(images) != len(labels):
            raise DataError(f"{len(images)} images but {len(labels)} labels")
        self.task_, self.n_classes_ = _task_of(labels)
        seed_everything(self.seed)
        if val is None and self.val_fraction > 0:
            g = np.arange(len(labels)) if groups is None else np.asarray(groups)
            held = split_patients(np.unique(g), (1 - self.val_fraction, self.val_fraction), self.seed)["test"]
            va = np.isin(g, held)
            val = (images[va], labels[va])
            images, labels = images[~va], labels[~va]
        elif val is not None:
            val = (to_channels_first(val[0]), _labels(val[1]))
        out = self.n_classes_ if self.task_ != "binary" else 2
        net = make_model(self.model, spatial_dims=2, in_channels=images.shape[1], num_classes=out, **self.model_kw)
        self._init_weights(net)
        train_loader = self._loader(images, labels, train=True)
        val_loader = self._loader(*val, train=False) if val is not None else None
        kw = dict(progress=False)
        kw.update(self.fit_kw)
        self.history_ = fit(
            net, train_loader, val_loader, loss_fn=self._loss(labels), epochs=self.epochs, lr=self.lr,
            scheduler="cosine", metrics={"auroc": torch_metric("auroc", self.task_)} if val_loader else None,
            monitor="val_loss" if val_loader else None, patience=self.patience if val_loader else None,
            precision=self.precision, device=self.device, seed=self.seed, **kw)
        self.model_ = net.eval()
        self.train_seconds_ = time.perf_counter() - t0
        return self

    def predict_proba(self, images) -> np.ndarray:
        """Class probabilities ``(N, K)`` (multilabel: per-label ``(N, L)``)."""
        from torch.utils.data import DataLoader

        from medbench.training import predict

        if not hasattr(self, "model_"):
            raise ConfigError("call fit() before predict_proba()")
        images = to_channels_first(images)
        pre = self.pipeline(train=False)
        x = torch.stack([pre({"image": np.asarray(im, dtype=np.float32)})["image"] for im in images])
        loader = DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(len(x))), batch_size=256)
        out, _ = predict(self.model_, loader, precision="fp32" if self.precision == "amp" else self.precision,
                         activation="sigmoid" if self.task_ == "multilabel" else "softmax")
        return out.numpy().astype(np.float64)

    def predict_score(self, images) -> np.ndarray:
        """Binary: ``(N,)`` probability of class 1; otherwise :meth:`predict_proba`."""
        p = self.predict_proba(images)
        return p[:, 1] if self.task_ == "binary" else p

    def predict(self, images) -> np.ndarray:
        p = self.predict_proba(images)
        return (p >= 0.5).astype(np.int64) if self.task_ == "multilabel" else p.argmax(1)

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("model", "epochs", "lr", "batch_size", "augment", "balance",
                                              "intensity_range", "val_fraction", "patience", "precision",
                                              "init_from", "seed", "device", "model_kw", "fit_kw")}

    def clone(self, **changes) -> "ImageClassifier":
        """An unfitted copy with some parameters changed."""
        params = self.get_params()
        params.update(changes)
        model = params.pop("model")
        return type(self)(model, **params)
