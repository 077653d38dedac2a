"""SliceViewer: state and handlers driven from Python, geometry, overlays, compare mode, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medbench.errors import ConfigError, DataError, MedbenchError
from medbench.widgets.slice_viewer import PALETTE, SliceViewer, Snapshot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _shown(v, labels):
    """The label map as displayed (same nearest-neighbour resize as the viewer's render)."""
    from PIL import Image

    lab = np.ascontiguousarray(v._view(labels, v.plane, v.slice))
    h, w = v.frame.shape[:2]
    return np.asarray(Image.fromarray(lab).resize((w, h), Image.NEAREST))


def _volume(shape=(40, 32, 24)):
    """HU-like volume: air, a soft-tissue body, a bright 'bone' blob at the patient's right (high x)."""
    x, y, z = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij")
    img = np.full(shape, -1000.0, np.float32)
    body = ((x - shape[0] / 2) / (shape[0] * 0.4)) ** 2 + ((y - shape[1] / 2) / (shape[1] * 0.4)) ** 2 < 1
    img[body] = 40.0 + z[body]  # varies along z so every axial slice differs
    label = np.zeros(shape, np.uint8)
    label[body] = 1
    blob = (x > shape[0] * 0.7) & body & (np.abs(y - shape[1] / 2) < 4)
    img[blob] = 700.0
    label[blob] = 2
    return img, label


@pytest.fixture
def vol():
    return _volume()


def test_initial_state_and_png(vol):
    img, lab = vol
    v = SliceViewer(img, lab, spacing=(1, 1, 1))
    assert v.plane == "axial" and v.slice == img.shape[2] // 2
    assert v.n_slices == img.shape[2] and v.slice_slider.max == img.shape[2] - 1
    assert v.modality == "ct" and v.window.name == "soft_tissue"
    assert bytes(v.image.value).startswith(PNG_MAGIC) and v.to_png() == bytes(v.image.value)
    assert v.n_renders == 1 and v.last_update_ms > 0


def test_slice_change_rerenders(vol):
    img, lab = vol
    v = SliceViewer(img, lab)
    before, n = bytes(v.image.value), v.n_renders
    v.slice = 3
    assert v.slice_slider.value == 3 and v.n_renders == n + 1
    assert bytes(v.image.value) != before
    v.slice_slider.value = 4  # as a user's drag does
    assert v.slice == 4 and v.n_renders == n + 2
    with pytest.raises(ConfigError):
        v.slice = img.shape[2]


def test_window_presets_free_window_and_custom_marking(vol):
    img, lab = vol
    v = SliceViewer(img, lab, opacity=0.0)
    soft = v.frame.copy()
    v.window = "lung"
    assert (v.window.width, v.window.level) == (1500.0, -600.0) and v.preset.value == "lung"
    assert not np.array_equal(v.frame, soft)
    v.window = (400, 50)  # free window equal to a preset is recognised as the preset
    assert v.preset.value == "soft_tissue" and np.array_equal(v.frame, soft)
    v.window = (123, 45)
    assert v.preset.value == "custom" and v.window.width == 123
    v.preset.value = "bone"  # choosing from the dropdown moves the sliders
    assert v.width_slider.value == 1800 and v.level_slider.value == 400
    v.level_slider.value = 300  # dragging a slider makes the window custom
    assert v.preset.value == "custom" and v.window.level == 300
    # pixel check: HU 40 + z under W400/L50 -> (40 + z - (-150)) * 255/400
    v.window = "soft_tissue"
    row, col = v.frame.shape[0] // 2, v.frame.shape[1] // 2
    expected = np.uint8(np.clip((40 + v.slice + 150) * 255 / 400, 0, 255))
    assert abs(int(v.frame[row, col]) - int(expected)) <= 1
    with pytest.raises(ConfigError):
        v.window = "spleen-ish"
    with pytest.raises(ConfigError):
        v.window = (-5, 0)


def test_plane_switch_updates_slider_and_shape(vol):
    img, lab = vol
    v = SliceViewer(img, lab)
    assert v.frame.shape[:2] == v.display_shape
    axial_shape = v.frame.shape
    v.slice = 5
    v.plane = "coronal"
    assert v.slice_slider.max == img.shape[1] - 1 and v.slice == img.shape[1] // 2
    assert v.frame.shape != axial_shape
    v.plane_buttons.value = "sagittal"  # the toggle buttons, as a user clicks
    assert v.plane == "sagittal" and v.slice_slider.max == img.shape[0] - 1
    v.plane = "axial"
    assert v.slice == 5, "each plane keeps its own slice"
    with pytest.raises(ConfigError):
        v.plane = "oblique"


def test_radiological_orientation(vol):
    img, lab = vol  # bright blob at high x = patient's right
    v = SliceViewer(img, lab, opacity=0.0, window="bone")
    cols_bright = np.where((v.frame > 150).any(axis=0))[0]  # 700 HU -> 170 under W1800/L400
    assert cols_bright.size and cols_bright.max() < v.frame.shape[1] / 2, "patient right must show on screen left"
    v.plane = "coronal"
    cols_bright = np.where((v.frame > 150).any(axis=0))[0]
    assert cols_bright.size and cols_bright.max() < v.frame.shape[1] / 2


def test_affine_reorientation_matches_ras(vol):
    """The same anatomy stored LPS (x and y flipped) displays identically once reoriented."""
    from monai.data import MetaTensor

    img, lab = vol
    ras = SliceViewer(img, lab, spacing=(1.0, 2.0, 3.0))
    lps_img, lps_lab = img[::-1, ::-1].copy(), lab[::-1, ::-1].copy()
    affine = np.diag([-1.0, -2.0, 3.0, 1.0])
    mt = MetaTensor(torch.as_tensor(lps_img)[None], affine=torch.as_tensor(affine))
    lps = SliceViewer(mt, lps_lab)
    assert lps.orientation_in == "LPS" and lps.spacing == (1.0, 2.0, 3.0)
    assert np.array_equal(ras.frame, lps.frame)
    # permuted axes (Z, Y, X storage) also come back to RAS
    perm = np.ascontiguousarray(img.transpose(2, 1, 0))
    aff = np.zeros((4, 4))
    aff[0, 2], aff[1, 1], aff[2, 0], aff[3, 3] = 1.0, 2.0, 3.0, 1.0
    p = SliceViewer(perm, np.ascontiguousarray(lab.transpose(2, 1, 0)), affine=aff)
    assert p.volume.shape == img.shape and np.array_equal(p.frame, ras.frame)


def test_overlay_opacity_colours_and_legend(vol):
    img, lab = vol
    v = SliceViewer(img, lab, opacity=0.0, label_names={"body": 1, "bone": 2}, colors={2: "#00ff00"})
    grey = v.frame.copy()
    assert grey.ndim == 2 and v.legend.value == ""
    v.opacity = 0.5
    rgb = v.frame
    assert rgb.ndim == 3 and not np.array_equal(rgb[..., 0], grey)
    lab_view = _shown(v, lab)
    r, c = np.argwhere(lab_view == 2)[0]
    g = float(grey[r, c])
    assert np.allclose(rgb[r, c], [g * 0.5 + 0, g * 0.5 + 127.5, g * 0.5 + 0], atol=1)
    r, c = np.argwhere(lab_view == 0)[0]
    assert (rgb[r, c] == grey[r, c]).all(), "background stays grey"
    assert "bone" in v.legend.value and "#00ff00" in v.legend.value and "body" in v.legend.value
    v.opacity_slider.value = 0.9
    assert not np.array_equal(v.frame, rgb)
    hidden = SliceViewer(img, lab, opacity=0.5, colors={1: None})
    r, c = np.argwhere(_shown(hidden, lab) == 1)[0]
    assert len(set(hidden.frame[r, c].tolist())) == 1, "hidden label drawn grey"
    assert "label 1" not in hidden.legend.value and "label 2" in hidden.legend.value
    with pytest.raises(ConfigError):
        v.opacity = 1.5
    assert tuple(PALETTE[0]) == tuple(SliceViewer(img, lab)._lut[1].astype(int))


def test_physical_aspect_from_spacing(vol):
    img, lab = vol  # 40 x 32 x 24 voxels
    v = SliceViewer(img, lab, spacing=(0.5, 0.5, 4.0))
    rows, cols = v.frame.shape[:2]
    assert v.aspect == pytest.approx(32 * 0.5 / (40 * 0.5))
    assert rows / cols == pytest.approx(v.aspect, rel=0.02)
    v.plane = "coronal"  # Z (24 x 4 mm = 96 mm) by X (40 x 0.5 mm = 20 mm): tall
    rows, cols = v.frame.shape[:2]
    assert v.aspect == pytest.approx(96 / 20)
    assert rows / cols == pytest.approx(96 / 20, rel=0.02)
    iso = SliceViewer(img, lab, spacing=(1, 1, 1), plane="coronal")
    assert iso.frame.shape[0] / iso.frame.shape[1] == pytest.approx(24 / 40, rel=0.02)
    assert v.image.layout.width and v.image.layout.height


def test_compare_mode(vol):
    img, lab = vol
    pred = lab.copy()
    pred[pred == 2] = 0
    v = SliceViewer(img, lab, pred, opacity=0.6)
    assert not v.compare and v._panel2.layout.display == "none"
    v.to_png()
    v.compare = True
    assert len(v.frames) == 2 and v._panel2.layout.display is None
    assert bytes(v.image2.value).startswith(PNG_MAGIC)
    assert not np.array_equal(v.frames[0], v.frames[1]), "truth and prediction differ on this slice"
    import io

    from PIL import Image

    both = Image.open(io.BytesIO(v.to_png()))
    assert both.size[0] > 2 * v.frames[0].shape[1]
    v.slice = 2  # both panels follow the slider
    assert v.frames[0].shape == v.frames[1].shape
    v.compare_toggle.value = False
    assert len(v.frames) == 1 and v._panel2.layout.display == "none"
    with pytest.raises(ConfigError):
        SliceViewer(img, lab).compare = True
    snap = SliceViewer(img, lab, pred, compare=True).snapshot()
    assert "left: truth" in snap.caption


def test_2d_input_layouts():
    rng = np.random.default_rng(0)
    img = rng.normal(0, 100, (30, 20)).astype(np.float32)  # (X, Y)
    v = SliceViewer(img, modality="mri")
    assert v.n_slices == 1 and v.plane_buttons.disabled and v.slice_slider.disabled
    assert v.frame.shape[1] / v.frame.shape[0] == pytest.approx(30 / 20, rel=0.02), "x runs along columns"
    rc = SliceViewer(img, modality="mri", layout="rc")
    assert rc.frame.shape[0] / rc.frame.shape[1] == pytest.approx(30 / 20, rel=0.02)
    v.slice = 0
    with pytest.raises(ConfigError):
        v.slice = 1
    with pytest.raises(ConfigError):
        v.plane = "coronal"
    before = v.frame.copy()
    v.window = (50, 0)
    assert not np.array_equal(before, v.frame)
    with pytest.raises(ConfigError):
        v.window = "lung"  # CT presets are not offered for an MR image
    u8 = SliceViewer((rng.random((28, 28)) * 255).astype(np.uint8), layout="rc")
    assert u8.modality == "mri" and u8.frame.shape == (256, 256)


def test_inputs_metatensor_dict_tensor_and_path(vol, tmp_path):
    import nibabel as nib
    from monai.data import MetaTensor

    img, lab = vol
    ref = SliceViewer(img, lab, spacing=(2, 2, 3))
    d = SliceViewer({"image": img, "label": lab, "affine": np.diag([2.0, 2.0, 3.0, 1.0])})
    assert d.spacing == (2.0, 2.0, 3.0) and np.array_equal(d.frame, ref.frame)
    t = SliceViewer(torch.as_tensor(img)[None], torch.as_tensor(lab), spacing=(2, 2, 3))
    assert np.array_equal(t.frame, ref.frame)
    mt = MetaTensor(torch.as_tensor(img)[None], affine=torch.as_tensor(np.diag([2.0, 2.0, 3.0, 1.0])))
    assert np.array_equal(SliceViewer(mt, lab).frame, ref.frame)
    path = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(img, np.diag([2.0, 2.0, 3.0, 1.0])), path)
    lpath = tmp_path / "label.nii.gz"
    nib.save(nib.Nifti1Image(lab, np.diag([2.0, 2.0, 3.0, 1.0])), lpath)
    f = SliceViewer(str(path), str(lpath))
    assert f.spacing == (2.0, 2.0, 3.0) and np.array_equal(f.frame, ref.frame)


