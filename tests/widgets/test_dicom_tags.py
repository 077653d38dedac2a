"""DicomTagViewer: driven as plain Python; PHI masked unless revealed; burned-in flag and verifier shown."""
from __future__ import annotations

import pytest
from pydicom.data import get_testdata_file

from medbench.errors import ConfigError
from medbench.privacy.deid import DeidOptions
from medbench.widgets.dicom_tags import DicomTagViewer

OPTS = DeidOptions(key=b"widget-test-key-0123456789")


def test_viewer_masks_and_reveals():
    files = [get_testdata_file(n, download=False) for n in ("CT_small.dcm", "US1_UNCR.dcm")]
    v = DicomTagViewer(files, OPTS)
    assert "verifier: OK" in v.summary.value
    assert "CompressedSamples" not in v.view.value and "hidden" in v.view.value
    row = v.table.set_index("keyword").loc["StudyDate"]
    assert row["action"] == "SHIFT" and row["before"].startswith("<hidden")
    v.reveal.value = True
    assert "CompressedSamples" in v.view.value
    n_changed = len(v.table)
    v.only_changed.value = False
    assert len(v.table) > n_changed
    v.file.value = 1
    assert "burned-in" in v.summary.value


def test_viewer_needs_files():
    with pytest.raises(ConfigError):
        DicomTagViewer([], OPTS)
