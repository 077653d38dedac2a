"""Image classification (chapter 02): data -> :class:`ImageClassifier` -> evaluation.

:class:`ImageClassifier` bundles the steps of chapter 02: MONAI preprocessing (intensity
range to [0, 1], cached with ``CacheDataset``) and augmentation (flips, 90-degree rotations,
noise), both from the :mod:`medbench.transforms` presets ``"ct_2d_patch_train"`` /
``"ct_2d_patch_eval"``; a network from :func:`medbench.models.make_model`; class balance by a
weighted loss or a balanced sampler; a patient-level validation split for early stopping /
best-model selection; and ``predict_proba``. Around it:

- :func:`load_image_data`: the chapter's data, split by patient (CT nodule patches from the
  phantom, malignancy or detection, or a MedMNIST 2D dataset read by :mod:`medbench.data.medmnist`);
- :func:`baseline_scores` and :func:`compare_with_baselines`: hand-crafted baselines that need no
  training (the centre-mean-HU rule; logistic regression on :func:`medbench.data.patches.patch_features`)
  and the CNN's paired bootstrap AUROC difference against each;
- :func:`cross_validate`: patient-level K-fold cross-validation (:func:`medbench.data.sequences.kfold_patients`);
- :func:`compare_balance`: the class-imbalance remedies side by side;
- :func:`pretrain_detector` and :func:`fine_tune_curve`: transfer learning from the nodule
  detection task to a small labelled malignancy task.

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
from medbench.data.sequences import kfold_patients, split_patients
from medbench.errors import ConfigError, DataError
from medbench.transforms import HU_PATCH_RANGE, UINT8_RANGE

__all__ = ["ImageClassifier", "ImageData", "Split", "BALANCE", "HU_CALCIUM_RANGE", "baseline_scores",
           "compare_with_baselines", "cross_validate", "compare_balance", "fine_tune_curve", "image_dataset",
           "load_image_data", "pretrain_detector"]

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


# ---------------------------------------------------------------------------- baselines
def baseline_scores(train: Split, test: Split, pixel_mm: float = 1.0) -> dict[str, np.ndarray]:
    """Scores of two hand-crafted baselines on ``test``, fit on ``train`` patients only.

    - ``"centre-mean-HU rule"``: the mean HU of the central 4 x 4 pixels, oriented (sign) on
      the training patches; no other training.
    - ``"logistic regression on features"``: standardised :func:`medbench.data.patches.patch_features`
      (centre, mean, std and 95th-percentile HU, dense area, largest dense blob) into a
      logistic regression fit on the training patches.

    Args:
        train, test: patient-level split of HU patches ``(N, 1, H, W)`` with binary labels.
        pixel_mm: pixel size in mm (for the area features).

    Returns:
        ``{name: (N_test,) score}``; higher means class 1.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from medbench.data.patches import patch_features
    from medbench.metrics import auroc

    y_tr = _labels(train.labels)
    if _task_of(y_tr)[0] != "binary" or len(np.unique(y_tr)) < 2:
        raise DataError("baseline_scores needs binary labels with both classes in the training set")
    f_tr, f_te = patch_features(train.images, pixel_mm), patch_features(test.images, pixel_mm)
    sign = 1.0 if auroc(y_tr, f_tr["centre_mean_hu"].to_numpy()) >= 0.5 else -1.0
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(f_tr.to_numpy(), y_tr)
    return {"centre-mean-HU rule": sign * f_te["centre_mean_hu"].to_numpy(),
            "logistic regression on features": lr.predict_proba(f_te.to_numpy())[:, 1]}


