"""DICOM de-identification (PS3.15 Annex E) and its independent verifier, on real pydicom files."""
from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medbench.cli import main
from medbench.data.dicom import read_dicom
from medbench.errors import ConfigError
from medbench.privacy.deid import (
    DeidOptions,
    annex_e_table,
    deidentify_dataset,
    deidentify_path,
    phi_values,
    sample_series_folder,
    shipped_dicom_files,
    verify,
)

KEY = b"test-key-0123456789abcdef"


def _read(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(get_testdata_file(name, download=False))


@pytest.fixture
def ct():
    return _read("CT_small.dcm")


def test_table_is_annex_e():
    single, ranges = annex_e_table()
    assert len(single) + len(ranges) > 600
    assert single[(0x0010, 0x0010)] == "Z"          # Patient's Name
    assert single[(0x0008, 0x0018)] == "U"          # SOP Instance UID
    assert ranges                                   # overlay/curve groups


def test_basic_profile_on_real_ct(ct):
    opts = DeidOptions(key=KEY)
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


def test_options_off_removes_dates_and_characteristics(ct):
    opts = DeidOptions(key=KEY, shift_dates=False, keep_patient_characteristics=False)
    out = deidentify_dataset(ct, opts).dataset
    assert not out.get("StudyDate") and "PatientAge" not in out and "PatientWeight" not in out
    assert [i.CodeValue for i in out.DeidentificationMethodCodeSequence] == ["113100"]
    assert verify(ct, out, opts).ok


def test_keyed_and_stable(ct):
    a = deidentify_dataset(ct, DeidOptions(key=KEY)).dataset
    b = deidentify_dataset(ct, DeidOptions(key=KEY)).dataset
    c = deidentify_dataset(ct, DeidOptions(key=KEY + b"x")).dataset
    assert a.SOPInstanceUID == b.SOPInstanceUID and a.StudyDate == b.StudyDate and a.PatientID == b.PatientID
    assert a.SOPInstanceUID != c.SOPInstanceUID and a.PatientID != c.PatientID


def test_verifier_catches_name_in_private_tag(ct):
    opts = DeidOptions(key=KEY)
    out = deidentify_dataset(ct, opts).dataset
    block = out.private_block(0x0011, "LEAKY VENDOR", create=True)
    block.add_new(0x01, "LO", "CompressedSamples^CT1")
    v = verify(ct, out, opts)
    assert not v.ok
    assert any("private" in x for x in v.violations)
    assert any("CompressedSamples" in x for x in v.leaks)


def test_verifier_catches_unshifted_date_and_kept_uid(ct):
    opts = DeidOptions(key=KEY)
    out = deidentify_dataset(ct, opts).dataset
    out.StudyDate = ct.StudyDate
    out.SeriesInstanceUID = ct.SeriesInstanceUID
    v = verify(ct, out, opts)
    assert any("StudyDate" in x for x in v.violations)
    assert any("SeriesInstanceUID" in x for x in v.violations)
    assert any(ct.StudyDate in x for x in v.leaks)


def test_verifier_catches_phi_in_free_text(ct):
    opts = DeidOptions(key=KEY)
    out = deidentify_dataset(ct, opts).dataset
    out.ImageComments = f"patient {ct.PatientID} seen by Dr X"  # X in the table: must be absent
    v = verify(ct, out, opts)
    assert any("ImageComments" in x for x in v.violations) and v.leaks
    assert ct.PatientID in phi_values(ct)


def test_burned_in_flagged():
    us = _read("US1_UNCR.dcm") if get_testdata_file("US1_UNCR.dcm", download=False) else None
    if us is None:
        pytest.skip("US sample not installed")
    res = deidentify_dataset(us, DeidOptions(key=KEY))
    assert res.burned_in_review and "US" in res.burned_in_reason


def test_every_shipped_file_has_no_leak():
    files = shipped_dicom_files()
    assert len(files) > 100
    opts = DeidOptions(key=KEY)
    bad = []
    for f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(f)
        v = verify(ds, deidentify_dataset(ds, opts).dataset, opts)
        if not v.ok:
            bad.append((f.name, v.violations[:2], v.leaks[:2]))
    assert not bad


def test_series_uids_consistent_and_reload_same(tmp_path):
    src = sample_series_folder()
    table = deidentify_path(src, tmp_path / "out", DeidOptions(key=KEY))
    assert (table["status"] == "ok").all() and len(table) == 5
    outs = sorted((tmp_path / "out").glob("*"))
    dss = [pydicom.dcmread(f) for f in outs if f.name != "deid_report.csv"]
    assert len({d.SeriesInstanceUID for d in dss}) == 1 and len({d.StudyInstanceUID for d in dss}) == 1
    assert len({d.FrameOfReferenceUID for d in dss}) == 1 and len({d.SOPInstanceUID for d in dss}) == 5
    assert len({d.PatientID for d in dss}) == 1
    a, b = read_dicom(src), read_dicom(tmp_path / "out")
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_allclose(a["affine"], b["affine"])


def test_cli_folder_with_corrupt_file(tmp_path, capsys):
    src = tmp_path / "in"
    shutil.copytree(sample_series_folder(), src)
    (src / "broken.dcm").write_bytes(b"DICM not really" * 10)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    key = tmp_path / "key"
    key.write_text("a-secret-of-at-least-16-bytes")
    report = tmp_path / "report.json"
    rc = main(["deid", str(src), str(tmp_path / "out"), "--key-file", str(key), "--report", str(report)])
    assert rc == 1
    rows = json.loads(report.read_text())
    assert len(rows) == 6
    failed = [r for r in rows if r["status"] != "ok"]
    assert len(failed) == 1 and failed[0]["input"].endswith("broken.dcm") and failed[0]["error"]
    assert len(list((tmp_path / "out").glob("*"))) == 5                 # the other five were written
    assert not list((tmp_path / "out").glob(".*.part"))                 # no partial files left
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before    # input untouched
    assert "broken.dcm" in capsys.readouterr().err


def test_cli_ok_exit_and_usage_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDBENCH_DEID_KEY", "another-secret-of-16+bytes")
    f = get_testdata_file("CT_small.dcm", download=False)
    assert main(["deid", f, str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "CT_small.dcm").exists() and (tmp_path / "o" / "deid_report.csv").exists()
    src = tmp_path / "in"
    src.mkdir()
    assert main(["deid", str(src), str(src / "inside")]) == 2           # output inside the input
    monkeypatch.delenv("MEDBENCH_DEID_KEY")
    assert main(["deid", f, str(tmp_path / "o2")]) == 2                 # no key


def test_short_key_rejected():
    with pytest.raises(ConfigError):
        DeidOptions(key="short")