def test_mr_auto_window_uses_percentiles():
    rng = np.random.default_rng(1)
    img = rng.gamma(2.0, 100.0, (24, 24, 10)).astype(np.float32)
    v = SliceViewer(img)
    assert v.modality == "mri" and v.preset.value == "auto"
    lo, hi = np.percentile(img, [0.5, 99.5])
    assert v.window.lower == pytest.approx(lo, rel=0.05, abs=1.0) and v.window.upper == pytest.approx(hi, rel=0.05)
    v.window = "full range"
    assert v.window.lower == pytest.approx(img.min()) and v.window.upper == pytest.approx(img.max())


def test_snapshot_and_reprs(vol):
    img, lab = vol
    v = SliceViewer(img, lab, label_names={"body": 1})
    snap = v.snapshot()
    assert isinstance(snap, Snapshot) and snap._repr_png_().startswith(PNG_MAGIC)
    assert "data:image/png;base64," in snap._repr_html_() and "axial slice" in snap._repr_html_()
    assert v._repr_png_() == v.to_png()


@pytest.mark.parametrize("bad", [
    np.zeros(10),  # 1D
    np.zeros((2, 8, 8, 8)),  # two channels
    np.array([["a", "b"], ["c", "d"]]),  # not numbers
    "/no/such/file.nii.gz",
])
def test_bad_image_raises(bad):
    with pytest.raises(MedbenchError):
        SliceViewer(bad)


