"""InferencePanel: driven like a user (pick case, ROI, overlap, click Run)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medbench.errors import ConfigError
from medbench.tasks.segmentation import SegConfig, build_dataset, build_model, make_loaders, predict_volume
from medbench.transforms import labels_from_logits
from medbench.widgets.inference_panel import InferencePanel


@pytest.fixture(scope="module")
def setup():
    cfg = SegConfig(n_train=1, n_val=2, shape=(24, 24, 16), spacing=(16.0, 16.0, 20.0), channels=(8, 16),
                    strides=(2,), roi_size=(16, 16, 16), precision="fp32")
    data = build_dataset(cfg)
    _, _, val_ds = make_loaders(data, cfg)
    torch.manual_seed(0)
    model = build_model(data, cfg).eval()
    return cfg, data, model, val_ds


def test_panel_runs_selected_case_with_chosen_roi_and_overlap(setup):
    cfg, data, model, val_ds = setup
    hu = [np.asarray(c["image"][0]) for c in data.val]
    panel = InferencePanel(model, val_ds, data.structures, cfg.spacing, display_images=hu, precision="fp32",
                           roi_choices=("8x8x8", "24x24x16"), modality="ct")
    assert panel.roi.options[0] == "16x16x16"  # the model's own ROI comes first
    panel.case.value = 1
    panel.roi.value = "8x8x8"
    panel.overlap.value = 0.5
    panel.run_button.click()
    r = panel.last
    assert r["case"] == "phantom_002" and r["roi"] == (8, 8, 8) and r["overlap"] == 0.5
    assert r["n_windows"] == 5 * 5 * 3  # 24/4 steps -> 5 per axis, 16 -> 3 along z
    assert set(r["dice"]) == set(data.structures) and all(0 <= d <= 1 for d in r["dice"].values())
    assert r["prediction"].shape == (1, 24, 24, 16)
    # the prediction is the post-processed argmax of predict_volume with the same settings
    logits = predict_volume(model, val_ds[1]["image"], roi_size=(8, 8, 8), overlap=0.5, precision="fp32")
    assert torch.equal(r["prediction"], labels_from_logits(logits, data.n_classes))
    assert panel.viewer is not None and panel.viewer.compare and panel.viewer_box.children == (panel.viewer,)
    assert "phantom_002" in panel.status.value and "Dice" in panel.scores.value
    # a whole-volume ROI needs a single window
    panel.roi.value = "24x24x16"
    panel.run_button.click()
    assert panel.last["n_windows"] == 1 and len(panel.history) == 2
    assert isinstance(panel.viewer.to_png(), bytes)


def test_bad_roi_names_the_roi_and_empty_dataset(setup):
    cfg, data, model, val_ds = setup
    panel = InferencePanel(model, val_ds, data.structures, cfg.spacing, roi_choices=("4x4x4",))
    panel.roi.value = "4x4x4"
    with pytest.raises(ConfigError, match=r"ROI must be 3 integers >= 8 .*'4x4x4'"):
        panel.run()
    with pytest.raises(ConfigError, match="at least one case"):
        InferencePanel(setup[2], [], ("liver",))
