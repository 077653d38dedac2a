"""read_nifti / read_image_label on NIfTI files the tests write (various affines and dtypes) and bad input."""
from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from medbench.data.nifti import check_image_label, read_image_label, read_nifti, to_metatensor, write_nifti
from medbench.errors import ConfigError, DataError, DataNotFoundError


def _rot(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])


AFFINES = {
    "identity": (np.eye(4), (1.0, 1.0, 1.0), "RAS"),
    "anisotropic_ras": (np.diag([0.8, 0.8, 3.0, 1.0]), (0.8, 0.8, 3.0), "RAS"),
    "lps_like_dicom": (np.diag([-0.5, -0.5, 2.0, 1.0]), (0.5, 0.5, 2.0), "LPS"),
    "las_radiological": (np.diag([-2.0, 2.0, 2.0, 1.0]), (2.0, 2.0, 2.0), "LAS"),
    "oblique_30deg": (None, (1.5, 1.5, 4.0), "RAS"),
    "permuted_axes": (np.array([[0, 0, 2.0, 0], [1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1]]), (1.0, 1.0, 2.0), "ASR"),
}


def _affine(name):
    aff, spacing, codes = AFFINES[name]
    if aff is None:
        aff = np.eye(4)
        aff[:3, :3] = _rot(30) @ np.diag(spacing)
    aff = aff.copy()
    aff[:3, 3] = [-12.5, 30.0, 7.25]
    return aff, spacing, codes


@pytest.mark.parametrize("name", list(AFFINES))
def test_affines_give_spacing_and_orientation(tmp_path, name):
    aff, spacing, codes = _affine(name)
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    p = write_nifti(tmp_path / f"{name}.nii.gz", data, aff)
    d = read_nifti(p)
    np.testing.assert_array_equal(d["image"], data)
    np.testing.assert_allclose(d["affine"], aff, atol=1e-5)
    assert d["spacing"] == pytest.approx(spacing, abs=1e-5)
    assert d["orientation"] == codes
    assert d["meta"]["path"] == str(p) and d["meta"]["shape"] == (4, 5, 6)


def test_canonical_reorients_to_ras_and_keeps_world_positions(tmp_path):
    aff, _, _ = _affine("lps_like_dicom")
    data = np.random.default_rng(0).normal(size=(4, 5, 6)).astype(np.float32)
    p = write_nifti(tmp_path / "lps.nii", data, aff)
    d = read_nifti(p, canonical=True)
    assert d["orientation"] == "RAS" and d["image"].flags["C_CONTIGUOUS"]
    # the voxel at world point w has the same value in both orientations
    i, j, k = 1, 3, 2
    world = aff @ [i, j, k, 1]
    ic, jc, kc, _ = np.round(np.linalg.inv(d["affine"]) @ world).astype(int)
    assert d["image"][ic, jc, kc] == pytest.approx(data[i, j, k])


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.float32, np.float64])
def test_dtypes_are_read_as_float32_images(tmp_path, dtype):
    data = (np.arange(60).reshape(3, 4, 5) % 50).astype(dtype)
    p = write_nifti(tmp_path / "x.nii.gz", data)
    d = read_nifti(p)
    assert d["image"].dtype == np.float32
    np.testing.assert_array_equal(d["image"], data.astype(np.float32))
    assert d["meta"]["dtype"] == np.dtype(dtype).name


def test_scl_slope_and_intercept_are_applied_to_images_not_labels(tmp_path):
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(0.5, -10.0)
    p = tmp_path / "scaled.nii.gz"
    nib.save(img, str(p))
    d = read_nifti(p)
    np.testing.assert_allclose(d["image"], data * 0.5 - 10.0)
    assert d["meta"]["scl_slope"] == 0.5 and d["meta"]["scl_inter"] == -10.0
    lab = read_nifti(p, kind="label")
    np.testing.assert_array_equal(lab["image"], data)
    assert lab["image"].dtype == np.uint8


def test_4d_multichannel_image(tmp_path):
    data = np.random.default_rng(1).random((5, 6, 7, 4)).astype(np.float32)
    d = read_nifti(write_nifti(tmp_path / "mc.nii.gz", data, np.diag([2.0, 2.0, 2.0, 1.0])))
    assert d["image"].shape == (5, 6, 7, 4) and d["spacing"] == pytest.approx((2.0, 2.0, 2.0))