def test_bad_labels_and_options_raise(vol):
    img, lab = vol
    with pytest.raises(DataError):
        SliceViewer(img, lab[:-1])  # shape mismatch
    with pytest.raises(DataError):
        SliceViewer(img, lab.astype(np.float32) * 0.5)  # probabilities, not ids
    with pytest.raises(DataError):
        SliceViewer(img, lab.astype(np.int32) + 300)
    nan = img.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(DataError):
        SliceViewer(nan)
    with pytest.raises(ConfigError):
        SliceViewer(img, spacing=(1, 0, 1))
    with pytest.raises(ConfigError):
        SliceViewer(img, plane="oblique")
    with pytest.raises(ConfigError):
        SliceViewer(img, layout="zyx")
    with pytest.raises(DataError):
        SliceViewer({"label": lab})


def test_2d_ras_slice_and_affine_flips(vol):
    """A slice of a RAS volume shows like the 3D viewer's axial view, via layout or via its affine."""
    img, lab = vol
    k = 7
    three_d = SliceViewer(img, lab, slice=k)
    ras = SliceViewer(img[:, :, k], lab[:, :, k], layout="ras")
    assert np.array_equal(ras.frame, three_d.frame)
    aff = SliceViewer({"image": img[:, :, k], "label": lab[:, :, k], "affine": np.eye(4)})
    assert aff.orientation_in == "RAS" and np.array_equal(aff.frame, three_d.frame)
    # DICOM-like storage (X towards patient left, Y posterior): shown as stored, no flips
    lps = SliceViewer({"image": img[::-1, ::-1, k].copy(), "label": lab[::-1, ::-1, k].copy(),
                       "affine": np.diag([-1.0, -1.0, 1.0, 1.0])})
    assert lps.orientation_in == "LPS" and np.array_equal(lps.frame, three_d.frame)


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (64, 33, 3)])
def test_encode_png_roundtrips_through_pillow(shape):
    import io

    from PIL import Image

    from medbench.widgets.slice_viewer import encode_png

    arr = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(encode_png(arr))))
    assert back.shape == arr.shape and np.array_equal(back, arr)
    with pytest.raises(ConfigError):
        encode_png(arr.astype(np.float32))


