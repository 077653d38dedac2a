"""explain(): each method's attribution lands where a hand-built model's answer is known."""
import numpy as np
import pytest
import torch
from torch import nn

from medbench.errors import ConfigError, DataError
from medbench.metrics import mask_area_fraction, pointing_game, rank_correlation, relevance_mass
from medbench.tasks.explain import (
    GRADIENT_METHODS,
    METHODS,
    add_marker,
    cascading_randomisation,
    explain,
    marker_mask,
    randomisation_table,
    score_methods,
    superpixels,
)

SIZE = 24
REGION = (slice(14, 20), slice(4, 10))


def _region_mask(n):
    m = np.zeros((n, SIZE, SIZE), bool)
    m[(slice(None),) + REGION] = True
    return m


class LinearModel(nn.Module):
    """Logit of class 1 = sum of the pixels in REGION (weight 2); class 0's logit is 0."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(SIZE * SIZE, 2)
        w = torch.zeros(2, SIZE, SIZE)
        w[(1,) + REGION] = 2.0
        with torch.no_grad():
            self.lin.weight.copy_(w.reshape(2, -1))
            self.lin.bias.copy_(torch.tensor([0.0, -20.0]))

    def forward(self, x):
        return self.lin(x.flatten(1))


class RegionCNN(nn.Module):
    """A CNN whose only signal is REGION: the input is masked to it, then conv-ReLU-mean-linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)
        m = torch.zeros(1, 1, SIZE, SIZE)
        m[(0, 0) + REGION] = 1.0
        self.register_buffer("region", m)
        with torch.no_grad():
            self.conv.weight.fill_(0.2)
            self.conv.bias.zero_()
            self.head.weight.copy_(torch.tensor([[-1.0] * 4, [1.0] * 4]))
            self.head.bias.copy_(torch.tensor([0.0, -0.3]))

    def forward(self, x):
        return self.head(torch.relu(self.conv(x * self.region)).mean((2, 3)))


def _images(n=4, seed=0):
    """Background 0.2 with noise, a bright square in REGION and an identical distractor elsewhere."""
    rng = np.random.default_rng(seed)
    x = (0.2 + 0.05 * rng.standard_normal((n, 1, SIZE, SIZE))).astype(np.float32)
    x[(slice(None), 0) + REGION] += 0.5
    x[:, 0, 2:8, 14:20] += 0.5
    return x


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: threads only contend


@pytest.mark.parametrize("method", [m for m in METHODS if "gradcam" not in m])
def test_linear_model_attribution_lands_in_its_region(method):
    x, masks = _images(), _region_mask(4)
    a = explain(LinearModel(), x, method, n_samples=60, n_segments=16)
    assert a.shape == x.shape and a.dtype == np.float32
    # the distractor looks the same as the region: only the weights tell them apart. Gradients are
    # exact here; occlusion smears its window and LIME/KernelSHAP their superpixels over the edge.
    assert relevance_mass(a, masks) > (0.9 if method in GRADIENT_METHODS else 0.5), method
    if method not in ("lime", "kernel_shap"):  # superpixels tie whole segments, which can straddle the edge
        assert pointing_game(a, masks) == 1.0, method


