"""Chapter 08's report (executed notebook and HTML) holds no identifying value of any input DICOM file."""
from __future__ import annotations

from medbench.data.dicom_testfiles import shipped_dicom_files
from medbench.privacy.verify import find_phi, identifying_values, identifying_values_of
from medbench.reports import run_report


def test_find_phi_ignores_images_and_word_parts():
    vals = {"Moriarty", "Smith^John", "20040119"}
    assert find_phi("seen by Dr Moriarty on 20040119", vals) == ["20040119", "Moriarty"]
    assert find_phi("<img src='data:image/png;base64,AAMoriartyBB20040119'>", vals) == []
    assert find_phi("smithsonian", {"Smith"}) == []


def test_identifying_values_of_a_real_file():
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    vals = identifying_values(ds)
    assert str(ds.PatientName) in vals and ds.StudyDate in vals and ds.SOPInstanceUID in vals
    assert "0010" not in vals


def test_chapter_report_has_no_phi(tmp_path):
    report = run_report(profile="smoke", chapters=["08"], out=tmp_path / "r", progress=False)
    entry = report.chapters[0]
    assert entry["status"] == "ok", entry.get("error")
    assert entry["metrics"]["report_phi_hits"] == 0
    phi = identifying_values_of(shipped_dicom_files())
    assert len(phi) > 100
    outputs = [p for p in (tmp_path / "r").rglob("*") if p.suffix in (".html", ".ipynb")]
    assert any(p.suffix == ".html" for p in outputs) and any(p.suffix == ".ipynb" for p in outputs)
    for p in outputs:
        hits = find_phi(p.read_text(errors="ignore"), phi)
        assert not hits, f"{p.name}: {len(hits)} identifying values of the input DICOM files"
