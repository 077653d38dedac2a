"""Chapter 02's studies around :class:`~medbench.tasks.classification.ImageClassifier`.

Experiments that train or score several models on chapter 02's data; the pipeline itself
(data, the classifier, its transforms) lives in :mod:`medbench.tasks.classification`.

- :func:`baseline_scores` and :func:`compare_with_baselines`: hand-crafted baselines that need no
  training (the centre-mean-HU rule; logistic regression on :func:`medbench.data.patches.patch_features`)
  and a model's paired bootstrap AUROC difference against each;
- :func:`cross_validate`: patient-level K-fold cross-validation (:func:`medbench.data.sequences.kfold_patients`);
- :func:`compare_balance`: the class-imbalance remedies side by side;
- :func:`pretrain_detector` and :func:`fine_tune_curve`: transfer learning from the nodule
  detection task to a small labelled malignancy task.

Inputs are arrays ``(N, C, H, W)`` (or what :func:`medbench.data.medmnist.to_channels_first`
accepts) with labels ``(N,)``; splits are :class:`~medbench.tasks.classification.Split`.
"""
from __future__ import annotations

import numpy as np
from torch import nn

from medbench.data.medmnist import to_channels_first
from medbench.data.sequences import kfold_patients
from medbench.errors import ConfigError, DataError
from medbench.tasks.classification import BALANCE, ImageClassifier, Split, _labels, _task_of
from medbench.transforms import HU_PATCH_RANGE

# _labels/_task_of: the pipeline's label normalisation, shared on purpose (one definition).
__all__ = ["baseline_scores", "compare_with_baselines", "cross_validate", "compare_balance", "fine_tune_curve",
           "pretrain_detector"]


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