def test_linear_model_integrated_gradients_completeness():
    """IG from a zero baseline sums to logit(x) - logit(0) for a linear model (exactly)."""
    x = _images(2)
    net = LinearModel()
    a = explain(net, x, "integrated_gradients", n_steps=8)
    with torch.no_grad():
        gap = net(torch.from_numpy(x))[:, 1] - net(torch.zeros(1, 1, SIZE, SIZE))[:, 1]
    np.testing.assert_allclose(a.reshape(2, -1).sum(1), gap.numpy(), rtol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_region_cnn_each_method_points_at_the_region(method):
    x, masks = _images(), _region_mask(4)
    a = explain(RegionCNN(), x, method, n_samples=60, n_segments=16, window=4, batch_size=3)
    assert a.shape == x.shape
    assert relevance_mass(a, masks) > 3 * mask_area_fraction(masks), method
    if method not in ("lime", "kernel_shap"):
        assert pointing_game(a, masks) == 1.0, method


def test_score_methods_table():
    x, masks = _images(), _region_mask(4)
    table, maps = score_methods(RegionCNN(), x, masks, ("saliency", "occlusion"), window=4)
    assert list(table.index) == ["saliency", "occlusion"]
    assert set(table.columns) == {"pointing_game", "relevance_mass", "mass_over_chance", "seconds_per_image"}
    assert (table["mass_over_chance"] > 3).all() and maps["occlusion"].shape == x.shape


def test_errors_name_the_problem():
    with pytest.raises(ConfigError, match="method must be one of"):
        explain(RegionCNN(), _images(1), "shap")
    with pytest.raises(ConfigError, match="convolution"):
        explain(LinearModel(), _images(1), "gradcam")
    with pytest.raises(ConfigError, match="not a module"):
        explain(RegionCNN(), _images(1), "gradcam", layer="nope")
    with pytest.raises(DataError):
        explain(RegionCNN(), np.zeros((2, 2, 2, 2, 2)), "saliency")


def test_superpixels_fall_back_to_a_grid_on_flat_images():
    seg = superpixels(torch.zeros(1, 1, 16, 16), n_segments=16)
    assert seg.shape == (1, 1, 16, 16) and len(torch.unique(seg)) == 16
    seg = superpixels(torch.from_numpy(_images(1)), n_segments=16)
    assert len(torch.unique(seg)) >= 4


def test_randomisation_changes_a_gradient_map():
    from medbench.models import make_model

    torch.manual_seed(0)
    net = make_model("small_cnn", spatial_dims=2, in_channels=1, num_classes=2).eval()
    steps = cascading_randomisation(net, seed=1)
    assert [n for n, _ in steps][0].startswith("classifier") and len(steps) == 4
    x = _images(3)
    table = randomisation_table(net, x, ("saliency",), seed=1)
    assert table.shape == (4, 1)
    assert table["saliency"].iloc[-1] < 0.6  # the fully randomised net's map is another map
    # the original network is untouched
    before = explain(net, x, "saliency")
    np.testing.assert_allclose(before, explain(net, x, "saliency"))
    assert rank_correlation(before, explain(steps[-1][1], x, "saliency")) < 0.6


def test_marker_is_burned_in_where_asked_and_read_by_a_marker_model():
    x = np.full((3, 1, SIZE, SIZE), -800.0, np.float32)
    y = add_marker(x, np.array([True, False, True]))
    assert (y[1] == x[1]).all() and (x == -800.0).all()  # a copy; unmarked images unchanged
    bright = y[0, 0] > 0
    assert bright.sum() == 17 and (bright <= marker_mask(SIZE)).all()  # ring of a 5x5 square and its centre
    with pytest.raises(DataError):
        add_marker(x, np.array([True]))

    class MarkerModel(nn.Module):  # reads only the marker box
        def forward(self, z):
            box = torch.from_numpy(marker_mask(SIZE))
            s = (z[:, 0] * box).sum((1, 2)) / 1000.0
            return torch.stack([-s, s], 1)

    mm = np.broadcast_to(marker_mask(SIZE), (2, SIZE, SIZE))
    for method in ("integrated_gradients", "occlusion"):
        a = explain(MarkerModel(), y[[0, 2]], method, baseline=-1000.0, window=3, stride=1)
        assert relevance_mass(a, mm) > 0.9, method


def test_patch_simulator_exposes_each_nodules_mask():
    """The truth chapter 07 scores against: data.patches masks (backward-compatible field)."""
    from medbench.data.patches import nodule_patches

    ps = nodule_patches(n_patients=4, patches_per_patient=8, size=32, task="nodule", seed=3)
    assert ps.masks.shape == (32, 32, 32) and ps.masks.dtype == bool
    has = ps.meta["has_nodule"].to_numpy()
    assert (ps.masks.reshape(32, -1).any(1) == has).all()
    # the mask is where the nodule is: denser than the lung around it
    img = ps.images[has, 0]
    inside = img[ps.masks[has]].mean()
    outside = img[~ps.masks[has]].mean()
    assert inside > outside + 300
    sub = ps.subset(np.flatnonzero(has))
    assert sub.masks.shape[0] == int(has.sum()) and sub.masks.any(axis=(1, 2)).all()


def test_shortcut_experiment_catches_a_perfect_marker_and_its_control_ignores_it():
    """A CNN trained with the marker on every positive leans on it (mass on the marker, AUROC drop
    when it is removed); the control, trained with an uninformative marker, does not."""
    from medbench.data.patches import nodule_patches
    from medbench.tasks.classification import ImageClassifier, Split
    from medbench.tasks.explain import shortcut_experiment

    torch.set_num_threads(1)
    ps = nodule_patches(n_patients=16, patches_per_patient=12, size=32, task="malignancy", seed=7)
    tr, te = ps.split_by_patient(test_fraction=0.3, seed=0)
    sc = shortcut_experiment(ImageClassifier("small_cnn", epochs=3, seed=0, intensity_range=(-1000.0, 800.0)),
                             Split(tr.images, tr.labels, tr.patient_ids), Split(te.images, te.labels, te.patient_ids),
                             p_marker=(0.0, 1.0), p_marker_clean=0.5, n_explain=8, n_boot=50,
                             explain_kw={"window": 4, "stride": 2})
    assert sc["auroc_with_marker"] > 0.8 and sc["drop_ci_low"] > 0.0
    # a 3-epoch net on 16 patients: the mass is already several times the marker's area (chance)
    assert sc["shortcut_attribution_on_marker"] > 2 * sc["marker_area_fraction"] > sc["clean_attribution_on_marker"]
    assert (sc["labels"] == 1).all() and sc["maps_shortcut"].shape == sc["images"].shape
    with pytest.raises(ConfigError, match="p_marker_clean"):
        shortcut_experiment(None, tr, te, p_marker_clean=1.5)
