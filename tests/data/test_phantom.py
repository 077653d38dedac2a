"""Tests of the 3D CT phantom: determinism, calibration, labels, lesions, geometry."""
from __future__ import annotations

import numpy as np
import pytest

from medbench.data.phantom import (
    HU_CONTRAST,
    HU_RANGES,
    PHANTOM_LABELS,
    label_statistics,
    make_ct_cohort,
    make_ct_phantom,
    malignancy_probability,
    nodule_directions,
    nodule_occupancy,
    sample_nodule,
)
from medbench.errors import ConfigError, MedbenchError

SMALL = dict(shape=(64, 64, 40), spacing=(6.0, 6.0, 8.0))


@pytest.fixture(scope="module")
def case():
    return make_ct_phantom(seed=0)


def test_keys_types_and_shapes(case):
    assert set(case) >= {"image", "label", "spacing", "affine", "lesions"}
    assert case["image"].shape == (96, 96, 64) and case["image"].dtype == np.float32
    assert case["label"].shape == (96, 96, 64) and case["label"].dtype == np.uint8
    assert case["spacing"] == (4.0, 4.0, 5.0)
    aff = case["affine"]
    assert aff.shape == (4, 4)
    np.testing.assert_allclose(np.diag(aff)[:3], case["spacing"])
    # the volume is centred on the origin
    centre = aff @ np.array([(96 - 1) / 2, (96 - 1) / 2, (64 - 1) / 2, 1.0])
    np.testing.assert_allclose(centre[:3], 0.0, atol=1e-9)
    assert np.isfinite(case["image"]).all()
    assert set(np.unique(case["label"])) <= set(PHANTOM_LABELS.values())


def test_every_structure_present(case):
    present = set(np.unique(case["label"]).tolist())
    for name in ("background", "body", "fat", "lung_left", "lung_right", "heart", "liver", "spleen",
                 "kidney_left", "kidney_right", "bone", "aorta", "airway"):
        assert PHANTOM_LABELS[name] in present, name


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_labels_match_calibrated_intensities(seed):
    c = make_ct_phantom(seed=seed)
    stats = label_statistics(c).set_index("label")
    for name, (lo, hi) in HU_RANGES.items():
        med = stats.loc[name, "median_hu"]
        assert lo <= med <= hi, f"{name}: median {med:.1f} HU outside [{lo}, {hi}] (seed {seed})"
    # air outside the body, far from it, is -1000 HU
    air = c["image"][c["label"] == PHANTOM_LABELS["background"]]
    assert abs(np.median(air) + 1000.0) < 5.0
    # contrast ordering a radiologist expects: fat < water-like < liver; lung far below fat
    assert stats.loc["lung_left", "median_hu"] < stats.loc["fat", "median_hu"] < stats.loc["kidney_left", "median_hu"]
    assert stats.loc["spleen", "median_hu"] < stats.loc["liver", "median_hu"]


def test_anatomy_sides_follow_ras(case):
    """+x is the patient's right: liver and right lung at +x, spleen and left lung at -x; spine posterior."""
    lab = case["label"]
    xs = np.arange(lab.shape[0]) - (lab.shape[0] - 1) / 2
    ys = np.arange(lab.shape[1]) - (lab.shape[1] - 1) / 2

    def cx(name):
        return xs[np.nonzero(lab == PHANTOM_LABELS[name])[0]].mean()

    def cy(name):
        return ys[np.nonzero(lab == PHANTOM_LABELS[name])[1]].mean()

    assert cx("liver") > 0 and cx("lung_right") > 0 and cx("kidney_right") > 0
    assert cx("spleen") < 0 and cx("lung_left") < 0 and cx("kidney_left") < 0 and cx("heart") < 0
    assert cy("bone") < cy("heart")
    zs = np.arange(lab.shape[2])
    lung_z = zs[np.nonzero(lab == PHANTOM_LABELS["lung_right"])[2]].mean()
    liver_z = zs[np.nonzero(lab == PHANTOM_LABELS["liver"])[2]].mean()
    assert lung_z > liver_z  # lungs above the diaphragm


def test_organ_volumes_plausible(case):
    st = label_statistics(case).set_index("label")
    assert 800 < st.loc["liver", "volume_ml"] < 3500
    assert 1000 < st.loc["lung_left", "volume_ml"] + st.loc["lung_right", "volume_ml"] < 7000
    assert 50 < st.loc["kidney_left", "volume_ml"] < 400