def test_real_dicom_ct_path_shows_in_hu_with_brain_window():
    from medbench.data.samples import sample_path

    v = SliceViewer(str(sample_path("ct")), window="brain")
    assert v.modality == "ct" and v.volume.shape == (512, 512) and v.orientation_in == "LPS"
    assert v.frame.shape == (512, 512) and v.preset.value == "brain"
    centre = v.frame[200:300, 200:300]  # brain tissue (~30 HU) is mid-grey under W80/L40
    assert 40 < np.median(centre) < 215


def test_render_any_plane_without_changing_state(vol):
    img, lab = vol
    v = SliceViewer(img, lab, spacing=(1, 1, 3))
    n = v.n_renders
    sag = v.render(plane="sagittal", index=3)
    assert sag.shape[:2] == v._render_shape("sagittal") and v.plane == "axial" and v.n_renders == n
    assert v.render(None).ndim == 2  # no overlay requested: grey


# ------------------------------------------------------------------ as_volume: one pure function per input kind
def test_as_volume_array_is_ras_as_given_with_default_spacing_and_modality(vol):
    from medbench.widgets.slice_viewer import Volume, as_volume

    img, lab = vol
    before = img.copy()
    v = as_volume(img, lab)
    assert isinstance(v, Volume) and v.ndim == 3 and not v.is2d
    assert np.array_equal(v.image, img) and np.array_equal(v.label, lab) and v.label.dtype == np.uint8
    assert v.prediction is None and v.affine is None
    assert v.spacing == (1.0, 1.0, 1.0) and v.orientation_in == "RAS (assumed)" and v.modality == "ct"
    assert np.array_equal(img, before)  # the input is not modified
    mr = as_volume(np.random.default_rng(0).gamma(2.0, 100.0, (8, 8, 4)).astype(np.float32))
    assert mr.modality == "mri"


