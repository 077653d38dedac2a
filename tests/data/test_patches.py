"""Tests of the 2D nodule patch simulator."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medbench.data.patches import PatchSet, nodule_patches
from medbench.data.phantom import HU_MEAN, HU_RANGES, make_ct_phantom, malignancy_probability
from medbench.errors import ConfigError


@pytest.fixture(scope="module")
def nod():
    return nodule_patches(n_patients=30, patches_per_patient=20, size=32, task="nodule", seed=0)


@pytest.fixture(scope="module")
def mal():
    return nodule_patches(n_patients=40, patches_per_patient=10, size=32, task="malignancy", seed=0)


def test_contract(nod):
    assert isinstance(nod, PatchSet)
    n = 30 * 20
    assert len(nod) == n
    assert nod.images.shape == (n, 1, 32, 32) and nod.images.dtype == np.float32
    assert nod.labels.shape == (n,) and nod.labels.dtype == np.int64
    assert nod.patient_ids.shape == (n,) and nod.patient_ids.dtype == np.int64
    assert isinstance(nod.meta, pd.DataFrame) and len(nod.meta) == n
    assert {"patient_id", "label", "diameter_mm"} <= set(nod.meta.columns)
    assert np.isfinite(nod.images).all()


def test_patient_ids(nod):
    assert set(nod.patient_ids.tolist()) == set(range(30))
    np.testing.assert_array_equal(np.bincount(nod.patient_ids), np.full(30, 20))
    np.testing.assert_array_equal(nod.meta["patient_id"].to_numpy(), nod.patient_ids)


def test_nodule_class_balance_about_one_to_three(nod):
    frac = nod.labels.mean()
    assert 0.17 < frac < 0.33
    assert set(nod.class_counts()) == {0, 1}


def test_labels_consistent_with_meta(nod, mal):
    m = nod.meta
    np.testing.assert_array_equal(m["label"].to_numpy(), nod.labels)
    assert (m.loc[m.label == 1, "diameter_mm"] >= 4).all()
    assert (m.loc[m.label == 0, "diameter_mm"] == 0).all()
    assert (m.loc[m.label == 0, "nodule_id"] == -1).all()
    assert (m.loc[m.label == 1, "margin"].isin(["smooth", "lobulated", "spiculated"])).all()
    mm = mal.meta
    assert (mm["has_nodule"]).all()
    np.testing.assert_array_equal(mm["malignant"].to_numpy(), mal.labels)
    np.testing.assert_allclose(mm["p_malignant"], malignancy_probability(mm["diameter_mm"], mm["spiculation"]))
    # a nodule keeps one identity: one patient, one size, one malignancy status
    g = mm.groupby("nodule_id")
    assert (g["patient_id"].nunique() == 1).all()
    assert (g["diameter_mm"].nunique() == 1).all()
    assert (g["malignant"].nunique() == 1).all()
    assert (mm["apparent_diameter_mm"] <= mm["diameter_mm"] + 1e-9).all()


def test_malignancy_by_size_and_margin(mal):
    m = mal.meta
    assert 0.15 < mal.labels.mean() < 0.6
    assert m.loc[m.label == 1, "diameter_mm"].mean() > m.loc[m.label == 0, "diameter_mm"].mean() + 2
    assert m.loc[m.label == 1, "spiculation"].mean() > m.loc[m.label == 0, "spiculation"].mean()
    from sklearn.metrics import roc_auc_score

    bayes = roc_auc_score(mal.labels, m["p_malignant"])
    assert 0.75 < bayes < 0.99  # learnable but not trivial


def test_images_hu_calibrated_and_nodules_visible(nod):
    img = nod.images[:, 0]
    c = img.shape[-1] // 2
    centre = img[:, c - 1:c + 2, c - 1:c + 2].mean(axis=(1, 2))
    pos, neg = nod.labels == 1, nod.labels == 0
    # nodules are soft-tissue dense at the centre; most negative centres are aerated lung
    assert np.median(centre[pos]) > -150
    lo, hi = HU_RANGES["lung_left"]
    assert lo - 50 < np.median(centre[neg]) < hi
    assert np.median(img[neg]) < -600
    assert img.min() >= -1024


def test_consistent_with_3d_phantom(nod):
    """Patches share the 3D phantom's calibration: lung parenchyma and solid nodule HU agree."""
    img = nod.images[:, 0]
    m = nod.meta
    c = img.shape[-1] // 2
    big = (m.label == 1) & (m.apparent_diameter_mm >= 8)
    centre = img[big.to_numpy(), c - 1:c + 2, c - 1:c + 2].mean(axis=(1, 2))
    assert abs(np.median(centre) - HU_MEAN["lung_nodule"]) < 40
    case = make_ct_phantom(seed=0, lesions=False)
    lung3d = np.median(case["image"][case["label"] == 3])
    lung2d = np.median(img[(m.label == 0).to_numpy()][:, c - 4:c + 4, c - 4:c + 4])
    assert abs(lung3d - lung2d) < 40