def test_label_dtype_and_integer_check(tmp_path):
    lab = np.zeros((4, 4, 4), np.int64)
    lab[1, 1, 1] = 300
    d = read_nifti(write_nifti(tmp_path / "l.nii.gz", lab), kind="label")
    assert d["image"].dtype == np.int16 and d["image"].max() == 300
    with pytest.raises(DataError, match=r"f\.nii\.gz.*non-integer values"):
        read_nifti(write_nifti(tmp_path / "f.nii.gz", np.full((3, 3, 3), 0.5, np.float32)), kind="label")
    with pytest.raises(ConfigError):
        read_nifti(tmp_path / "l.nii.gz", kind="mask")


def test_metatensor_matches_monai_load_image(tmp_path):
    from monai.transforms import LoadImage

    aff, _, _ = _affine("oblique_30deg")
    data = np.random.default_rng(2).normal(size=(6, 5, 4)).astype(np.float32)
    p = write_nifti(tmp_path / "m.nii.gz", data, aff)
    mine = to_metatensor(read_nifti(p))
    monai_img = LoadImage(image_only=True)(str(p))
    np.testing.assert_allclose(np.asarray(mine), np.asarray(monai_img))
    np.testing.assert_allclose(np.asarray(mine.affine), np.asarray(monai_img.affine), atol=1e-5)
    assert tuple(to_metatensor(read_nifti(p), channel_first=True).shape) == (1, 6, 5, 4)


# ----------------------------------------------------------------------------- image + label
def _pair(tmp_path, label=None, label_affine=None, image_shape=(8, 8, 6)):
    aff, _, _ = _affine("anisotropic_ras")
    img = np.random.default_rng(3).normal(size=image_shape).astype(np.float32)
    if label is None:
        label = np.zeros(image_shape, np.uint8)
        label[2:5, 2:5, 1:4] = 1
    ip = write_nifti(tmp_path / "img.nii.gz", img, aff)
    lp = write_nifti(tmp_path / "lab.nii.gz", label, aff if label_affine is None else label_affine)
    return ip, lp


def test_image_label_pair(tmp_path):
    ip, lp = _pair(tmp_path)
    d = read_image_label(ip, lp)
    assert d["image"].shape == d["label"].shape == (8, 8, 6) and d["label"].dtype == np.uint8
    assert int(d["label"].sum()) == 27 and d["meta"]["label"]["kind"] == "label"


def test_image_label_shape_mismatch(tmp_path):
    ip, lp = _pair(tmp_path, label=np.ones((8, 8, 5), np.uint8))
    with pytest.raises(DataError, match=r"shape mismatch.*img\.nii\.gz.*\(8, 8, 6\).*lab\.nii\.gz.*\(8, 8, 5\)"):
        read_image_label(ip, lp)


def test_image_label_affine_mismatch(tmp_path):
    shifted = np.diag([0.8, 0.8, 3.0, 1.0])
    shifted[:3, 3] = [-12.5, 30.0, 10.25]  # 3 mm off in z
    ip, lp = _pair(tmp_path, label_affine=shifted)
    with pytest.raises(DataError, match=r"affine mismatch \(3 mm"):
        read_image_label(ip, lp)


def test_empty_label(tmp_path):
    ip, lp = _pair(tmp_path, label=np.zeros((8, 8, 6), np.uint8))
    with pytest.raises(DataError, match=r"empty label: .*lab\.nii\.gz"):
        read_image_label(ip, lp)
    assert read_image_label(ip, lp, allow_empty_label=True)["label"].sum() == 0


def test_check_image_label_accepts_dicts_with_label_key():
    img = {"image": np.zeros((2, 2, 2)), "affine": np.eye(4), "meta": {"path": "a"}}
    lab = {"label": np.ones((2, 2, 2), np.uint8), "affine": np.eye(4) * 1.0, "meta": {"path": "b"}}
    check_image_label(img, lab)


# ----------------------------------------------------------------------------- bad input
def _save_raw(path, data, affine=None):
    """Write with nibabel directly (write_nifti refuses NaN/inf, but files from elsewhere may hold them)."""
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


