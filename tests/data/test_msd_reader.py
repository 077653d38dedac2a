"""load_msd_task on a mini Medical Segmentation Decathlon folder that the tests write."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from medbench.data.msd import default_patient_id, load_msd_task, read_msd_dataset_json
from medbench.data.nifti import write_nifti
from medbench.errors import ConfigError, DataError, DataNotFoundError
from medbench.settings import data_dir

AFFINE = np.diag([1.5, 1.5, 3.0, 1.0])


def make_msd(root, cases=("spleen_1", "spleen_2", "spleen_3", "spleen_4", "spleen_5"), shape=(10, 9, 6),
             labels=None, extra_json=None):
    """Task folder with dataset.json, imagesTr/ and labelsTr/ (one small NIfTI pair per case)."""
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    (root / "imagesTs").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    training = []
    for case in cases:
        img = rng.normal(0, 100, shape).astype(np.float32)
        lab = np.zeros(shape, np.uint8)
        lab[2:6, 2:6, 1:4] = 1
        write_nifti(root / "imagesTr" / f"{case}.nii.gz", img, AFFINE)
        write_nifti(root / "labelsTr" / f"{case}.nii.gz", lab, AFFINE)
        # macOS resource forks that ship in some MSD archives must be ignored
        (root / "imagesTr" / f"._{case}.nii.gz").write_bytes(b"\0\5\x16\x07")
        training.append({"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"})
    info = {"name": "Spleen", "modality": {"0": "CT"}, "labels": labels or {"0": "background", "1": "spleen"},
            "numTraining": len(cases), "training": training, "test": []}
    info.update(extra_json or {})
    (root / "dataset.json").write_text(json.dumps(info))
    return root


def test_split_by_patient_is_disjoint_complete_and_seeded(tmp_path):
    root = make_msd(tmp_path / "Task09_Spleen")
    train, val = load_msd_task(root, val_fraction=0.4, seed=0)
    assert len(train) == 3 and len(val) == 2
    assert {c["patient_id"] for c in train}.isdisjoint({c["patient_id"] for c in val})
    assert sorted(c["patient_id"] for c in train + val) == [f"spleen_{i}" for i in range(1, 6)]
    for c in train + val:
        assert c["image"].endswith(f"imagesTr/{c['patient_id']}.nii.gz")
        assert c["label"].endswith(f"labelsTr/{c['patient_id']}.nii.gz")
    assert load_msd_task(root, val_fraction=0.4, seed=0) == (train, val)
    splits = {tuple(c["patient_id"] for c in load_msd_task(root, 0.4, seed=s)[1]) for s in range(8)}
    assert len(splits) > 1  # the seed matters
    assert load_msd_task(root, val_fraction=0.0)[1] == []


def test_several_cases_of_one_patient_stay_together(tmp_path):
    cases = ["pat1_a", "pat1_b", "pat2_a", "pat3_a", "pat3_b", "pat3_c", "pat4_a"]
    root = make_msd(tmp_path / "Task", cases=cases)
    for seed in range(6):
        train, val = load_msd_task(root, val_fraction=0.25, seed=seed, patient_id=r"(pat\d+)_")
        assert len({c["patient_id"] for c in val}) == 1
        tr_p, va_p = {c["patient_id"] for c in train}, {c["patient_id"] for c in val}
        assert tr_p.isdisjoint(va_p) and tr_p | va_p == {"pat1", "pat2", "pat3", "pat4"}
        assert len(train) + len(val) == len(cases)


def test_dicts_load_with_monai(tmp_path):
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged

    train, _ = load_msd_task(make_msd(tmp_path / "T"), val_fraction=0.2)
    out = Compose([LoadImaged(keys=["image", "label"]), EnsureChannelFirstd(keys=["image", "label"])])(train[0])
    assert tuple(out["image"].shape) == (1, 10, 9, 6) and tuple(out["label"].shape) == (1, 10, 9, 6)
    np.testing.assert_allclose(np.asarray(out["image"].affine), AFFINE)


def test_task_name_is_found_in_the_data_directory():
    make_msd(data_dir() / "msd" / "Task09_Spleen")
    train, val = load_msd_task("Task09_Spleen")
    assert len(train) + len(val) == 5
    assert read_msd_dataset_json("Task09_Spleen")["name"] == "Spleen"


def test_default_patient_id():
    assert default_patient_id("./imagesTr/la_003.nii.gz") == "la_003"
    assert default_patient_id("/x/BRATS_001_0000.nii.gz") == "BRATS_001"


# ----------------------------------------------------------------------------- bad input
def test_missing_task_folder_says_where_to_get_it():
    with pytest.raises(DataNotFoundError, match=r"Task02_Heart.*medicaldecathlon\.com.*msd"):
        load_msd_task("Task02_Heart")


def test_missing_or_broken_dataset_json(tmp_path):
    (tmp_path / "T").mkdir()
    with pytest.raises(DataNotFoundError, match=r"dataset\.json not found"):
        load_msd_task(tmp_path / "T")
    (tmp_path / "T" / "dataset.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_msd_task(tmp_path / "T")
    (tmp_path / "T" / "dataset.json").write_text(json.dumps({"training": [{"image": "x"}]}))
    with pytest.raises(DataError, match="training entry 0 must have 'image' and 'label'"):
        load_msd_task(tmp_path / "T")


def test_listed_file_missing(tmp_path):
    root = make_msd(tmp_path / "T")
    (root / "labelsTr" / "spleen_3.nii.gz").unlink()
    with pytest.raises(DataNotFoundError, match=r"labelsTr/spleen_3\.nii\.gz is listed as label"):
        load_msd_task(root)


def test_image_label_shape_mismatch(tmp_path):
    root = make_msd(tmp_path / "T")
    write_nifti(root / "labelsTr" / "spleen_2.nii.gz", np.ones((10, 9, 5), np.uint8), AFFINE)
    with pytest.raises(DataError, match=r"shape mismatch: .*spleen_2\.nii\.gz"):
        load_msd_task(root)


def test_image_label_affine_mismatch(tmp_path):
    root = make_msd(tmp_path / "T")
    write_nifti(root / "labelsTr" / "spleen_4.nii.gz", np.ones((10, 9, 6), np.uint8), np.diag([1.5, 1.5, 2.0, 1]))
    with pytest.raises(DataError, match=r"affine mismatch.*spleen_4\.nii\.gz"):
        load_msd_task(root)
    assert len(sum(load_msd_task(root, validate="none"), [])) == 5  # header checks can be switched off


def test_full_validation_finds_empty_labels_nan_and_undeclared_values(tmp_path):
    root = make_msd(tmp_path / "T")
    load_msd_task(root, validate="full")
    write_nifti(root / "labelsTr" / "spleen_5.nii.gz", np.zeros((10, 9, 6), np.uint8), AFFINE)
    assert len(sum(load_msd_task(root), [])) == 5  # header check does not read voxels
    with pytest.raises(DataError, match=r"empty label: .*spleen_5\.nii\.gz"):
        load_msd_task(root, validate="full")
    assert len(sum(load_msd_task(root, validate="full", allow_empty_label=True), [])) == 5
    lab = np.zeros((10, 9, 6), np.uint8)
    lab[0, 0, 0] = 3
    write_nifti(root / "labelsTr" / "spleen_5.nii.gz", lab, AFFINE)
    with pytest.raises(DataError, match=r"spleen_5\.nii\.gz holds label values \[3\]"):
        load_msd_task(root, validate="full")
    img = np.zeros((10, 9, 6), np.float32)
    img[1, 1, 1] = np.nan  # written with nibabel: write_nifti refuses NaN
    nib.save(nib.Nifti1Image(img, np.asarray(AFFINE, dtype=np.float64)), str(root / "imagesTr" / "spleen_1.nii.gz"))
    with pytest.raises(DataError, match=r"imagesTr/spleen_1\.nii\.gz: 1 of 540 voxels are NaN"):
        load_msd_task(root, validate="full")


def test_corrupt_image_is_named(tmp_path):
    root = make_msd(tmp_path / "T")
    (root / "imagesTr" / "spleen_1.nii.gz").write_bytes(b"broken")
    with pytest.raises(DataError, match=r"spleen_1\.nii\.gz"):
        load_msd_task(root)


@pytest.mark.parametrize("kwargs,match", [
    ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\)"),
    ({"validate": "some"}, "validate must be"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        load_msd_task(make_msd(tmp_path / "T"), **kwargs)


def test_too_few_patients(tmp_path):
    with pytest.raises(ConfigError, match="1 patient"):
        load_msd_task(make_msd(tmp_path / "T", cases=("only_1",)), val_fraction=0.2)
