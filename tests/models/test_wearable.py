"""The tremor CNN (medbench.models.wearable)."""
from __future__ import annotations

import torch

from medbench.models.wearable import TremorCNN


def test_tremor_cnn_shapes_and_gravity_invariance():
    torch.manual_seed(0)
    model = TremorCNN(channels=16).eval()
    x = torch.randn(4, 3, 200) * 0.1
    out = model(x)
    assert out.shape == (4, 1)
    # a constant offset per axis (gravity) does not change the estimate
    torch.testing.assert_close(model(x + torch.tensor([0.0, 0.0, 1.0])[None, :, None]), out, rtol=1e-4, atol=1e-4)


def test_init_score_is_the_starting_output():
    model = TremorCNN(channels=8, init_score=1.7).eval()
    with torch.no_grad():
        model.head[-1].weight.zero_()
    torch.testing.assert_close(model(torch.randn(2, 3, 64)), torch.full((2, 1), 1.7))
