"""The image-classification task: ImageClassifier, its transform presets, data, CV and experiments."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medbench import transforms
from medbench.errors import ConfigError, DataError
from medbench.tasks.classification import HU_CALCIUM_RANGE, ImageClassifier, Split, load_image_data
from medbench.tasks.classification_studies import (
    baseline_scores,
    compare_balance,
    compare_with_baselines,
    cross_validate,
    fine_tune_curve,
)
from medbench.transforms import UINT8_RANGE


def _write_medmnist_fixture(flag, n_classes, rgb=False, seed=0):
    """A small synthetic MedMNIST-layout .npz in the (test-isolated) data directory."""
    from medbench.data.medmnist import medmnist_path

    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", 160), ("val", 40), ("test", 60)):
        y = rng.integers(0, n_classes, n)
        img = rng.normal(90, 20, (n, 28, 28))
        yy, xx = np.mgrid[:28, :28]
        for i, k in enumerate(y):  # class k: a bright disc whose radius grows with k
            img[i][(yy - 14) ** 2 + (xx - 14) ** 2 < (2 + 3 * k) ** 2] += 110
        img = np.clip(img, 0, 255).astype(np.uint8)
        arrays[f"{split}_images"] = np.repeat(img[..., None], 3, -1) if rgb else img
        arrays[f"{split}_labels"] = y[:, None].astype(np.uint8)
    path = medmnist_path(flag, 28)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def _toy(n=120, size=16, seed=0):
    """Bright squares (class 1, 25%) on dark lung-like noise, 4 patches per patient."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(int)
    x = rng.normal(-800, 50, (n, 1, size, size)).astype(np.float32)
    x[y == 1, :, 6:10, 6:10] = 40.0
    return x, y, np.arange(n) // 4


@pytest.mark.slow
def test_medmnist_reader_path_into_the_classifier():
    from medbench.data.medmnist import load_medmnist
    from medbench.metrics import auroc

    _write_medmnist_fixture("pneumoniamnist", 2)
    x, y = load_medmnist("pneumoniamnist", split="train")
    xt, yt = load_medmnist("pneumoniamnist", split="test")
    assert x.shape == (160, 28, 28) and y.shape == (160, 1)
    clf = ImageClassifier("small_cnn", epochs=4, lr=5e-3, intensity_range=UINT8_RANGE, batch_size=32)
    clf.fit(x, y)
    assert clf.task_ == "binary" and clf.predict_proba(xt).shape == (60, 2)
    assert auroc(yt[:, 0], clf.predict_score(xt)) > 0.9

    _write_medmnist_fixture("pathmnist", 9, rgb=True)
    x, y = load_medmnist("pathmnist", split="train")
    assert x.shape == (160, 28, 28, 3)
    clf = ImageClassifier("small_cnn", epochs=1, intensity_range=UINT8_RANGE, balance="sampler").fit(x, y)
    assert clf.task_ == "multiclass" and clf.predict_proba(x[:5]).shape == (5, 9)


def test_image_classifier_balance_modes_and_transfer():
    from torch import nn

    x, y, groups = _toy()
    clf = ImageClassifier("small_cnn", epochs=1, balance="weights", val_fraction=0.25)
    clf.fit(x, y, groups)
    w = clf._loss(y[:90]).weight
    assert isinstance(clf._loss(y), nn.CrossEntropyLoss) and w[1] > w[0]
    # patient-level validation split: no patient in both parts
    assert clf.history_.records and "val_auroc" in clf.history_.records[0]
    sampler_clf = ImageClassifier("small_cnn", epochs=1, balance="sampler", val_fraction=0.0)
    sampler_clf.task_, sampler_clf.n_classes_ = "binary", 2
    loader = sampler_clf._loader(x, y, train=True)
    drawn = np.concatenate([b["label"].numpy() for b in loader])
    assert 0.35 < drawn.mean() < 0.65  # classes drawn about equally although 25% are positive
    # transfer: feature weights copied, head re-initialised (checked on the fresh net, before any step;
    # fit itself refuses epochs=0)
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        ImageClassifier("small_cnn", epochs=0, val_fraction=0.0, init_from=clf.model_).fit(x, y)
    from medbench.models import make_model

    ft = ImageClassifier("small_cnn", val_fraction=0.0, init_from=clf.model_)
    ft.task_, ft.n_classes_ = "binary", 2
    net = make_model("small_cnn", spatial_dims=2, in_channels=clf.model_.features[0].in_channels, num_classes=2)
    ft._init_weights(net)
    src, dst = clf.model_.state_dict(), net.state_dict()
    assert torch.equal(src["features.0.weight"], dst["features.0.weight"])
    assert not torch.equal(src["classifier.4.weight"], dst["classifier.4.weight"])
    with pytest.raises(ConfigError, match="balance"):
        ImageClassifier(balance="oversample")


