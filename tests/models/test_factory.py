"""The model factory: every network in 2D and 3D, no downloads, head reset."""
from __future__ import annotations

import pytest
import torch

from medbench.errors import ConfigError
from medbench.models import MODELS, SmallCNN, count_parameters, make_model, reset_classifier
from medbench.models.segmentation import SEGMENTATION_MODELS

# image classifiers; sequence models are tested at the end, segmentation nets in test_segmentation_nets.py
IMAGE_MODELS = [name for name in MODELS if name not in ("lstm", "gru", *SEGMENTATION_MODELS)]


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


def test_one_factory_builds_segmentation_nets_too():
    net = make_model("unet", spatial_dims=3, in_channels=2, num_classes=4, channels=(4, 8), strides=(2,))
    with torch.no_grad():
        assert net.eval()(torch.randn(1, 2, 16, 16, 16)).shape == (1, 4, 16, 16, 16)  # a logit per class and voxel


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


def test_factory_builds_recurrent_models_for_sequences():
    import torch

    from medbench.models import make_model

    for cell in ("lstm", "gru"):
        model = make_model(cell, in_channels=5, num_classes=3, hidden_size=8)
        out = model(torch.randn(4, 7, 5), torch.tensor([7, 5, 3, 1]))
        assert out.shape == (4, 3)
