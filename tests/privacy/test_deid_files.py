"""The fail-closed file pipeline (library and ``medbench deid``) on real files: series, corrupt input, usage errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from medbench.cli import main
from medbench.data.dicom import read_dicom
from medbench.data.dicom_testfiles import sample_series_folder
from medbench.privacy.deid import DeidOptions
from medbench.privacy.deid_files import deidentify_path


def test_series_uids_consistent_and_reload_same(tmp_path, key):
    src = sample_series_folder()
    table = deidentify_path(src, tmp_path / "out", DeidOptions(key=key))
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
