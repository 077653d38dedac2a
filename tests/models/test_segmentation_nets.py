"""Segmentation networks from make_model and the sliding-window wrapper."""
from __future__ import annotations

import pytest
import torch

from medbench.errors import ConfigError
from medbench.models import make_model
from medbench.models.segmentation import SlidingWindowModel
from medbench.tasks.segmentation import predict_volume


def test_sliding_window_equals_whole_volume_when_roi_covers_it():
    torch.manual_seed(0)
    net = make_model("unet", spatial_dims=3, in_channels=2, num_classes=3, channels=(4, 8, 16), strides=(2, 2))
    model = SlidingWindowModel(net, roi_size=(16, 16, 16), overlap=0.5).eval()
    x = torch.randn(2, 16, 16, 16)
    with torch.no_grad():
        whole = net(x[None])[0]
    sw = predict_volume(model, x, precision="fp32")
    assert sw.shape == (3, 16, 16, 16)
    torch.testing.assert_close(sw, whole, rtol=1e-4, atol=1e-4)
    # an ROI smaller than the volume stitches several windows, so the result differs
    small = predict_volume(model, x, roi_size=(8, 8, 8), precision="fp32")
    assert small.shape == whole.shape and not torch.allclose(small, whole, atol=1e-3)
    # the wrapper predicts by sliding window in eval mode, plain forward in train mode
    with torch.no_grad():
        torch.testing.assert_close(model(x[None])[0], whole, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["basicunet", "unetr", "swinunetr"])
def test_other_networks_build_and_map_an_roi_to_logits(name):
    torch.manual_seed(0)
    roi = (64, 64, 64) if name == "swinunetr" else (32, 32, 32)
    net = make_model(name, spatial_dims=3, in_channels=2, num_classes=4, roi_size=roi, channels=(8, 16, 32, 64))
    with torch.no_grad():
        out = net.eval()(torch.randn(1, 2, *roi))
    assert out.shape == (1, 4, *roi)
    if name == "swinunetr":
        with pytest.raises(ConfigError, match="SwinUNETR"):
            make_model(name, spatial_dims=3, in_channels=2, num_classes=4, roi_size=(32, 32, 32))


def test_unetr_needs_an_roi_divisible_by_16():
    with pytest.raises(ConfigError, match="divisible by 16"):
        make_model("unetr", spatial_dims=3, in_channels=1, num_classes=2, roi_size=(24, 24, 24))