def compare_with_baselines(y_true, score, baselines: dict[str, np.ndarray], groups=None, *, bayes=None,
                           n_boot: int = 1000, seed: int = 0, name: str = "CNN"):
    """AUROC of a model, its baselines and (optionally) the Bayes-optimal score, with paired CIs.

    Every row is resampled by the same patient bootstrap (``groups``), so the differences
    ``model - row`` are paired (:func:`medbench.metrics.paired_bootstrap_diff`).

    Args:
        y_true: ``(N,)`` binary labels.
        score: ``(N,)`` the model's score.
        baselines: ``{name: (N,) score}`` (:func:`baseline_scores`).
        groups: ``(N,)`` patient ids for the bootstrap (``None``: resample cases).
        bayes: ``(N,)`` the true probability of class 1, if known (row ``"Bayes-optimal"``).
        n_boot, seed: bootstrap resamples and seed.
        name: the model's row name.

    Returns:
        ``pandas.DataFrame`` indexed by score name: ``auroc``, ``ci_low``, ``ci_high`` and
        ``gain`` / ``gain_ci_low`` / ``gain_ci_high`` (the model's AUROC minus this row's; NaN on
        the model's own row).
    """
    import pandas as pd

    from medbench.metrics import auroc, bootstrap_ci, paired_bootstrap_diff

    y = np.asarray(y_true)
    rows = {name: np.asarray(score, dtype=float), **{k: np.asarray(v, dtype=float) for k, v in baselines.items()}}
    if bayes is not None:
        rows["Bayes-optimal"] = np.asarray(bayes, dtype=float)
    out = {}
    for k, s in rows.items():
        if s.shape != y.shape:
            raise DataError(f"score {k!r} has shape {s.shape}, labels {y.shape}")
        est, lo, hi = bootstrap_ci(auroc, y, s, n_boot=n_boot, seed=seed, groups=groups)
        row = {"auroc": est, "ci_low": lo, "ci_high": hi, "gain": np.nan, "gain_ci_low": np.nan,
               "gain_ci_high": np.nan}
        if k != name:
            d, dlo, dhi = paired_bootstrap_diff(auroc, y, rows[name], s, n_boot=n_boot, seed=seed, groups=groups)
            row.update(gain=d, gain_ci_low=dlo, gain_ci_high=dhi)
        out[k] = row
    return pd.DataFrame(out).T


def cross_validate(clf: ImageClassifier, images, labels, groups, *, k: int = 5, seed: int = 0):
    """Patient-level stratified K-fold cross-validation.

    Args:
        clf: an (unfitted) :class:`ImageClassifier` template; each fold trains a clone.
        images, labels: all data ``(N, C, H, W)``, ``(N,)``.
        groups: ``(N,)`` patient ids: a patient's patches stay in one fold.
        k: number of folds.
        seed: fold-assignment seed.

    Returns:
        ``pandas.DataFrame``: one row per fold with ``auroc``, ``accuracy``, ``f1``,
        ``sensitivity``, ``specificity``, ``n_test``, ``n_patients_test``, ``train_seconds``.
    """
    import pandas as pd

    from medbench import metrics as M

    images, labels, groups = to_channels_first(images), _labels(labels), np.asarray(groups)
    if len(np.unique(groups)) < k:
        raise ConfigError(f"k={k} folds need at least {k} patients; have {len(np.unique(groups))}")
    rows = []
    for fold, (_, test_ids) in enumerate(kfold_patients(np.unique(groups), k=k, seed=seed)):
        te = np.isin(groups, test_ids)
        tr = ~te
        model = clf.clone(seed=clf.seed + fold).fit(images[tr], labels[tr], groups[tr])
        score = model.predict_score(images[te])
        task = model.task_
        row = {"fold": fold + 1}
        for name in ("auroc", "accuracy", "f1", "sensitivity", "specificity"):
            row[name] = M.METRICS[name](labels[te], score, task=task)
        row.update(n_test=int(te.sum()), n_patients_test=len(test_ids), train_seconds=model.train_seconds_)
        rows.append(row)
    return pd.DataFrame(rows).set_index("fold")


# ---------------------------------------------------------------------------- experiments
def compare_balance(clf: ImageClassifier, train: Split, test: Split, *, epochs: int | None = None,
                    modes: tuple[str, ...] = BALANCE, return_models: bool = False):
    """Train one clone of ``clf`` per class-balance mode and score each on ``test``.

    Args:
        clf: template classifier (same data, model, seed in every run).
        train, test: patient-level split.
        epochs: epochs per run (default: ``clf.epochs``).
        modes: values of ``balance`` to compare.
        return_models: also return ``{mode: fitted ImageClassifier}``.

    Returns:
        ``pandas.DataFrame`` indexed by mode: ``auroc``, ``sensitivity``, ``specificity``, ``f1``,
        ``brier`` and ``mean P(class 1)`` (how far the predicted risk drifts toward the rare class);
        with ``return_models``, ``(table, models)``.
    """
    import pandas as pd

    from medbench import metrics as M

    rows, models = {}, {}
    for balance in modes:
        m = clf.clone(balance=balance, epochs=clf.epochs if epochs is None else epochs)
        m.fit(train.images, train.labels, train.groups)
        models[balance] = m
        s = m.predict_score(test.images)
        rows[balance] = {name: M.METRICS[name](test.labels, s, task=m.task_)
                         for name in ("auroc", "sensitivity", "specificity", "f1", "brier")}
        rows[balance]["mean P(class 1)"] = float(np.mean(s if m.task_ == "binary" else s[:, 1]))
    table = pd.DataFrame(rows).T
    return (table, models) if return_models else table


