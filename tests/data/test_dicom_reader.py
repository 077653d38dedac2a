"""read_dicom on series the tests write with pydicom, on real pydicom files, and on bad input."""
from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, RLELossless, generate_uid  # noqa: E402

from medbench.data.dicom import read_dicom  # noqa: E402
from medbench.errors import DataError, DataNotFoundError, MedbenchError  # noqa: E402

ROWS, COLS = 16, 12
ROW_SP, COL_SP = 0.7, 0.8


def _hu(k: int, rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    """Known HU of slice k, (rows, cols): encodes slice, row and column."""
    r, c = np.mgrid[:rows, :cols]
    return (k * 1000 + r * 10 + c - 1024).astype(np.float32)


def write_slice(path, k, z, *, series_uid, instance=None, iop=(1, 0, 0, 0, 1, 0), origin=(-50.0, -60.0),
                rows=ROWS, cols=COLS, spacing=(ROW_SP, COL_SP), slope=1.0, intercept=-1024.0, pixels=True,
                photometric="MONOCHROME2", padding=None, position=True, modality="CT"):
    """Write one CT slice whose stored values give ``_hu(k)`` after rescale."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = "TEST"
    ds.StudyInstanceUID = series_uid
    ds.SeriesInstanceUID = series_uid
    ds.InstanceNumber = k + 1 if instance is None else instance
    if position:  # slice at distance z along the normal of its orientation
        normal = np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float))
        ds.ImagePositionPatient = [float(v) for v in np.array([origin[0], origin[1], 0.0]) + z * normal]
    ds.ImageOrientationPatient = list(iop)
    ds.PixelSpacing = list(spacing)
    ds.SliceThickness = 2.5
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.WindowCenter, ds.WindowWidth = 40, 400
    if padding is not None:
        ds.PixelPaddingValue = padding[0]
    if pixels:
        raw = np.round((_hu(k, rows, cols) - intercept) / slope).astype(np.int16)
        if padding is not None:
            raw[0, :] = padding[0]
        ds.PixelData = raw.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_series(folder, zs, *, shuffle=True, seed=0, **kw):
    """Slices at positions ``zs`` (slice k at zs[k]) in files whose names are in random order."""
    folder.mkdir(parents=True, exist_ok=True)
    uid = kw.pop("series_uid", None) or generate_uid()
    order = list(range(len(zs)))
    if shuffle:
        random.Random(seed).shuffle(order)
    names = {}
    for n, k in enumerate(order):
        names[k] = folder / f"IM{n:04d}"
        write_slice(names[k], k, zs[k], series_uid=uid, **kw)
    return names


# ----------------------------------------------------------------------------- good series
def test_shuffled_series_is_sorted_by_position_with_hu_spacing_and_ras_affine(tmp_path):
    zs = [10 + 2.5 * k for k in range(6)]
    write_series(tmp_path / "s", zs)
    d = read_dicom(tmp_path / "s")
    assert d["image"].dtype == np.float32 and d["image"].shape == (COLS, ROWS, 6)  # (X, Y, Z)
    for k in range(6):
        np.testing.assert_array_equal(d["image"][:, :, k], _hu(k).T)
    assert d["spacing"] == pytest.approx((COL_SP, ROW_SP, 2.5))
    # voxel (i, j, k) -> LPS (x0 + 0.8 i, y0 + 0.7 j, z0 + 2.5 k) -> RAS flips x and y
    expected = np.array([[-COL_SP, 0, 0, 50], [0, -ROW_SP, 0, 60], [0, 0, 2.5, 10], [0, 0, 0, 1]])
    np.testing.assert_allclose(d["affine"], expected)
    assert d["orientation"] == "LPS"
    assert d["meta"]["n_slices"] == 6 and d["meta"]["units"] == "HU" and d["meta"]["modality"] == "CT"
    assert [f.endswith(n) for f, n in zip(d["meta"]["files"], [f"IM{i:04d}" for i in range(6)])] != [True] * 6


def test_series_matches_monai_pydicom_reader(tmp_path):
    from monai.transforms import LoadImage

    write_series(tmp_path / "s", [0.0, 3.0, 6.0, 9.0], iop=(0, 1, 0, 0, 0, -1))  # sagittal slices
    d = read_dicom(tmp_path / "s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = LoadImage(reader="PydicomReader", image_only=True)(str(tmp_path / "s"))
    np.testing.assert_allclose(np.asarray(m), d["image"])
    np.testing.assert_allclose(np.asarray(m.affine), d["affine"], atol=1e-6)


def test_descending_positions_and_instance_numbers_do_not_decide_order(tmp_path):
    zs = [100.0 - 5 * k for k in range(5)]  # slice k further down
    write_series(tmp_path / "s", zs, instance=7)  # all the same InstanceNumber: positions decide
    d = read_dicom(tmp_path / "s")
    # ascending along the normal (+z): the last written slice comes first
    for i, k in enumerate(reversed(range(5))):
        np.testing.assert_array_equal(d["image"][:, :, i], _hu(k).T)
    assert d["affine"][2, 3] == pytest.approx(80.0) and d["affine"][2, 2] == pytest.approx(5.0)


def test_without_positions_slices_are_sorted_by_instance_number(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    uid = generate_uid()
    for n, k in enumerate([2, 0, 3, 1]):
        write_slice(folder / f"x{n}.dcm", k, 0.0, series_uid=uid, position=False)
    d = read_dicom(folder)
    for k in range(4):
        np.testing.assert_array_equal(d["image"][:, :, k], _hu(k).T)
    assert "InstanceNumber" in d["meta"]["geometry"]


def test_rescale_slope_and_intercept_give_hounsfield_units(tmp_path):
    write_series(tmp_path / "s", [0.0, 1.0, 2.0], slope=2.0, intercept=-2048.0)
    d = read_dicom(tmp_path / "s")
    stored = np.round((_hu(1) + 2048.0) / 2.0)  # what the file holds
    np.testing.assert_allclose(d["image"][:, :, 1], (stored * 2.0 - 2048.0).T)
    assert d["meta"]["rescale_slope"] == 2.0 and d["meta"]["rescale_intercept"] == -2048.0


def test_single_file_is_2d_with_padding_mask(tmp_path):
    p = write_slice(tmp_path / "one.dcm", 0, 5.0, series_uid=generate_uid(), padding=(-2000,))
    d = read_dicom(p)
    assert d["image"].shape == (COLS, ROWS) and d["spacing"] == pytest.approx((COL_SP, ROW_SP))
    assert d["padding_mask"].shape == d["image"].shape
    assert d["padding_mask"][:, 0].all() and not d["padding_mask"][:, 1:].any()
    assert d["image"][0, 0] == -3024.0  # the padding value, rescaled
    assert d["meta"]["window_center"] == 40.0


def test_monochrome1_is_inverted_so_bright_means_more(tmp_path):
    p = write_slice(tmp_path / "m1.dcm", 0, 0.0, series_uid=generate_uid(), photometric="MONOCHROME1",
                    slope=1.0, intercept=0.0)
    d = read_dicom(p)
    raw = _hu(0) - 0.0
    lo, hi = -(2.0**15), 2.0**15 - 1
    np.testing.assert_allclose(d["image"], (lo + hi - raw).T)
    assert d["meta"]["inverted"] and d["meta"]["window_center"] == pytest.approx(lo + hi - 40)
    assert not read_dicom(p, invert_monochrome1=False)["meta"]["inverted"]


def test_non_dicom_side_files_are_ignored(tmp_path):
    names = write_series(tmp_path / "s", [0.0, 2.0, 4.0])
    (tmp_path / "s" / "README.txt").write_text("notes")
    (tmp_path / "s" / ".DS_Store").write_bytes(b"\0\1")
    d = read_dicom(tmp_path / "s")
    assert d["image"].shape[2] == 3 and len(names) == 3


def test_two_series_need_series_uid(tmp_path):
    write_series(tmp_path / "s", [0.0, 2.0, 4.0], series_uid="1.2.3.1")
    (tmp_path / "s2").mkdir()
    for k, z in enumerate([0.0, 1.0]):
        write_slice(tmp_path / "s" / f"other{k}", k, z, series_uid="1.2.3.2")
    with pytest.raises(DataError, match="holds 2 series.*series_uid"):
        read_dicom(tmp_path / "s")
    assert read_dicom(tmp_path / "s", series_uid="1.2.3.1")["image"].shape[2] == 3
    assert read_dicom(tmp_path / "s", series_uid="1.2.3.2")["image"].shape[2] == 2


def test_rle_compressed_series_decodes_to_the_same_values(tmp_path):
    names = write_series(tmp_path / "s", [0.0, 2.0, 4.0])
    plain = read_dicom(tmp_path / "s")["image"]
    for p in names.values():
        ds = pydicom.dcmread(p)
        ds.compress(RLELossless)
        ds.save_as(p)
    d = read_dicom(tmp_path / "s")
    assert "RLE" in d["meta"]["transfer_syntax"]
    np.testing.assert_array_equal(d["image"], plain)


def _write_multiframe(path, zs):
    """An enhanced-style multi-frame CT whose frames are stored in the order of ``zs``."""
    p = write_slice(path, 0, 0.0, series_uid=generate_uid())
    ds = pydicom.dcmread(p)
    for key in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "RescaleSlope",
                "RescaleIntercept"):
        del ds[key]
    ds.NumberOfFrames = len(zs)
    shared = Dataset()
    po = Dataset()
    po.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    pm = Dataset()
    pm.PixelSpacing = [ROW_SP, COL_SP]
    pm.SliceThickness = 2.0
    pvt = Dataset()
    pvt.RescaleSlope, pvt.RescaleIntercept = 1, -1024
    shared.PlaneOrientationSequence = [po]
    shared.PixelMeasuresSequence = [pm]
    shared.PixelValueTransformationSequence = [pvt]
    ds.SharedFunctionalGroupsSequence = [shared]
    per = []
    frames = []
    for f, z in enumerate(zs):
        item, pp = Dataset(), Dataset()
        pp.ImagePositionPatient = [0.0, 0.0, z]
        item.PlanePositionSequence = [pp]
        per.append(item)
        frames.append((_hu(f) + 1024).astype(np.int16))  # frame f holds slice "f"
    ds.PerFrameFunctionalGroupsSequence = per
    ds.PixelData = np.stack(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_multiframe_frames_are_sorted_by_per_frame_position(tmp_path):
    zs = [4.0, 0.0, 6.0, 2.0]
    d = read_dicom(_write_multiframe(tmp_path / "mf.dcm", zs))
    assert d["image"].shape == (COLS, ROWS, 4) and d["spacing"] == pytest.approx((COL_SP, ROW_SP, 2.0))
    for i, f in enumerate(np.argsort(zs)):
        np.testing.assert_array_equal(d["image"][:, :, i], _hu(int(f)).T)
    assert d["meta"]["frame_order"] == [1, 3, 0, 2]


def test_multiframe_with_a_misplaced_frame_is_rejected(tmp_path):
    with pytest.raises(DataError, match="inconsistent slice spacing.*mf.dcm frame"):
        read_dicom(_write_multiframe(tmp_path / "mf.dcm", [0.0, 2.0, 4.0, 7.0, 8.0]))


# ----------------------------------------------------------------------------- real files
def _real(name):
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} not installed")
    return path


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
                                  "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"])
def test_real_transfer_syntaxes_decode_to_the_uncompressed_values(name):
    reference = read_dicom(_real("MR_small.dcm"))["image"]
    d = read_dicom(_real(name))
    np.testing.assert_array_equal(d["image"], reference)


def test_real_jpeg_lossy_decodes():
    d = read_dicom(_real("JPGExtended.dcm"))  # JPEG extended (process 2 and 4), 12-bit
    assert d["image"].shape == (256, 1024) and d["image"].max() > 100
    assert "JPEG Extended" in d["meta"]["transfer_syntax"]


def test_real_enhanced_ct_multiframe_has_per_frame_geometry():
    d = read_dicom(_real("eCT_Supplemental.dcm"))
    assert d["image"].shape == (512, 512, 2) and d["spacing"] == pytest.approx((0.388672, 0.388672, 10.0))
    assert d["meta"]["frame_order"] == [1, 0]  # stored frame 2 lies lower (z -159 before -149)
    assert d["meta"]["units"] == "HU" and d["image"].min() == -1024.0


# ----------------------------------------------------------------------------- bad input
def test_slice_at_wrong_spacing_names_the_misplaced_file(tmp_path):
    zs = [0.0, 2.5, 5.0, 8.5, 10.0, 12.5]  # slice 3 should be at 7.5
    names = write_series(tmp_path / "s", zs)
    with pytest.raises(DataError, match="inconsistent slice spacing") as err:
        read_dicom(tmp_path / "s")
    assert f"{names[3].name} looks misplaced" in str(err.value) and str(tmp_path / "s") in str(err.value)
    # an explicit tolerance accepts it
    assert read_dicom(tmp_path / "s", spacing_tolerance=0.5)["image"].shape[2] == 6


def test_missing_slice_is_reported(tmp_path):
    write_series(tmp_path / "s", [0.0, 2.0, 4.0, 8.0, 10.0, 12.0])
    with pytest.raises(DataError, match="inconsistent slice spacing.*4.000 mm.*missing"):
        read_dicom(tmp_path / "s")


def test_duplicate_slice_position(tmp_path):
    names = write_series(tmp_path / "s", [0.0, 2.0, 2.0, 4.0])
    with pytest.raises(DataError, match="two slices at the same position") as err:
        read_dicom(tmp_path / "s")
    assert names[1].name in str(err.value) or names[2].name in str(err.value)


def test_inconsistent_orientation_within_series(tmp_path):
    names = write_series(tmp_path / "s", [0.0, 2.0, 4.0], shuffle=False)
    write_slice(names[1], 1, 2.0, series_uid=pydicom.dcmread(names[0]).SeriesInstanceUID,
                iop=(1, 0, 0, 0, 0.9659, -0.2588))
    with pytest.raises(DataError, match=f"inconsistent orientation.*{names[1].name}"):
        read_dicom(tmp_path / "s")


def test_inconsistent_pixel_spacing_and_size(tmp_path):
    names = write_series(tmp_path / "s", [0.0, 2.0, 4.0], shuffle=False)
    uid = pydicom.dcmread(names[0]).SeriesInstanceUID
    write_slice(names[2], 2, 4.0, series_uid=uid, spacing=(0.5, 0.5))
    with pytest.raises(DataError, match=f"inconsistent pixel spacing.*{names[2].name}"):
        read_dicom(tmp_path / "s")
    write_slice(names[2], 2, 4.0, series_uid=uid, rows=ROWS + 2)
    with pytest.raises(DataError, match=f"inconsistent image size.*{names[2].name}"):
        read_dicom(tmp_path / "s")


def test_truncated_file_names_the_file(tmp_path):
    p = write_slice(tmp_path / "cut.dcm", 0, 0.0, series_uid=generate_uid())
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 100])
    with pytest.raises(DataError, match=r"cut\.dcm.*truncated"):
        read_dicom(p)
    with pytest.raises(DataError, match="truncated"):
        read_dicom(_real("MR_truncated.dcm"))


def test_corrupt_file_in_series_folder(tmp_path):
    write_series(tmp_path / "s", [0.0, 2.0, 4.0])
    (tmp_path / "s" / "junk.dcm").write_bytes(b"not dicom at all" * 40)
    with pytest.raises(DataError, match=r"junk\.dcm"):
        read_dicom(tmp_path / "s")
    with pytest.raises(DataError) as err:
        read_dicom(tmp_path / "s")
    msg = str(err.value)
    assert "not a DICOM Part-10 file" in msg and "Remove it from the series folder" in msg
    assert str(tmp_path / "s") in msg and "force" not in msg


def test_non_dicom_file_message_is_medbench_s_own(tmp_path):
    """A single non-DICOM file: the file, no DICM preamble, what to pass instead; no pydicom 'force=True' hint."""
    for name, data in [("notes.dcm", b"not dicom at all" * 40), ("tiny.dcm", b"x"), ("empty.dcm", b"")]:
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(DataError) as err:
            read_dicom(p)
        msg = str(err.value)
        assert str(p) in msg and "not a DICOM Part-10 file" in msg and "'DICM' preamble" in msg
        assert "Pass a DICOM file" in msg
        assert "force" not in msg.lower() and "folder of" not in msg and "Remove it from" not in msg
    nii = tmp_path / "scan.nii.gz"
    nii.write_bytes(b"\x1f\x8b" + b"0" * 400)
    with pytest.raises(DataError, match=r"scan\.nii\.gz is not a DICOM.*read_nifti"):
        read_dicom(nii)


def test_missing_pixel_data(tmp_path):
    p = write_slice(tmp_path / "nopix.dcm", 0, 0.0, series_uid=generate_uid(), pixels=False)
    with pytest.raises(DataError, match=r"nopix\.dcm has no pixel data"):
        read_dicom(p)
    with pytest.raises(DataError, match="no pixel data.*RT Plan"):
        read_dicom(_real("rtplan.dcm"))


def test_nan_values_are_rejected(tmp_path):
    p = write_slice(tmp_path / "nan.dcm", 0, 0.0, series_uid=generate_uid())
    ds = pydicom.dcmread(p)
    del ds.PixelData
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31
    del ds.PixelRepresentation
    arr = _hu(0)
    arr[3, 4] = np.nan
    ds.FloatPixelData = arr.astype(np.float32).tobytes()
    ds.RescaleIntercept = 0
    ds.save_as(p)
    with pytest.raises(DataError, match=r"nan\.dcm.*NaN or inf"):
        read_dicom(p)


def test_absent_paths(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_dicom(tmp_path / "nope.dcm")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="no DICOM files"):
        read_dicom(tmp_path / "empty")
    assert issubclass(DataNotFoundError, MedbenchError)


def test_missing_decoder_says_what_to_install(monkeypatch):
    def no_decoder(self):
        raise RuntimeError("Unable to decompress 'JPEG 2000 Image Compression (Lossless Only)' pixel data because "
                           "all plugins are missing dependencies")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(no_decoder))
    with pytest.raises(DataError, match=r"MR_small_jp2klossless\.dcm: cannot decode pixel data in transfer syntax "
                                        r"JPEG 2000.*pip install pylibjpeg"):
        read_dicom(_real("MR_small_jp2klossless.dcm"))
