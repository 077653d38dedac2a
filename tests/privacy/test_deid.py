"""DICOM de-identification (PS3.15 Annex E) on real pydicom files; the independent verifier judges each output."""
from __future__ import annotations

import warnings

import pydicom
import pytest

from medbench.data.dicom_testfiles import shipped_dicom_files
from medbench.errors import ConfigError
from medbench.privacy.deid import DeidOptions, annex_e_table, deidentify_dataset
from medbench.privacy.verify import verify


def test_table_is_annex_e():
    single, ranges = annex_e_table()
    assert len(single) + len(ranges) > 600
    assert single[(0x0010, 0x0010)] == "Z"          # Patient's Name
    assert single[(0x0008, 0x0018)] == "U"          # SOP Instance UID
    assert ranges                                   # overlay/curve groups


def test_basic_profile_on_real_ct(ct, key):
    opts = DeidOptions(key=key)
    res = deidentify_dataset(ct, opts)
    out = res.dataset
    assert ct.PatientName == "CompressedSamples^CT1"        # the input is not modified
    assert str(out.PatientName) == str(out.PatientID) == res.pseudonym != ct.PatientID
    assert out.PatientIdentityRemoved == "YES"
    codes = [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113107", "113108"]
    assert "InstitutionName" not in out and "StudyDescription" not in out
    assert not any(e.tag.is_private for e in out.iterall())
    assert out.SOPInstanceUID != ct.SOPInstanceUID and out.SOPInstanceUID.startswith("2.25.")
    # one whole-day shift for every date; sex and age kept by the option
    assert out.StudyDate != ct.StudyDate and res.date_shift_days < 0
    assert out.PatientSex == ct.PatientSex
    v = verify(ct, out, opts)
    assert v.ok, (v.violations, v.leaks)
    assert v.date_shifts == {res.date_shift_days}
    assert v.tags_checked > 20


def test_options_off_removes_dates_and_characteristics(ct, key):
    opts = DeidOptions(key=key, shift_dates=False, keep_patient_characteristics=False)
    out = deidentify_dataset(ct, opts).dataset
    assert not out.get("StudyDate") and "PatientAge" not in out and "PatientWeight" not in out
    assert [i.CodeValue for i in out.DeidentificationMethodCodeSequence] == ["113100"]
    assert verify(ct, out, opts).ok


def test_keyed_and_stable(ct, key):
    a = deidentify_dataset(ct, DeidOptions(key=key)).dataset
    b = deidentify_dataset(ct, DeidOptions(key=key)).dataset
    c = deidentify_dataset(ct, DeidOptions(key=key + b"x")).dataset
    assert a.SOPInstanceUID == b.SOPInstanceUID and a.StudyDate == b.StudyDate and a.PatientID == b.PatientID
    assert a.SOPInstanceUID != c.SOPInstanceUID and a.PatientID != c.PatientID


def test_burned_in_flagged(us, key):
    res = deidentify_dataset(us, DeidOptions(key=key))
    assert res.burned_in_review and "US" in res.burned_in_reason


def test_every_shipped_file_has_no_leak(key):
    files = shipped_dicom_files()
    assert len(files) > 100
    opts = DeidOptions(key=key)
    bad = []
    for f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(f)
        v = verify(ds, deidentify_dataset(ds, opts).dataset, opts)
        if not v.ok:
            bad.append((f.name, v.violations[:2], v.leaks[:2]))
    assert not bad


def test_short_key_rejected():
    with pytest.raises(ConfigError):
        DeidOptions(key="short")