def test_deterministic_by_seed():
    a = make_ct_phantom(seed=3, **SMALL)
    b = make_ct_phantom(seed=3, **SMALL)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["label"], b["label"])
    assert a["lesions"] == b["lesions"]


def test_different_seeds_differ_in_anatomy():
    a = make_ct_phantom(seed=1, **SMALL)
    b = make_ct_phantom(seed=2, **SMALL)
    # not only the noise: the labels (anatomy) differ
    assert (a["label"] != b["label"]).mean() > 0.01
    la = (a["label"] == PHANTOM_LABELS["liver"]).sum()
    lb = (b["label"] == PHANTOM_LABELS["liver"]).sum()
    assert la != lb


def test_variation_zero_gives_same_anatomy():
    a = make_ct_phantom(seed=1, lesions=False, variation=0.0, **SMALL)
    b = make_ct_phantom(seed=2, lesions=False, variation=0.0, **SMALL)
    # organs are identical; only the random intra-abdominal fat blobs (fat vs body) and the noise differ
    soft = (PHANTOM_LABELS["body"], PHANTOM_LABELS["fat"])
    la = np.where(np.isin(a["label"], soft), 1, a["label"])
    lb = np.where(np.isin(b["label"], soft), 1, b["label"])
    np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(a["image"], b["image"])


@pytest.mark.parametrize("shape,spacing", [((48, 40, 32), (8.0, 9.0, 10.0)), ((80, 80, 24), (4.8, 4.8, 13.0))])
def test_shape_and_spacing_honoured(shape, spacing):
    c = make_ct_phantom(shape=shape, spacing=spacing, seed=0)
    assert c["image"].shape == shape and c["label"].shape == shape
    assert c["spacing"] == spacing
    np.testing.assert_allclose(np.diag(c["affine"])[:3], spacing)


def test_physical_size_independent_of_spacing():
    """Same field of view at two resolutions: organ volumes in ml agree."""
    coarse = make_ct_phantom(shape=(48, 48, 32), spacing=(8.0, 8.0, 10.0), seed=4, lesions=False)
    fine = make_ct_phantom(shape=(96, 96, 64), spacing=(4.0, 4.0, 5.0), seed=4, lesions=False)
    vc = label_statistics(coarse).set_index("label")["volume_ml"]
    vf = label_statistics(fine).set_index("label")["volume_ml"]
    for name in ("liver", "lung_right", "heart"):
        assert abs(vc[name] - vf[name]) / vf[name] < 0.15, name


def test_lesions_absent_when_not_asked():
    c = make_ct_phantom(seed=5, lesions=False, **SMALL)
    assert c["lesions"] == []
    assert not (c["label"] == PHANTOM_LABELS["lesion"]).any()


def test_lesions_present_as_asked():
    c = make_ct_phantom(seed=5, n_lung_nodules=3, n_liver_lesions=2)
    kinds = [les["kind"] for les in c["lesions"]]
    assert kinds.count("lung_nodule") == 3 and kinds.count("liver_lesion") == 2
    lab, img = c["label"], c["image"]
    for les in c["lesions"]:
        assert set(les) >= {"kind", "centre_vox", "radius_mm", "malignant"}
        assert isinstance(les["malignant"], bool)
        assert les["n_voxels"] >= 1
        i, j, k = les["centre_vox"]
        # the lesion's centre is labelled lesion; a lung nodule is much denser than lung
        assert lab[i, j, k] == PHANTOM_LABELS["lesion"]
        if les["kind"] == "lung_nodule" and les["n_voxels"] >= 8:
            assert img[i, j, k] > -500
    assert (lab == PHANTOM_LABELS["lesion"]).sum() == sum(les["n_voxels"] for les in c["lesions"])


def test_warns_when_lesions_do_not_fit():
    with pytest.warns(UserWarning, match="lung nodules"):
        c = make_ct_phantom(shape=(24, 24, 8), spacing=(2.0, 2.0, 2.0), seed=0, n_lung_nodules=3, n_liver_lesions=0)
    assert len(c["lesions"]) < 3


def test_liver_lesions_are_hypodense():
    c = make_ct_phantom(seed=11, n_lung_nodules=0, n_liver_lesions=2, noise_hu=0.0)
    assert len(c["lesions"]) == 2
    for les in c["lesions"]:
        assert les["organ"] == "liver"
        assert c["image"][les["centre_vox"]] < 50.0