def test_as_volume_tensor_and_channel_axes(vol):
    from medbench.widgets.slice_viewer import as_volume

    img, lab = vol
    t = as_volume(torch.as_tensor(img)[None], torch.as_tensor(lab)[..., None], spacing=(2, 2, 3))
    assert t.image.shape == img.shape and np.array_equal(t.image, img) and np.array_equal(t.label, lab)
    assert t.spacing == (2.0, 2.0, 3.0)
    p = as_volume(img, prediction=lab.astype(np.float32))
    assert p.label is None and p.prediction.dtype == np.uint8 and np.array_equal(p.prediction, lab)


def test_as_volume_metatensor_is_reoriented_to_ras(vol):
    from monai.data import MetaTensor

    from medbench.transforms import to_ras
    from medbench.widgets.slice_viewer import as_volume

    img, lab = vol
    lps_img, lps_lab = img[::-1, ::-1].copy(), lab[::-1, ::-1].copy()
    affine = np.diag([-1.0, -2.0, 3.0, 1.0])
    v = as_volume(MetaTensor(torch.as_tensor(lps_img)[None], affine=torch.as_tensor(affine)), lps_lab)
    (ras_img, ras_lab), spacing, codes = to_ras([lps_img, lps_lab], affine)
    assert v.orientation_in == codes == "LPS" and v.spacing == spacing == (1.0, 2.0, 3.0)
    assert np.array_equal(v.image, img) and np.array_equal(v.image, ras_img) and np.array_equal(v.label, lab)
    assert np.array_equal(v.affine, affine)