def test_deterministic_and_seed_dependent():
    a = nodule_patches(n_patients=4, patches_per_patient=6, seed=3)
    b = nodule_patches(n_patients=4, patches_per_patient=6, seed=3)
    c = nodule_patches(n_patients=4, patches_per_patient=6, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    pd.testing.assert_frame_equal(a.meta, b.meta)
    assert not np.array_equal(a.images, c.images)


def test_size_and_counts_honoured():
    ps = nodule_patches(n_patients=3, patches_per_patient=5, size=48, task="malignancy", seed=1)
    assert ps.images.shape == (15, 1, 48, 48)
    assert set(np.unique(ps.labels)) <= {0, 1}


def test_split_by_patient_has_no_leak(nod):
    tr, te = nod.split_by_patient(test_fraction=0.25, seed=0)
    assert len(tr) + len(te) == len(nod)
    assert not set(tr.patient_ids.tolist()) & set(te.patient_ids.tolist())
    assert len(te) > 0 and len(tr) > 0
    sub = nod.subset(nod.labels == 1)
    assert (sub.labels == 1).all() and len(sub.meta) == len(sub)


@pytest.mark.parametrize("kw", [dict(task="tumour"), dict(n_patients=0), dict(size=4), dict(seed=-1),
                                dict(patches_per_patient=2.5), dict(nodule_fraction=1.2)])
def test_bad_arguments(kw):
    with pytest.raises(ConfigError):
        nodule_patches(**kw)


def test_patient_depends_only_on_seed_and_index():
    """Issue 11: the scanner noise came from one generator over all patches, so patient 0
    changed with n_patients; each patient now draws from its own generator."""
    small = nodule_patches(n_patients=2, patches_per_patient=4, size=16, seed=7)
    large = nodule_patches(n_patients=5, patches_per_patient=4, size=16, seed=7)
    np.testing.assert_array_equal(small.images, large.images[:8])
    np.testing.assert_array_equal(small.labels, large.labels[:8])


def test_patch_features_centre_rule_and_sizes(nod):
    from medbench.data.patches import patch_features
    from medbench.metrics import auroc

    f = patch_features(nod.images, pixel_mm=nod.pixel_mm)
    assert list(f.columns) == ["centre_mean_hu", "mean_hu", "std_hu", "p95_hu", "dense_area_mm2",
                               "largest_blob_mm2"]
    assert len(f) == len(nod) and np.isfinite(f.to_numpy()).all()
    assert (f["largest_blob_mm2"] <= f["dense_area_mm2"]).all()
    # a blank lung patch has no dense area; a bright disc at the centre is found and measured
    blank = np.full((1, 1, 16, 16), -850.0, np.float32)
    disc = blank.copy()
    yy, xx = np.mgrid[:16, :16]
    disc[0, 0][(yy - 7.5) ** 2 + (xx - 7.5) ** 2 <= 16] = 40.0
    g = patch_features(np.concatenate([blank, disc]))
    assert g["dense_area_mm2"][0] == 0 and 40 < g["largest_blob_mm2"][1] < 70
    assert g["centre_mean_hu"][1] == pytest.approx(40.0)
    # the defect issue 11 names: with every nodule at the patch centre, the centre rule alone,
    # with no training, detects nodules almost perfectly
    assert auroc(nod.labels, f["centre_mean_hu"].to_numpy()) > 0.97
    with pytest.raises(ConfigError, match="images must be"):
        patch_features(np.zeros((3, 2, 2)))
