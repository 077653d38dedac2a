"""Transform presets: CT windows, MRI normalisation, RAS/spacing, train/eval pipelines."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medbench import transforms as T
from medbench.errors import ConfigError


def _case(shape=(48, 40, 32), seed=0):
    rng = np.random.default_rng(seed)
    img = rng.normal(-850, 30, shape).astype(np.float32)  # lung-like background
    lab = np.zeros(shape, np.uint8)
    lab[10:18, 12:20, 8:14] = 1  # a small "organ": ~1 % of the volume
    img[lab == 1] = 60.0 + rng.normal(0, 10, int(lab.sum()))
    return {"image": img, "label": lab, "affine": np.diag([2.0, 2.0, 3.0, 1.0]), "spacing": (2.0, 2.0, 3.0)}


def test_window_presets_match_cited_values():
    expected = {"lung": (1500, -600), "mediastinum": (350, 50), "bone": (1800, 400), "brain": (80, 40),
                "liver": (150, 30), "soft_tissue": (400, 50)}
    assert {k: (w.width, w.level) for k, w in T.CT_WINDOWS.items()} == expected
    assert "radiopaedia" in T.__doc__.lower() and "radiopaedia" in T.WINDOW_SOURCE.lower()
    lung = T.get_window("lung")
    assert (lung.lower, lung.upper) == (-1350, 150)
    assert T.get_window("Soft tissue") is T.CT_WINDOWS["soft_tissue"]
    assert T.get_window((80, 40)).name == "custom"
    assert T.get_window({"width": 10, "level": 0}).width == 10


@pytest.mark.parametrize("bad", ["spleen", (0, 40), (-10, 0), (float("nan"), 0), {"width": 1}, 5])
def test_bad_windows_raise(bad):
    with pytest.raises(ConfigError):
        T.get_window(bad)


def test_apply_window_maps_and_clips():
    hu = np.array([-2000, -1350, -600, 150, 3000], np.float32)
    out = T.apply_window(hu, "lung")
    assert np.allclose(out, [0, 0, 0.5, 1, 1])
    u8 = T.apply_window(hu, (1500, -600), out_range=(0, 255), dtype=np.uint8)
    assert u8.dtype == np.uint8 and u8.tolist() == [0, 0, 127, 255, 255]
    assert np.allclose(T.apply_window(torch.as_tensor(hu), "lung"), out)


def test_ct_window_transform_equals_apply_window():
    case = _case()
    d = T.ct_window("image", "liver")({"image": case["image"][None]})
    assert np.allclose(np.asarray(d["image"][0]), T.apply_window(case["image"], "liver"), atol=1e-6)


def test_mri_zscore_and_percentile():
    rng = np.random.default_rng(0)
    img = np.zeros((1, 20, 20, 10), np.float32)
    img[:, 5:15, 5:15] = rng.gamma(3.0, 50.0, (1, 10, 10, 10))
    z = np.asarray(T.mri_zscore()({"image": img})["image"])
    brain = img != 0
    assert abs(z[brain].mean()) < 1e-4 and z[brain].std() == pytest.approx(1.0, rel=1e-3)
    assert (z[~brain] == 0).all(), "background stays zero with nonzero=True"
    p = np.asarray(T.mri_percentile(lower=1, upper=99)({"image": img})["image"])
    assert p.min() == 0 and p.max() == 1
    assert (p == 1).mean() == pytest.approx(0.01, abs=0.003), "the top 1 % of voxels saturate"
    with pytest.raises(ConfigError):
        T.mri_percentile(lower=50, upper=10)
    with pytest.raises(ConfigError):
        T.intensity_preset("pet")
    with pytest.raises(ConfigError):
        T.intensity_preset("mri", mri_norm="minmax")


def test_reorient_to_ras_and_resample():
    case = _case()
    lps = {"image": case["image"][::-1, ::-1].copy(), "label": case["label"][::-1, ::-1].copy(),
           "affine": np.diag([-2.0, -2.0, 3.0, 1.0])}
    mt = T.case_to_metatensors(lps)
    assert mt["image"].shape == (1, 48, 40, 32) and np.allclose(mt["image"].affine, lps["affine"])
    out = T.reorient_resample(pixdim=(4.0, 4.0, 3.0))(mt)
    assert np.allclose(np.diag(out["image"].affine)[:3], [4, 4, 3]), "RAS: positive diagonal, new spacing"
    assert out["image"].shape == (1, 24, 20, 32) and out["label"].shape == (1, 24, 20, 32)
    assert set(np.unique(np.asarray(out["label"]))) <= {0, 1}, "labels use nearest interpolation"
    ras = T.reorient_resample()(T.case_to_metatensors(case))
    back = T.reorient_resample()(mt)
    assert np.array_equal(np.asarray(ras["label"]), np.asarray(back["label"])), "LPS storage -> same RAS array"
    with pytest.raises(ConfigError):
        T.reorient_resample(keys=("image", "label"), modes=("bilinear",))


def test_train_pipeline_3d_label_balanced_and_reproducible():
    case = _case()
    pipe = T.get_pipeline("ct_3d_train", spatial_size=16, num_samples=4, pos=1.0, neg=0.0, prob=0.0, seed=0)
    crops = pipe(case)
    assert isinstance(crops, list) and len(crops) == 4
    for c in crops:
        assert c["image"].shape == (1, 16, 16, 16) and c["label"].shape == (1, 16, 16, 16)
        assert c["label"][0, 8, 8, 8] == 1, "pos-only crops are centred on foreground"
        assert 0.0 <= float(c["image"].min()) and float(c["image"].max()) <= 1.0  # soft-tissue window
    # foreground fraction: balanced crops vs random positions
    bal = T.get_pipeline("ct_3d_train", spatial_size=16, num_samples=20, prob=0.0, seed=1)(case)
    frac = np.mean([float(c["label"].float().mean()) for c in bal])
    assert frac > 3 * float(case["label"].mean()), "pos/neg sampling over-represents the small organ"
    a = T.get_pipeline("ct_3d_train", spatial_size=16, num_samples=2, seed=7)(case)
    b = T.get_pipeline("ct_3d_train", spatial_size=16, num_samples=2, seed=7)(case)
    assert all(torch.equal(x["image"], y["image"]) for x, y in zip(a, b))


def test_train_and_eval_pipelines_2d_and_mri():
    case = _case()
    sl = {"image": case["image"][:, :, 10], "label": case["label"][:, :, 10]}
    crops = T.get_pipeline("ct_2d_train", spatial_size=24, num_samples=3, seed=0, prob=1.0)(sl)
    assert len(crops) == 3 and all(c["image"].shape == (1, 24, 24) for c in crops)
    assert all(set(torch.unique(c["label"]).tolist()) <= {0.0, 1.0} for c in crops)
    ev = T.get_pipeline("ct_2d_eval")(sl)
    assert ev["image"].shape == (1, 48, 48)  # padded to multiples of 16
    mr = T.get_pipeline("mri_3d_eval", divisible_by=None)({"image": np.abs(case["image"])})
    assert mr["image"].shape == (1, 48, 40, 32) and abs(float(mr["image"].mean())) < 1e-3
    ev3 = T.get_pipeline("ct_3d_eval", load=None, pixdim=(4.0, 4.0, 3.0))(T.case_to_metatensors(case))
    assert ev3["image"].shape == (1, 32, 32, 32) and ev3["label"].shape == ev3["image"].shape
    names = T.describe_pipeline(T.get_pipeline("ct_3d_train"))
    for n in ["Orientationd", "ScaleIntensityRanged", "RandCropByPosNegLabeld", "RandFlipd", "RandRotated",
              "RandZoomd", "RandShiftIntensityd", "RandScaleIntensityd", "RandGaussianNoised", "RandAdjustContrastd"]:
        assert n in names
    assert "RandCropByPosNegLabeld" not in T.describe_pipeline(T.get_pipeline("ct_3d_eval"))


def test_each_augmentation_changes_the_image_and_keeps_labels_integer():
    case = _case()
    d = T.case_to_metatensors({"image": T.apply_window(case["image"][:, :, 10], "soft_tissue"),
                               "label": case["label"][:, :, 10]})
    steps = T.augmentation_steps(dim=2, prob=1.0)
    assert list(steps)[:2] == ["flip_x", "flip_y"]
    for name, step in steps.items():
        step.set_random_state(seed=3)
        out = step(dict(d))
        assert not torch.allclose(torch.as_tensor(out["image"]), torch.as_tensor(d["image"])), name
        assert set(torch.unique(torch.as_tensor(out["label"])).tolist()) <= {0.0, 1.0}, name
    assert list(T.augmentation_steps(dim=3, flip_axes=(1, 2)))[:2] == ["flip_y", "flip_z"]


def test_bad_pipeline_options_raise():
    with pytest.raises(ConfigError):
        T.get_pipeline("ct_4d_train")
    with pytest.raises(ConfigError):
        T.train_pipeline(dim=4)
    with pytest.raises(ConfigError):
        T.train_pipeline(dim=2, spatial_size=(16, 16, 16))
    with pytest.raises(ConfigError):
        T.train_pipeline(load="dicom")
    with pytest.raises(ConfigError):
        T.train_pipeline(keys=("image",))
    with pytest.raises(ConfigError):
        T.augmentation_steps(dim=2, flip_axes=(2,))
    with pytest.raises(ConfigError):
        T.augmentation_steps(prob=1.5)


def test_reorient_to_lps_and_back_keeps_world_coordinates():
    case = _case()
    aff = case["affine"].copy()
    aff[:3, 3] = [-40.0, -30.0, 10.0]
    (img, lab), lps_aff = T.reorient([case["image"], case["label"]], aff, "LPS")
    import nibabel as nib

    assert "".join(nib.aff2axcodes(lps_aff)) == "LPS"
    assert np.array_equal(img, case["image"][::-1, ::-1])
    # voxel (0, 0, 0) of the LPS array is voxel (X-1, Y-1, 0) of the RAS one: same world point
    assert np.allclose(lps_aff @ [0, 0, 0, 1], aff @ [47, 39, 0, 1])
    (back, back_lab), spacing, codes = T.to_ras([img, lab], lps_aff)
    assert codes == "LPS" and spacing == (2.0, 2.0, 3.0)
    assert np.array_equal(back, case["image"]) and np.array_equal(back_lab, case["label"])
    with pytest.raises(ConfigError):
        T.reorient([img], aff, "XYZ")


def test_body_mask_finds_air_outside_the_body():
    img = np.full((64, 64), -1000.0, np.float32)
    yy, xx = np.mgrid[:64, :64]
    body = (xx - 32) ** 2 + (yy - 32) ** 2 < 20 ** 2
    img[body] = 40.0
    img[(xx - 32) ** 2 + (yy - 32) ** 2 < 6 ** 2] = -900.0  # "lung" air inside the body
    img[0:2, 0:2] = 300.0  # a small table/holder fragment outside
    m = T.body_mask(img)
    assert np.array_equal(m, body), "largest component, holes (inner air) filled"
    assert np.median(img[~m]) == -1000.0



def test_pipelines_never_modify_the_callers_arrays():
    case = _case()
    img = np.abs(case["image"]) + 1.0
    before = img.copy()
    T.get_pipeline("mri_3d_eval")({"image": img})  # NormalizeIntensityd works in place
    T.get_pipeline("mri_3d_train", spatial_size=16, seed=0)({"image": img, "label": case["label"]})
    mt = T.case_to_metatensors({"image": img})
    T.mri_zscore()(mt)
    assert np.array_equal(img, before)


def test_imaging_figures_render():
    import matplotlib.pyplot as plt

    from medbench.plots import fig_to_png
    from medbench.plots import imaging as P

    case = _case(shape=(32, 28, 12))
    (lps, lps_lab), lps_aff = T.reorient([case["image"], case["label"]], case["affine"], "LPS")
    sl = T.case_to_metatensors({"image": T.apply_window(case["image"][:, :, 10], "soft_tissue"),
                                "label": case["label"][:, :, 10]})
    steps = T.augmentation_steps(dim=2, prob=1.0)
    figs = [
        P.plot_ct_windows(case["image"][:, :, 10]),
        P.plot_planes(case["image"], case["spacing"], case["label"], window="lung"),
        P.plot_orientation_spacing(lps, lps_aff, lps_lab, window="lung"),
        P.plot_augmentation_preview(sl, steps, n_samples=2),
        P.plot_slices(case["image"], case["spacing"], n=4),
        P.plot_histograms({"a": case["image"]}),
    ]
    assert len(figs[3].axes) == len(steps) * 3
    for fig in figs:
        assert fig_to_png(fig).startswith(b"\x89PNG")
    assert list(P.window_table().index) == list(T.CT_WINDOWS)
    plt.close("all")


def test_patch_classification_presets():
    """ct_2d_patch_*: in-memory (C, H, W) patches, intensity range -> [0, 1], cheap label-preserving augmentation."""
    x = np.array([[[-2000.0, -1000.0], [-300.0, 1000.0]]], dtype=np.float32)  # (1, 2, 2) HU
    ev = T.get_pipeline("ct_2d_patch_eval")
    out = ev({"image": x, "label": 1})
    assert isinstance(out["image"], torch.Tensor) and out["image"].dtype == torch.float32 and out["label"] == 1
    assert torch.allclose(out["image"], torch.tensor([[[0.0, 0.0], [0.5, 1.0]]]))
    u8 = T.get_pipeline("ct_2d_patch_eval", intensity_range=T.UINT8_RANGE)({"image": np.full((3, 2, 2), 51.0)})
    assert torch.allclose(u8["image"], torch.full((3, 2, 2), 0.2))
    train = T.get_pipeline("ct_2d_patch_train", seed=0)
    assert T.describe_pipeline(train) == T.describe_pipeline(ev) + ["RandFlipd", "RandFlipd", "RandRotate90d",
                                                                    "RandGaussianNoised"]
    assert list(T.patch_augmentation_steps()) == ["flip_x", "flip_y", "rot90", "noise"]
    # flat Compose: CacheDataset caches the deterministic head and reruns only the random steps
    assert train.get_index_of_first(lambda t: hasattr(t, "R")) == 2
    patch = {"image": np.random.default_rng(0).normal(-500, 300, (1, 8, 8)).astype(np.float32)}
    a = T.get_pipeline("ct_2d_patch_train", seed=4)(dict(patch))["image"]
    b = T.get_pipeline("ct_2d_patch_train", seed=4)(dict(patch))["image"]
    assert torch.equal(a, b)  # seeded -> reproducible
    never = T.get_pipeline("ct_2d_patch_train", flip_prob=0.0, rot90_prob=0.0, noise_prob=0.0, seed=1)
    assert torch.equal(never(dict(patch))["image"], ev(dict(patch))["image"])
    with pytest.raises(ConfigError, match="intensity_range"):
        T.get_pipeline("ct_2d_patch_eval", intensity_range=(400, -1000))
    with pytest.raises(ConfigError, match="noise_prob"):
        T.get_pipeline("ct_2d_patch_train", noise_prob=1.5)
