"""The model factory: every network in 2D and 3D, no downloads, head reset."""
from __future__ import annotations

import pytest
import torch

from medbench.errors import ConfigError
from medbench.models import MODELS, SmallCNN, count_parameters, make_model, reset_classifier


IMAGE_MODELS = [name for name in MODELS if name not in ("lstm", "gru")]  # sequence models: see the end


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_factory_builds_2d_and_3d(name, spatial_dims):
    size = (32,) * spatial_dims
    model = make_model(name, spatial_dims=spatial_dims, in_channels=1, num_classes=3)
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, *size))
    assert out.shape == (2, 3)
    assert count_parameters(model) > 1000


def test_small_cnn_is_conv_relu_pool_twice_then_dense():
    m = SmallCNN(in_channels=3, num_classes=2, norm=False)
    kinds = [type(l).__name__ for l in m.features]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "AdaptiveAvgPool2d"]
    assert m(torch.randn(4, 3, 28, 28)).shape == m(torch.randn(4, 3, 64, 64)).shape == (4, 2)


def test_factory_rejects_unknown_and_pretrained():
    with pytest.raises(ConfigError, match="unknown"):
        make_model("vgg16")
    with pytest.raises(ConfigError, match="pretrained"):
        make_model("resnet18", pretrained=True)
    with pytest.raises(ConfigError, match="spatial_dims"):
        make_model("small_cnn", spatial_dims=1)


def test_reset_classifier_replaces_only_the_head():
    m = make_model("small_cnn", num_classes=2)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    reset_classifier(m, num_classes=5)
    assert m(torch.randn(1, 1, 32, 32)).shape == (1, 5)
    after = m.state_dict()
    assert torch.equal(before["features.0.weight"], after["features.0.weight"])
    assert after["classifier.4.weight"].shape == (5, 64)


def _write_medmnist_fixture(flag, n_classes, rgb=False, seed=0):
    """A small synthetic MedMNIST-layout .npz in the (test-isolated) data directory."""
    import numpy as np

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


@pytest.mark.slow
def test_medmnist_reader_path_into_the_classifier():
    from medbench.data.medmnist import load_medmnist
    from medbench.metrics import auroc
    from medbench.models.image_classifier import UINT8_RANGE, ImageClassifier

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
    import numpy as np
    from torch import nn

    from medbench.models.image_classifier import ImageClassifier

    rng = np.random.default_rng(0)
    y = (rng.random(120) < 0.25).astype(int)
    x = rng.normal(-800, 50, (120, 1, 16, 16)).astype(np.float32)
    x[y == 1, :, 6:10, 6:10] = 40.0
    groups = np.arange(120) // 4
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
    # transfer: feature weights copied, head re-initialised
    ft = ImageClassifier("small_cnn", epochs=0, val_fraction=0.0, init_from=clf.model_).fit(x, y)
    src, dst = clf.model_.state_dict(), ft.model_.state_dict()
    assert torch.equal(src["features.0.weight"], dst["features.0.weight"])
    assert not torch.equal(src["classifier.4.weight"], dst["classifier.4.weight"])
    with pytest.raises(ConfigError, match="balance"):
        ImageClassifier(balance="oversample")


def test_factory_builds_recurrent_models_for_sequences():
    import torch

    from medbench.models import make_model

    for cell in ("lstm", "gru"):
        model = make_model(cell, in_channels=5, num_classes=3, hidden_size=8)
        out = model(torch.randn(4, 7, 5), torch.tensor([7, 5, 3, 1]))
        assert out.shape == (4, 3)