def test_contrast_raises_blood_and_liver():
    plain = label_statistics(make_ct_phantom(seed=2, lesions=False, **SMALL)).set_index("label")
    enh = label_statistics(make_ct_phantom(seed=2, lesions=False, contrast=True, **SMALL)).set_index("label")
    assert enh.loc["aorta", "median_hu"] > plain.loc["aorta", "median_hu"] + 80
    assert abs(enh.loc["aorta", "median_hu"] - HU_CONTRAST["aorta"]) < 30
    assert enh.loc["liver", "median_hu"] > plain.loc["liver", "median_hu"] + 25


def test_noise_level_honoured():
    c = make_ct_phantom(seed=0, lesions=False, noise_hu=8.0, **SMALL)
    air = c["image"][:4, :4, :]  # corner: pure air (clipping at -1024 is 3 sd away at 8 HU)
    assert 6.5 < air.std() < 9.5
    quiet = make_ct_phantom(seed=0, lesions=False, noise_hu=0.0, **SMALL)
    np.testing.assert_allclose(quiet["image"][:4, :4, :], -1000.0)


def test_malignancy_model():
    assert malignancy_probability(25, 0.9) > 0.9
    assert malignancy_probability(5, 0.1) < 0.1
    d = sample_nodule(np.random.default_rng(0), 4000)
    assert d["diameter_mm"].min() >= 4 and d["diameter_mm"].max() <= 32
    m = d["malignant"]
    assert 0.15 < m.mean() < 0.6
    assert d["diameter_mm"][m].mean() > d["diameter_mm"][~m].mean() + 2
    assert d["spiculation"][m].mean() > d["spiculation"][~m].mean()


def test_spiculated_nodule_has_rougher_margin():
    g = np.linspace(-20, 20, 81)
    dx, dy, dz = np.meshgrid(g, g, g, indexing="ij")
    dirs = nodule_directions(np.random.default_rng(0))
    smooth = nodule_occupancy(dx, dy, dz, 6.0, 0.0, dirs) > 0.5
    spic = nodule_occupancy(dx, dy, dz, 6.0, 1.0, dirs) > 0.5
    # a sphere of radius 6 mm: volume ~ 905 mm^3 at 0.5 mm voxels -> 7238 voxels
    assert abs(smooth.sum() * 0.125 - 4 / 3 * np.pi * 6 ** 3) / (4 / 3 * np.pi * 6 ** 3) < 0.05
    r = np.sqrt(dx ** 2 + dy ** 2 + dz ** 2)
    assert r[spic].max() > 1.5 * r[smooth].max()  # spikes reach far out


def test_cohort_deterministic_and_distinct():
    a = make_ct_cohort(3, seed=0, **SMALL)
    b = make_ct_cohort(3, seed=0, **SMALL)
    assert [c["case_id"] for c in a] == [0, 1, 2]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["image"], y["image"])
    assert not np.array_equal(a[0]["label"], a[1]["label"])
    c = make_ct_cohort(2, seed=1, **SMALL)
    assert not np.array_equal(a[0]["image"], c[0]["image"])


@pytest.mark.parametrize("kw", [dict(shape=(4, 64, 64)), dict(spacing=(0, 1, 1)), dict(seed=-1),
                                dict(shape=(64, 64)), dict(n_lung_nodules=-2), dict(seed=1.5)])
def test_bad_arguments_raise(kw):
    with pytest.raises(ConfigError):
        make_ct_phantom(**kw)
    with pytest.raises(MedbenchError):
        make_ct_phantom(**kw)


def test_cohort_bad_n():
    with pytest.raises(ConfigError):
        make_ct_cohort(0)


def test_plot_phantom_montage(case):
    import matplotlib.pyplot as plt

    from medbench.plots.phantom import plot_lesions, plot_phantom

    fig = plot_phantom(case, n_slices=3)
    assert len(fig.axes) == 6
    plt.close(fig)
    fig = plot_lesions(case)
    assert len(fig.axes) == max(len(case["lesions"]), 1)
    plt.close(fig)
    fig = plot_lesions(make_ct_phantom(seed=0, lesions=False, **SMALL))
    plt.close(fig)


def test_tissue_table_lives_in_phantom_module():
    """Patches and figures use the phantom's tables (HU_MEAN, PHANTOM_LABELS), not copies."""
    import medbench.data.patches as patches
    import medbench.data.phantom as phantom
    from medbench.plots import display

    assert patches.HU_MEAN is phantom.HU_MEAN
    assert set(display.PHANTOM_COLORS) <= set(phantom.PHANTOM_LABELS.values())