def test_nan_and_inf_voxels(tmp_path):
    data = np.zeros((4, 4, 4), np.float32)
    data[1, 2, 3] = np.nan
    with pytest.raises(DataError, match=r"nan\.nii\.gz: 1 of 64 voxels are NaN or inf \(first at index \(1, 2, 3\)\)"):
        read_nifti(_save_raw(tmp_path / "nan.nii.gz", data))
    data[1, 2, 3] = np.inf
    with pytest.raises(DataError, match="NaN or inf"):
        read_nifti(_save_raw(tmp_path / "inf.nii", data))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_write_nifti_refuses_nan_and_inf(tmp_path, bad):
    """write_nifti never writes a file its own reader would reject; the error names the file."""
    data = np.zeros((4, 4, 4), np.float32)
    data[0, 1, 2] = bad
    target = tmp_path / "out" / "bad.nii.gz"
    with pytest.raises(DataError, match=r"bad\.nii\.gz.*1 of 64 voxels are NaN or inf \(first at index \(0, 1, 2\)\)"):
        write_nifti(target, data)
    assert not target.exists()
    with pytest.raises(DataError, match=r"bad\.nii\.gz.*affine"):
        write_nifti(target, np.zeros((2, 2, 2), np.float32), np.diag([1.0, np.nan, 1.0, 1.0]))
    assert not target.exists()


def test_write_nifti_writes_millimetre_units(tmp_path):
    aff = np.diag([0.8, 0.8, 3.0, 1.0])
    p = write_nifti(tmp_path / "mm.nii.gz", np.ones((3, 3, 3), np.float32), aff)
    assert nib.load(str(p)).header.get_xyzt_units() == ("mm", "unknown")
    assert read_nifti(p)["spacing"] == pytest.approx((0.8, 0.8, 3.0))


def test_truncated_files(tmp_path):
    data = np.random.default_rng(4).random((10, 10, 10)).astype(np.float32)
    p = write_nifti(tmp_path / "cut.nii", data)
    p.write_bytes(p.read_bytes()[:-1000])
    with pytest.raises(DataError, match=r"cut\.nii.*truncated"):
        read_nifti(p)
    pz = write_nifti(tmp_path / "cut.nii.gz", data)
    pz.write_bytes(pz.read_bytes()[: len(pz.read_bytes()) // 2])
    with pytest.raises(DataError, match=r"cut\.nii\.gz.*truncated"):
        read_nifti(pz)


def test_not_nifti_and_corrupt_gzip(tmp_path):
    junk = tmp_path / "junk.nii"
    junk.write_bytes(b"junk" * 100)
    with pytest.raises(DataError, match=r"junk\.nii.*not a NIfTI"):
        read_nifti(junk)
    bad_gz = tmp_path / "bad.nii.gz"
    bad_gz.write_bytes(gzip.compress(b"\0" * 400)[:-8] + b"garbage!")
    with pytest.raises(DataError, match=r"bad\.nii\.gz"):
        read_nifti(bad_gz)


def test_degenerate_affine(tmp_path):
    import struct

    p = write_nifti(tmp_path / "flat.nii", np.ones((3, 3, 3), np.float32))
    raw = bytearray(p.read_bytes())
    struct.pack_into("<hh", raw, 252, 0, 2)  # qform_code 0, sform_code 2 ...
    struct.pack_into("<ffff", raw, 312, 0.0, 0.0, 0.0, 5.0)  # ... with a zero z row
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"flat\.nii: degenerate affine"):
        read_nifti(p)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_nifti(tmp_path / "none.nii.gz")
    with pytest.raises(DataError, match="is a folder"):
        read_nifti(tmp_path)


# ----------------------------------------------------------------------------- real bundled files
def _package_file(package: str, *parts: str):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} not installed")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} not shipped with this {package}")
    return path


def test_real_mni152_template_from_nilearn():
    d = read_nifti(_package_file("nilearn", "datasets", "data", "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"))
    assert d["image"].shape == (197, 233, 189) and d["orientation"] == "RAS"
    assert d["spacing"] == pytest.approx((1.0, 1.0, 1.0))
    # world origin (0, 0, 0) is the anterior commissure region: inside the brain, not background
    ijk = np.round(np.linalg.inv(d["affine"]) @ [0, 0, 0, 1]).astype(int)[:3]
    assert d["image"][tuple(ijk)] > 0.2 * d["image"].max()


@pytest.mark.parametrize("name,shape,spacing,codes", [
    ("anatomical.nii", (33, 41, 25), (2.0, 2.0, 2.0), "LAS"),  # big-endian int16
    ("example4d.nii.gz", (128, 96, 24, 2), (2.0, 2.0, 2.2), "LAS"),
    ("example_nifti2.nii.gz", (32, 20, 12, 2), (2.0, 2.0, 2.2), "LAS"),  # NIfTI-2
])
def test_real_nibabel_test_files(name, shape, spacing, codes):
    d = read_nifti(_package_file("nibabel", "tests", "data", name))
    assert d["image"].shape == shape and d["orientation"] == codes
    assert d["spacing"] == pytest.approx(spacing, abs=1e-3)