def test_pipelines_come_from_the_transform_presets(monkeypatch):
    x, y, _ = _toy(n=8)
    clf = ImageClassifier(intensity_range=(-1000.0, 400.0), seed=3)
    clf.task_, clf.n_classes_ = "binary", 2
    names = transforms.describe_pipeline(clf.pipeline(train=True))
    assert names == transforms.describe_pipeline(transforms.get_pipeline("ct_2d_patch_train"))
    assert names == ["EnsureTyped", "ScaleIntensityRanged", "RandFlipd", "RandFlipd", "RandRotate90d",
                     "RandGaussianNoised"]
    assert transforms.describe_pipeline(clf.pipeline(train=False)) == ["EnsureTyped", "ScaleIntensityRanged"]
    assert transforms.describe_pipeline(clf.clone(augment=False).pipeline(train=True)) == [
        "EnsureTyped", "ScaleIntensityRanged"]
    # same preset, same seed -> the same random draws as the preset built by hand
    a = clf._loader(x, y, train=True).dataset
    b = transforms.get_pipeline("ct_2d_patch_train", intensity_range=(-1000.0, 400.0), seed=3)
    assert torch.equal(a[0]["image"], b({"image": x[0], "label": y[0]})["image"])
    cached = [item["image"].clone() for item in a._cache]  # random steps run without copying the cache:
    for _ in range(3):  # they must never change it
        [a[i] for i in range(len(a))]
    assert all(torch.equal(c, item["image"]) for c, item in zip(cached, a._cache))

    # editing a preset changes what the classifier builds, for training, validation and prediction
    calls = []

    def doubled(intensity_range=UINT8_RANGE, **kw):
        calls.append(dict(intensity_range=intensity_range, **kw))
        from monai.transforms import Compose, EnsureTyped, Lambdad

        return Compose([EnsureTyped(keys="image", dtype=torch.float32, track_meta=False),
                        Lambdad(keys="image", func=lambda t: t * 0 + 2.0)])

    monkeypatch.setitem(transforms.PIPELINES, "ct_2d_patch_train", doubled)
    monkeypatch.setitem(transforms.PIPELINES, "ct_2d_patch_eval", doubled)
    assert float(clf._loader(x, y, train=True).dataset[0]["image"].mean()) == 2.0
    assert float(clf._loader(x, y, train=False).dataset[0]["image"].mean()) == 2.0
    assert calls == [{"intensity_range": (-1000.0, 400.0), "seed": 3}, {"intensity_range": (-1000.0, 400.0)}]
    fitted = ImageClassifier(epochs=1, val_fraction=0.0).fit(x, y)
    calls.clear()
    fitted.predict_proba(x[:2])
    assert len(calls) == 1 and "seed" not in calls[0]


def test_load_image_data_phantom_and_medmnist():
    data = load_image_data("phantom", n_patients=8, patches_per_patient=5, patch_size=16, seed=1)
    assert data.task == "binary" and data.class_names == ["lung tissue", "nodule"]
    assert data.train.images.shape[1:] == (1, 16, 16) and len(data.all.labels) == 40
    assert not set(data.train.groups) & set(data.test.groups)  # split by patient
    assert len(data.test_meta) == len(data.test.labels)
    table = data.summary()
    assert table["cases"].sum() == 40 and list(table.index) == ["train", "test"]

    _write_medmnist_fixture("pathmnist", 9, rgb=True)
    mm = load_image_data("pathmnist", medmnist_max_train=50, seed=0)
    assert mm.task == "multiclass" and len(mm.class_names) == 9 and mm.intensity_range == UINT8_RANGE
    assert mm.train.images.shape == (50, 3, 28, 28) and mm.train.labels.shape == (50,)
    assert mm.test.images.shape == (60, 3, 28, 28) and mm.test_meta is None
    assert not set(mm.train.groups) & set(mm.test.groups)
    assert np.array_equal(mm.all.images, mm.train.images)


