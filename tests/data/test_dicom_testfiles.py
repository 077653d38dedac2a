"""The shipped DICOM test files are found on disk without any download, and the CT series reads as one volume."""
from __future__ import annotations

from medbench.data.dicom import read_dicom
from medbench.data.dicom_testfiles import sample_series_folder, shipped_dicom_files


def test_shipped_files_and_series():
    files = shipped_dicom_files()
    assert len(files) > 100 and len(set(files)) == len(files)
    assert {"CT_small.dcm", "693_UNCR.dcm"} <= {f.name for f in files}
    assert len(shipped_dicom_files(pixel_data_only=False)) >= len(files)
    d = read_dicom(sample_series_folder())
    assert d["image"].shape == (16, 16, 5) and d["orientation"] == "LPS"