def pretrain_detector(model: str = "small_cnn", *, n_patients: int = 40, patches_per_patient: int = 20,
                      patch_size: int = 32, epochs: int = 8, lr: float = 2e-3, batch_size: int = 64,
                      precision: str = "fp32", intensity_range=HU_PATCH_RANGE, seed: int = 0) -> nn.Module:
    """A nodule detector trained on phantom patches: the source network of transfer learning.

    Returns:
        The trained network (best validation epoch), for ``ImageClassifier(init_from=...)``.
    """
    from medbench.data.patches import nodule_patches

    src = nodule_patches(n_patients=n_patients, patches_per_patient=patches_per_patient, size=patch_size,
                         task="nodule", seed=seed)
    clf = ImageClassifier(model, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, precision=precision,
                          intensity_range=intensity_range)
    return clf.fit(src.images, src.labels, src.patient_ids).model_


def _parts(data) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images, labels, patient ids)`` of a :class:`Split` or a ``PatchSet``."""
    if isinstance(data, Split):
        return data.images, _labels(data.labels), np.asarray(data.groups)
    return data.images, _labels(data.labels), np.asarray(data.patient_ids)


def fine_tune_curve(source_model: nn.Module | dict | None, train, test, *, sizes=(32, 128, 480), steps: int = 120,
                    model: str = "small_cnn", lr: float = 1e-3, batch_size: int = 32, precision: str = "fp32",
                    intensity_range=HU_PATCH_RANGE, seed: int = 0):
    """Learning curves of fine-tuning ``source_model`` vs training from scratch on a small labelled set.

    For each size ``n`` in ``sizes``, ``n`` labelled images (a random subset of ``train``) train
    the same network twice, from scratch and initialised from ``source_model`` (head
    re-initialised), for the same number of optimiser ``steps`` (so small sets get more
    epochs, at least 3); no validation split, augmentation on. Both are scored by AUROC on ``test``.

    Args:
        source_model: the pretrained network (or state dict); ``None`` runs only from scratch.
        train, test: the target task's :class:`Split` or :class:`medbench.data.patches.PatchSet`.
        sizes: labelled set sizes (capped at ``len(train)``).
        steps: optimiser steps per run.
        model, lr, batch_size, precision, intensity_range, seed: as in :class:`ImageClassifier`
            (give the source model's ``intensity_range``).

    Returns:
        ``pandas.DataFrame`` with ``n_labelled``, ``init`` (``"from scratch"`` / ``"pretrained"``), ``auroc``.
    """
    import pandas as pd

    from medbench.metrics import auroc

    runs = []
    rng = np.random.default_rng(seed)
    inits = ("from scratch",) if source_model is None else ("from scratch", "pretrained")
    x_tr, y_tr, g_tr = _parts(train)
    x_te, y_te, _ = _parts(test)
    for n in sizes:
        idx = np.sort(rng.permutation(len(y_tr))[:min(n, len(y_tr))])
        n_epochs = max(3, int(np.ceil(steps / np.ceil(len(idx) / batch_size))))
        for init in inits:
            m = ImageClassifier(model, epochs=n_epochs, lr=lr, batch_size=batch_size, augment=True,
                                val_fraction=0.0, patience=None, seed=seed, precision=precision,
                                intensity_range=intensity_range,
                                init_from=source_model if init == "pretrained" else None)
            m.fit(x_tr[idx], y_tr[idx], g_tr[idx])
            runs.append({"n_labelled": len(idx), "init": init, "auroc": auroc(y_te, m.predict_score(x_te))})
    return pd.DataFrame(runs)
