"""The independent verifier of de-identified DICOM, on real files."""
from __future__ import annotations

from medbench.privacy.deid import DeidOptions, deidentify_dataset
from medbench.privacy.verify import phi_values, verify


def test_verifier_catches_name_in_private_tag(ct, key):
    opts = DeidOptions(key=key)
    out = deidentify_dataset(ct, opts).dataset
    block = out.private_block(0x0011, "LEAKY VENDOR", create=True)
    block.add_new(0x01, "LO", "CompressedSamples^CT1")
    v = verify(ct, out, opts)
    assert not v.ok
    assert any("private" in x for x in v.violations)
    assert any("CompressedSamples" in x for x in v.leaks)


def test_verifier_catches_unshifted_date_and_kept_uid(ct, key):
    opts = DeidOptions(key=key)
    out = deidentify_dataset(ct, opts).dataset
    out.StudyDate = ct.StudyDate
    out.SeriesInstanceUID = ct.SeriesInstanceUID
    v = verify(ct, out, opts)
    assert any("StudyDate" in x for x in v.violations)
    assert any("SeriesInstanceUID" in x for x in v.violations)
    assert any(ct.StudyDate in x for x in v.leaks)


def test_verifier_catches_phi_in_free_text(ct, key):
    opts = DeidOptions(key=key)
    out = deidentify_dataset(ct, opts).dataset
    out.ImageComments = f"patient {ct.PatientID} seen by Dr X"  # X in the table: must be absent
    v = verify(ct, out, opts)
    assert any("ImageComments" in x for x in v.violations) and v.leaks
    assert ct.PatientID in phi_values(ct)
