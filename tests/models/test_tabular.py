"""TabularMLP: shapes, no in-place activations, no BatchNorm (DP-SGD ready)."""
from __future__ import annotations

import torch
from torch import nn

from medbench.models.tabular import TabularMLP


def test_tabular_mlp():
    m = TabularMLP(7, hidden=(16, 8), num_outputs=1)
    assert m(torch.zeros(5, 7)).shape == (5, 1)
    assert not any(getattr(x, "inplace", False) for x in m.modules())
    assert not any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in m.modules())