def test_cross_validate_compare_balance_and_fine_tune_curve():
    from medbench.data.patches import nodule_patches

    x, y, groups = _toy(n=48)
    clf = ImageClassifier("small_cnn", epochs=1, batch_size=16)
    cv = cross_validate(clf, x, y, groups, k=3)
    assert list(cv.index) == [1, 2, 3] and cv["n_test"].sum() == 48
    with pytest.raises(ConfigError, match="k=20 folds"):
        cross_validate(clf, x, y, groups, k=20)
    with pytest.raises(TypeError):
        cross_validate(clf, x, y, groups, k=3, n_boot=10)  # the unused parameter is gone

    bal = compare_balance(clf, Split(x[:36], y[:36], groups[:36]), Split(x[36:], y[36:], groups[36:]), epochs=1)
    assert list(bal.index) == ["none", "weights", "sampler"] and "mean P(class 1)" in bal.columns

    target = nodule_patches(n_patients=12, patches_per_patient=4, size=16, task="malignancy", seed=5)
    tr, te = target.split_by_patient(test_fraction=0.4, seed=0)
    source = clf.clone(val_fraction=0.0).fit(x, y).model_
    curve = fine_tune_curve(source, tr, te, sizes=[8, 1000], steps=2, batch_size=8)
    assert list(curve["init"]) == ["from scratch", "pretrained"] * 2
    assert list(curve["n_labelled"]) == [8, 8, len(tr), len(tr)]
    assert curve["auroc"].between(0, 1).all()
    # a Split works as well as a PatchSet, and the same subsets give the same curve
    as_split = fine_tune_curve(source, Split(tr.images, tr.labels, tr.patient_ids),
                               Split(te.images, te.labels, te.patient_ids), sizes=[8, 1000], steps=2, batch_size=8)
    np.testing.assert_allclose(as_split["auroc"], curve["auroc"])
    table, models = compare_balance(clf, Split(x[:36], y[:36], groups[:36]), Split(x[36:], y[36:], groups[36:]),
                                    epochs=1, modes=("none",), return_models=True)
    assert list(models) == ["none"] and hasattr(models["none"], "model_") and list(table.index) == ["none"]


def test_load_image_data_malignancy_task():
    data = load_image_data("phantom", n_patients=10, patches_per_patient=3, patch_size=24, task="malignancy", seed=2)
    assert data.class_names == ["benign", "malignant"] and data.intensity_range == HU_CALCIUM_RANGE
    assert len(data.all.labels) == 30 and data.test_meta["has_nodule"].all()
    assert {"p_malignant", "calcification"} <= set(data.test_meta.columns)


def test_baselines_and_paired_comparison():
    """Baselines fit on training patients only; the CNN's gain is a paired bootstrap difference."""
    from medbench.metrics import auroc, paired_bootstrap_diff

    x, y, groups = _toy(n=160, seed=1)
    tr, te = Split(x[:100], y[:100], groups[:100]), Split(x[100:], y[100:], groups[100:])
    base = baseline_scores(tr, te)
    assert list(base) == ["centre-mean-HU rule", "logistic regression on features"]
    assert all(v.shape == (60,) for v in base.values())
    # the toy's bright squares sit at the centre: the centre rule finds them (oriented on training data)
    assert auroc(te.labels, base["centre-mean-HU rule"]) > 0.95
    # orientation comes from the training patches: darker-is-positive flips the sign
    flip = baseline_scores(Split(-x[:100], y[:100], groups[:100]), Split(-x[100:], y[100:], groups[100:]))
    assert auroc(te.labels, flip["centre-mean-HU rule"]) > 0.95
    rng = np.random.default_rng(0)
    model = te.labels + rng.normal(0, 0.7, 60)
    table = compare_with_baselines(te.labels, model, base, te.groups, bayes=te.labels * 0.9 + 0.05, n_boot=200,
                                   name="CNN")
    assert list(table.index) == ["CNN", "centre-mean-HU rule", "logistic regression on features", "Bayes-optimal"]
    assert np.isnan(table.loc["CNN", "gain"]) and table.loc["Bayes-optimal", "auroc"] == pytest.approx(1.0)
    d, lo, hi = paired_bootstrap_diff(auroc, te.labels, model, base["centre-mean-HU rule"], n_boot=200, seed=0,
                                      groups=te.groups)
    assert table.loc["centre-mean-HU rule", ["gain", "gain_ci_low", "gain_ci_high"]].tolist() == pytest.approx([d, lo, hi])
    with pytest.raises(DataError, match="shape"):
        compare_with_baselines(te.labels, model[:10], base, te.groups)
    with pytest.raises(DataError, match="both classes"):
        baseline_scores(Split(x[:4], np.zeros(4, int), groups[:4]), te)


def test_studies_have_one_import_path_and_pretrain_detector_feeds_init_from():
    """The chapter's studies live in classification_studies only; the pretrained detector seeds a classifier."""
    from medbench.tasks import classification, classification_studies

    for name in classification_studies.__all__:
        assert not hasattr(classification, name), f"{name} is importable from tasks.classification too"
    source = classification_studies.pretrain_detector(n_patients=4, patches_per_patient=6, patch_size=16, epochs=1,
                                                      batch_size=8, seed=0)
    assert isinstance(source, torch.nn.Module)
    x, y, _ = _toy(n=24)
    ft = ImageClassifier("small_cnn", epochs=1, batch_size=8, val_fraction=0.0, init_from=source).fit(x, y)
    assert ft.predict_proba(x[:4]).shape == (4, 2)
