"""WhyPanel: plain-Python state drives the explanation shown."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from medbench.errors import ConfigError
from medbench.tasks.explain_tabular import EHRExplanations
from medbench.widgets import WhyPanel


class Bright(nn.Module):
    """Class-1 logit = mean of the top-left 8x8 block (images in [0, 1])."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x):
        s = self.scale * (x[:, 0, :8, :8].mean((1, 2)) - 0.3)
        return torch.stack([-s, s], 1)


def test_patch_mode_updates_on_case_and_method():
    torch.set_num_threads(1)
    x = np.full((3, 1, 16, 16), 0.1, np.float32)
    x[:, :, 2:6, 2:6] = 0.9
    masks = np.zeros((3, 16, 16), bool)
    masks[:, 2:6, 2:6] = True
    masks[2] = False
    p = WhyPanel(Bright(), x, masks, methods=("saliency", "occlusion"), explain_kw={"window": 3, "stride": 1})
    assert bytes(p.image.value[:4]) == b"\x89PNG" and "relevance inside it" in p.caption.value
    p.method.value = "occlusion"
    assert p.attribution(0, "occlusion").shape == (1, 16, 16)
    p.case.value = 2
    assert "nothing to point at" in p.caption.value
    with pytest.raises(ConfigError):
        WhyPanel(Bright(), x, masks, methods=("nope",))
    with pytest.raises(ConfigError):
        WhyPanel()


def test_ehr_mode_shows_the_true_top_factors():
    truth = pd.DataFrame({"age": [1.0, -0.2], "sbp": [0.5, 2.0], "hdl": [-0.1, 0.3], "hr": [0.0, 0.0]})
    per = {"shap": truth * 0.9, "ig": truth[::-1].reset_index(drop=True)}
    ehr = EHRExplanations(truth, per, pd.DataFrame(), pd.DataFrame(), np.array([10, 11]),
                          {"shap": np.array([0.2, 0.7])})
    p = WhyPanel(ehr=ehr, methods=("shap", "ig", "permutation"))
    assert list(p.method.options) == ["shap", "ig"]
    assert "patient 10" in p.caption.value and "age, sbp, hdl" in p.caption.value
    p.case.value = 1
    assert "patient 11" in p.caption.value and p.caption.value.index("sbp") < p.caption.value.index("hdl")