def test_as_volume_reader_dict_and_phantom_case():
    from medbench.data.phantom import make_ct_phantom
    from medbench.widgets.slice_viewer import as_volume

    case = make_ct_phantom(shape=(24, 20, 12), seed=0)
    v = as_volume(case)
    assert v.image.shape == case["image"].shape and np.array_equal(v.label, case["label"])
    assert v.spacing == pytest.approx(tuple(case["spacing"])) and v.modality == "ct"
    # a reader's meta names the modality even when the values would not tell it
    d = {"image": np.ones((6, 6, 3), np.float32) * 100, "meta": {"modality": "CT"}}
    assert as_volume(d).modality == "ct"
    d["meta"]["modality"] = "MR"  # DICOM's code for MRI -> medbench's "mri"
    assert as_volume(d).modality == "mri"
    with pytest.raises(DataError, match="no 'image'"):
        as_volume({"label": case["label"]})


def test_as_volume_paths(vol, tmp_path):
    import nibabel as nib

    from medbench.widgets.slice_viewer import as_volume

    img, lab = vol
    aff = np.diag([-2.0, 2.0, 3.0, 1.0])  # LAS on disk
    nib.save(nib.Nifti1Image(img, aff), tmp_path / "ct.nii.gz")
    nib.save(nib.Nifti1Image(lab, aff), tmp_path / "lab.nii.gz")
    v = as_volume(tmp_path / "ct.nii.gz", str(tmp_path / "lab.nii.gz"))
    assert v.orientation_in == "LAS" and v.spacing == (2.0, 2.0, 3.0)
    assert np.array_equal(v.image, img[::-1]) and np.array_equal(v.label, lab[::-1])
    with pytest.raises(DataError, match="does not exist"):
        as_volume(tmp_path / "missing.nii.gz")


def test_as_volume_2d_layouts_and_affine_flips():
    from medbench.widgets.slice_viewer import as_volume

    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert as_volume(img).flips == (False, False) and as_volume(img).spacing == (1.0, 1.0)
    assert as_volume(img, layout="rc").layout == "rc"
    lps = as_volume(img, affine=np.diag([-0.5, -0.5, 1.0, 1.0]))  # DICOM: +X left, +Y posterior
    assert lps.orientation_in == "LPS" and lps.flips == (False, False) and lps.spacing == (0.5, 0.5)
    ras = as_volume(img, affine=np.diag([0.5, 0.5, 1.0, 1.0]))
    assert ras.flips == (True, True)
    with pytest.raises(ConfigError, match="layout"):
        as_volume(img, layout="yx")


def test_one_modality_vocabulary(vol):
    from medbench.widgets.slice_viewer import MODALITIES, as_volume, check_modality

    assert MODALITIES == ("ct", "mri")
    img, _ = vol
    assert as_volume(img, modality="MRI").modality == "mri" and as_volume(img, modality="CT").modality == "ct"
    for bad in ("mr", "pet", ""):
        with pytest.raises(ConfigError, match="'ct', 'mri'"):
            check_modality(bad)
        with pytest.raises(ConfigError):
            SliceViewer(img, modality=bad)


def test_render_windows_with_apply_window(vol):
    """The grey picture is transforms.apply_window of transforms.display_view (no second windowing)."""
    from medbench.transforms import apply_window, display_view

    img, _ = _volume((256, 256, 4))
    v = SliceViewer(img, window=(400, 50))
    assert v.frame.shape == (256, 256)  # no resize at 1 mm and 256 pixels
    expected = apply_window(display_view(img, "axial", v.slice), (400, 50), out_range=(0, 255), dtype=np.uint8)
    assert np.array_equal(v.frame, expected)


def test_viewer_palette_is_the_plots_palette(vol):
    from medbench.plots import display

    assert PALETTE is display.PALETTE
    img, lab = vol
    v = SliceViewer(img, lab, colors={2: None})
    lut, hidden = display.label_lut({2: None})
    assert np.array_equal(v._lut, lut) and np.array_equal(v._hidden, hidden)


def test_dead_code_is_gone():
    import medbench.widgets.slice_viewer as sv

    assert not hasattr(sv, "compare_viewer")
