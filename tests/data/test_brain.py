"""Tests of the MNI152 brain (nilearn, offline) and its random deformations."""
from __future__ import annotations

import numpy as np
import pytest

from medbench.data.brain import BRAIN_LABELS, deformed_brain, load_mni152, make_brain_cohort
from medbench.errors import ConfigError

SMALL = dict(shape=(48, 56, 48))
CLEAN = dict(bias_strength=0.0, gamma_std=0.0, tissue_contrast_std=0.0, noise_std=0.0)
RIGID_OFF = dict(elastic_mm=0.0, rotate_deg=0.0, scale=0.0, translate_mm=0.0)


@pytest.fixture(scope="module")
def mni():
    return load_mni152(with_probabilities=True)


def test_mni152_loads_offline_with_metadata(mni):
    assert mni["image"].shape == (197, 233, 189) and mni["image"].dtype == np.float32
    assert mni["label"].shape == mni["image"].shape and mni["label"].dtype == np.uint8
    assert mni["spacing"] == (1.0, 1.0, 1.0)
    assert mni["affine"].shape == (4, 4)
    # MNI origin (0, 0, 0) lies inside the volume
    ijk = np.linalg.solve(mni["affine"], [0, 0, 0, 1])[:3]
    assert np.all(ijk > 0) and np.all(ijk < np.array(mni["image"].shape))
    assert 0.0 <= mni["image"].min() and mni["image"].max() <= 1.0


def test_labels_are_argmax_of_probabilities(mni):
    prob = mni["probabilities"]
    assert prob.shape == (4,) + mni["image"].shape
    np.testing.assert_array_equal(np.argmax(prob, axis=0), mni["label"])
    np.testing.assert_allclose(prob.sum(0), 1.0, atol=1e-5)


def test_tissue_proportions_plausible(mni):
    lab = mni["label"]
    vol = {name: (lab == i).sum() / 1000.0 for name, i in BRAIN_LABELS.items()}  # ml at 1 mm
    brain = vol["csf_other"] + vol["grey_matter"] + vol["white_matter"]
    assert 1300 < brain < 2300, vol
    assert 0.4 < vol["grey_matter"] / brain < 0.7, vol
    assert 0.25 < vol["white_matter"] / brain < 0.5, vol
    assert vol["csf_other"] > 20


def test_t1_contrast_ordering(mni):
    img, lab = mni["image"], mni["label"]
    med = [np.median(img[lab == i]) for i in range(4)]
    assert med[0] < med[1] < med[2] < med[3]  # T1: background < CSF < GM < WM


def test_load_returns_copies(mni):
    a = load_mni152()
    a["image"][:] = 0
    assert load_mni152()["image"].max() > 0


def test_identity_transform_reproduces_template(mni):
    d = deformed_brain(seed=0, **RIGID_OFF, **CLEAN)
    shp = d["image"].shape
    # locate the crop through the affine: output voxel 0 -> template voxel
    ijk0 = np.rint(np.linalg.solve(mni["affine"], d["affine"] @ [0, 0, 0, 1])[:3]).astype(int)
    box = tuple(slice(a, a + n) for a, n in zip(ijk0, shp))
    np.testing.assert_allclose(d["image"], mni["image"][box], atol=1e-5)
    np.testing.assert_array_equal(d["label"], mni["label"][box])
    assert (d["label"] > 0).sum() == (mni["label"] > 0).sum()  # the crop keeps the whole brain


def _alignment(img, lab):
    """Correlation of the image with the label map painted with per-label median intensity."""
    med = np.array([np.median(img[lab == i]) for i in range(4)])
    return np.corrcoef(img.ravel(), med[lab].ravel())[0, 1]


def test_deformation_keeps_labels_aligned():
    d = deformed_brain(seed=3, **SMALL, **CLEAN)
    img, lab = d["image"], d["label"]
    r = _alignment(img, lab)
    assert r > 0.9
    # the same labels shifted by 2 voxels fit clearly worse: alignment is voxel-accurate
    assert r - _alignment(img, np.roll(lab, 2, axis=0)) > 0.03
    med = [np.median(img[lab == i]) for i in range(4)]
    assert med[0] < med[1] < med[2] < med[3]


