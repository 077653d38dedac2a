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


def test_majority_atlas_votes_per_voxel_and_ignores_the_image():
    import numpy as np

    from medbench.models.segmentation import MajorityAtlas

    a = np.zeros((1, 4, 4, 4), np.uint8)
    b, c = a.copy(), a.copy()
    a[0, :2], b[0, :2], c[0, 2:] = 1, 1, 2  # two of three maps say 1 in the first half
    atlas = MajorityAtlas(3).fit([a, b, c])
    pred = atlas.predict(torch.randn(2, 4, 4, 4))
    assert pred.shape == (1, 4, 4, 4) and pred.dtype == torch.uint8
    assert (pred[0, :2] == 1).all() and (pred[0, 2:] == 0).all()  # 0 (a, b) beats 2 (c)
    with pytest.raises(ConfigError, match="one grid"):
        MajorityAtlas(3).fit([a, np.zeros((1, 4, 4, 5), np.uint8)])
    with pytest.raises(ConfigError, match="fit"):
        MajorityAtlas(3).predict()