def test_deformation_changes_geometry_but_keeps_proportions():
    a = deformed_brain(seed=1, **SMALL, **CLEAN)
    b = deformed_brain(seed=2, **SMALL, **CLEAN)
    assert (a["label"] != b["label"]).mean() > 0.05
    for d in (a, b):
        frac = np.bincount(d["label"].ravel(), minlength=4) / d["label"].size
        brain = frac[1:].sum()
        assert 0.4 < frac[2] / brain < 0.7 and 0.25 < frac[3] / brain < 0.5


def test_deterministic_by_seed_and_seeds_differ():
    a = deformed_brain(seed=5, **SMALL)
    b = deformed_brain(seed=5, **SMALL)
    c = deformed_brain(seed=6, **SMALL)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["label"], b["label"])
    assert not np.array_equal(a["image"], c["image"])


def test_shape_zoom_and_spacing():
    d = deformed_brain(seed=0, shape=(40, 48, 44))
    assert d["image"].shape == (40, 48, 44) == d["label"].shape
    assert d["image"].dtype == np.float32 and d["label"].dtype == np.uint8
    # spacing * shape = the cropped template's extent (same for any output shape)
    e = deformed_brain(seed=0, zoom=0.25)
    ext_d = np.array(d["spacing"]) * d["image"].shape
    ext_e = np.array(e["spacing"]) * e["image"].shape
    np.testing.assert_allclose(ext_d, ext_e, rtol=1e-6)
    assert all(3.8 < s < 4.2 for s in e["spacing"])
    np.testing.assert_allclose(np.abs(np.diag(d["affine"])[:3]), d["spacing"])


def test_intensity_corruptions_change_image_not_labels():
    clean = deformed_brain(seed=4, **SMALL, **CLEAN)
    noisy = deformed_brain(seed=4, **SMALL)
    np.testing.assert_array_equal(clean["label"], noisy["label"])
    assert np.abs(clean["image"] - noisy["image"]).mean() > 0.01
    bg = noisy["image"][noisy["label"] == 0]
    assert bg.std() > 0.005  # Rician noise in the background
    assert (noisy["image"] >= 0).all()


def test_tissue_contrast_changes_gm_wm_ratio():
    base = deformed_brain(seed=2, **SMALL, **CLEAN)
    kw = {**CLEAN, "tissue_contrast_std": 0.3}
    new = deformed_brain(seed=2, **SMALL, **kw)
    np.testing.assert_array_equal(base["label"], new["label"])  # same geometry
    a, b = new["params"]["tissue_factors"]

    def ratio(d):
        img, lab = d["image"], d["label"]
        return np.median(img[lab == 3]) / np.median(img[lab == 2])

    expected = ratio(base) * (1 + b) / (1 + a)
    assert abs(ratio(new) - expected) / expected < 0.1


def test_cohort():
    cases = make_brain_cohort(2, seed=0, shape=(32, 32, 32))
    assert [c["case_id"] for c in cases] == [0, 1]
    assert not np.array_equal(cases[0]["label"], cases[1]["label"])


@pytest.mark.parametrize("kw", [dict(seed=-1), dict(shape=(4, 4, 4)), dict(shape=(32, 32)),
                                dict(zoom=5.0), dict(shape=(32, 32, 32), zoom=0.5), dict(noise_std=-1.0)])
def test_bad_arguments(kw):
    with pytest.raises(ConfigError):
        deformed_brain(**kw)


def test_plot_brain():
    import matplotlib.pyplot as plt

    from medbench.plots.phantom import plot_brain

    fig = plot_brain(deformed_brain(seed=0, shape=(32, 32, 32)), n_slices=2)
    assert len(fig.axes) == 6
    plt.close(fig)
