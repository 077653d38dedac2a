"""Checking a de-identified DICOM output, independently of the de-identifier.

:func:`verify` reads the original and the output and checks (1) every element of the output, at
any depth, against the action its tag has in Annex E's table (X absent; Z empty or a dummy; D/U
changed; K unchanged; dates shifted by one common offset under the option) and (2) that no string
value of the output (any VR, any depth, bytes decoded) contains any PHI value of the input
(:func:`phi_values`: person names and their components, IDs, dates, addresses, free text). It
shares only the *table* with the de-identifier (:func:`~medbench.privacy.deid.annex_e_table` and
its per-tag lookup with the options), never the code that writes the output.

:func:`identifying_values`, :func:`identifying_values_of` and :func:`find_phi` search reports and
logs for the identifying values of input files; :func:`tag_table` shows an input's tags next to
its output's, PHI masked.

Dependencies point one way: this module imports :mod:`medbench.privacy.deid` (the table and its
lookup, :class:`~medbench.privacy.deid.DeidOptions`); ``deid`` never imports this module, and
:mod:`medbench.privacy.deid_files` (the fail-closed file pipeline) imports both.
"""
from __future__ import annotations

import datetime as _dt
import warnings
from dataclasses import dataclass, field

import pydicom
from pydicom.dataset import Dataset

from medbench.privacy.deid import (
    DeidOptions,
    annex_e_table,
    effective_action,
    element_values,
    table_action,
)

__all__ = [
    "VerifyResult", "verify", "phi_values", "identifying_values", "identifying_values_of", "find_phi", "tag_table",
]

_PERSON_VRS = {"PN"}
#: Values the de-identifier writes as dummies; an input holding them (many test files already
#: say "Anonymized") is not a leak when the output holds them too.
DUMMY_VALUES = {"ANONYMIZED", "ANONYMOUS", "ANON", "UNKNOWN", "NONE", "DEIDENTIFIED", "REMOVED", "00010101"}
#: Text medbench writes into every output (method description, code meanings).
_MEDBENCH_TEXT = ("PS3.15 Annex E Basic Profile (medbench, dicom-anonymizer 2024b table); dates shifted; "
                  "patient characteristics kept", "Basic Application Confidentiality Profile",
                  "Retain Longitudinal Temporal Information Modified Dates Option",
                  "Retain Patient Characteristics Option", "MODIFIED", "YES", "http://anonymized.invalid")


@dataclass
class VerifyResult:
    """What :func:`verify` found. ``ok`` is True when there is no violation and no leak."""

    tags_checked: int = 0
    violations: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    date_shifts: set = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.violations and not self.leaks


# ------------------------------------------------------------------------------------ verifier
def _strings(ds: Dataset, skip_pixels: bool = True):
    """Every value of ``ds`` (file meta too, any depth) as text: ``(tag keyword or hex, tag, text)``."""
    datasets = [ds] + ([ds.file_meta] if getattr(ds, "file_meta", None) is not None else [])
    for d in datasets:
        for elem in d.iterall():
            if elem.VR == "SQ" or (skip_pixels and elem.tag in (0x7FE00010, 0x7FE00008, 0x7FE00009)):
                continue
            for v in element_values(elem):
                if isinstance(v, bytes):
                    v = v.decode("latin-1", errors="ignore")
                yield (elem.keyword or str(elem.tag)), elem.tag, str(v)


def phi_values(ds: Dataset, opts: DeidOptions | None = None, min_len: int = 4) -> set[str]:
    """The PHI values of an input dataset: what must not appear anywhere in its de-identified output.

    Every value (any depth, private tags included) of a tag that the table does not keep: person
    names and each of their components, IDs, dates, addresses, descriptions and free text, UIDs.
    Values that occur (case-insensitive, as a substring) in values of kept tags (e.g. "SIEMENS" as
    StationName and as Manufacturer) or in the attributes medbench writes are not PHI;
    nor are values shorter than ``min_len`` characters, numbers-only values shorter than 6 digits
    (slice counts, not identifiers), or the dummy words in :data:`DUMMY_VALUES`.
    """
    opts = opts or DeidOptions(key=b"0" * 16)
    single, ranges = annex_e_table()
    phi, public = set(), set()
    for elem in ds.iterall():
        if elem.VR == "SQ" or elem.tag in (0x7FE00010,):
            continue
        action = table_action(elem.tag, single, ranges)
        if elem.tag.is_private:
            action = "X"
        action = effective_action(elem.tag, elem.VR, action, opts)
        kept = action in (None, "K", "KEEP_TIME")
        for v in element_values(elem):
            if isinstance(v, bytes):
                if elem.VR not in ("OB", "UN", "UT", "LT") or len(v) > 4096:
                    continue
                v = v.decode("latin-1", errors="ignore")
            s = str(v).strip().strip("\x00").strip()
            parts = [s]
            if elem.VR in _PERSON_VRS or elem.VR == "UN":
                parts += [p.strip() for p in s.replace("=", "^").split("^")]
            for p in parts:
                (public if kept else phi).add(p)
    public_text = "\n".join(public | set(_MEDBENCH_TEXT)).lower()
    out = set()
    for p in phi - public:
        if p.lower() in public_text:  # kept elsewhere by the profile itself (e.g. "TOSHIBA" in Manufacturer)
            continue
        if len(p) < min_len or p.upper() in DUMMY_VALUES or not any(c.isalnum() for c in p):
            continue
        if p.replace(".", "").replace("-", "").isdigit() and len(p) < 6:
            continue
        out.add(p)
    return out


def verify(original: Dataset, deid: Dataset, opts: DeidOptions | None = None, phi: set[str] | None = None) -> VerifyResult:
    """Check a de-identified dataset against its original, independently of the de-identifier's code.

    Args:
        original: the input dataset.
        deid: the output dataset.
        opts: the options used (which optional K / date-shift columns apply); key not needed.
        phi: PHI values to search for (default :func:`phi_values` of ``original``).

    Returns:
        :class:`VerifyResult`: ``tags_checked`` (elements of the output with a table action, plus the
        required de-identification attributes), ``violations`` (tag and broken rule), ``leaks`` (where a
        PHI value was found), ``date_shifts`` (the day offsets seen; one value means consistent).
    """
    opts = opts or DeidOptions(key=b"0" * 16)
    single, ranges = annex_e_table()
    res = VerifyResult()
    orig_top = {e.tag: e for e in original}
    shifted: set = set()
    # 1. every element of the output, at every depth, obeys its action
    for elem in deid.iterall():
        tag = elem.tag
        name = elem.keyword or str(tag)
        if tag.is_private:
            res.violations.append(f"{name}: private tag present (must be removed)")
            continue
        action = effective_action(tag, elem.VR, table_action(tag, single, ranges), opts)
        if action is None or tag in (0x00100010, 0x00100020):  # patient name/ID: checked below
            continue
        res.tags_checked += 1
        vals = [str(v).strip() for v in element_values(elem)] if elem.VR != "SQ" else []
        orig = orig_top.get(tag)
        ovals = [str(v).strip() for v in element_values(orig)] if orig is not None and orig.VR != "SQ" else []
        if action == "X":
            res.violations.append(f"{name}: present but the profile removes it (X)")
        elif action in ("K",) and orig is not None and orig.VR != "SQ" and vals != ovals:
            res.violations.append(f"{name}: changed but the option keeps it (K)")
        elif action == "U":
            if any(v and v in ovals for v in vals):
                res.violations.append(f"{name}: UID not replaced (U)")
        elif action == "SHIFT":
            for v, o in zip(vals, ovals):
                if not v:
                    continue
                try:
                    dv = _dt.date(int(v[:4]), int(v[4:6]), int(v[6:8]))
                    do = _dt.date(int(o[:4]), int(o[4:6]), int(o[6:8]))
                except (ValueError, IndexError):
                    res.violations.append(f"{name}: date {v!r} cannot be compared with the original")
                    continue
                res.date_shifts.add((dv - do).days)
                if dv == do:
                    res.violations.append(f"{name}: date not shifted")
                else:  # a shifted date may equal another input date by chance: not a leak
                    shifted.add((tag, v))
        elif action == "Z" and any(v and v.upper() not in DUMMY_VALUES and v != "0" and v in ovals for v in vals):
            res.violations.append(f"{name}: keeps its original value (Z: empty or dummy)")
        elif action in ("D", "Z/D", "X/Z", "X/D", "X/Z/D") and vals and ovals and vals == ovals \
                and any(v and v.upper() not in DUMMY_VALUES for v in ovals):
            res.violations.append(f"{name}: keeps its original value ({action})")
    # removed (X) elements of the input must be absent from the output's top level
    for elem in original:
        action = effective_action(elem.tag, elem.VR, table_action(elem.tag, single, ranges), opts)
        if action == "X" and not elem.tag.is_private:
            res.tags_checked += 1  # (its presence is reported by the loop above)
    if opts.shift_dates and len(res.date_shifts) > 1:
        res.violations.append(f"dates shifted by different offsets {sorted(res.date_shifts)} (one per patient expected)")
    # 2. the attributes the profile requires
    res.tags_checked += 2
    if str(deid.get("PatientIdentityRemoved", "")) != "YES":
        res.violations.append("PatientIdentityRemoved is not YES")
    codes = {str(i.get("CodeValue", "")) for i in deid.get("DeidentificationMethodCodeSequence", [])}
    if "113100" not in codes:
        res.violations.append("DeidentificationMethodCodeSequence lacks DCM 113100 (Basic profile)")
    # 3. every PHI value of the input, searched in every string of the output
    phi = phi_values(original, opts) if phi is None else phi
    if phi:
        lowered = [(p, p.lower()) for p in phi]
        for where, tag, text in _strings(deid):
            if (tag, text.strip()) in shifted:
                continue
            t = text.lower()
            for p, pl in lowered:
                if pl in t:
                    res.leaks.append(f"{where}: holds input PHI value {p!r}")
    return res


# ------------------------------------------------------------------------------ report check
_ID_KEYWORDS = ("PatientID", "OtherPatientIDs", "AccessionNumber", "IssuerOfPatientID", "MedicalRecordLocator",
                "PatientAddress", "PatientTelephoneNumbers", "InstitutionName", "InstitutionAddress",
                "ReferringPhysicianAddress", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                "FrameOfReferenceUID", "PatientBirthName", "PatientMotherBirthName", "MilitaryRank")
#: Placeholder words test files use as names; they occur in any prose, so a report search skips them.
GENERIC_WORDS = {"TEST", "TESTS", "PATIENT", "ANONYMOUS", "ANONYMIZED", "PHANTOM", "CASE", "NAME", "DEMO",
                 "SAMPLE", "UNKNOWN", "DOCTOR", "PHYSICIAN", "NONE", "ANON", "ANONYMISED", "FIRST", "LAST",
                 "MIDDLE", "FAMILY", "GIVEN", "DOE", "JOHN", "JANE", "STUDY", "SERIES", "IMAGE", "IMAGES",
                 "HEAD", "CHEST", "BRAIN", "DICOM", "OTHER", "INSTITUTION", "HOSPITAL", "DEPARTMENT", "MODALITY",
                 "WARD", "PERFUSION"}


#: Kept (not PHI) attributes whose values may repeat in identifying ones (a vendor as institution name).
_KEPT_KEYWORDS = ("Manufacturer", "ManufacturerModelName", "Modality", "ImageType", "BodyPartExamined",
                  "SOPClassUID", "SoftwareVersions", "ScanOptions", "SequenceName")


def identifying_values(ds: Dataset, min_len: int = 4) -> set[str]:
    """The values of ``ds`` that identify a person or a study, for searching reports and logs.

    Person names (whole and each component), patient IDs, accession numbers, addresses, institution,
    dates (``YYYYMMDD``) and instance UIDs, at any depth. Components shorter than ``min_len``, numbers
    of fewer than 6 digits and the placeholder words in :data:`GENERIC_WORDS` are left out (they occur
    in any text).
    """
    out = set()
    for elem in ds.iterall():
        if elem.VR == "SQ":
            continue
        kw = elem.keyword
        for v in element_values(elem):
            if isinstance(v, bytes):
                continue
            t = str(v).strip()
            if elem.VR == "PN":
                out.add(t)
                out.update(p.strip() for p in t.replace("=", "^").split("^"))
            elif kw in _ID_KEYWORDS:
                out.add(t)
            elif elem.VR == "DA" or (elem.VR == "DT" and len(t) >= 8):
                if len(t) >= 8 and t[:8].isdigit() and t[:8] != "00010101":
                    out.add(t[:8])
    public = "\n".join(str(v) for e in ds.iterall() if e.VR != "SQ" and e.keyword in _KEPT_KEYWORDS
                        for v in element_values(e)).lower()
    return {v for v in out if len(v) >= min_len and sum(c.isalnum() for c in v) >= 3
            and not (v.isdigit() and len(v) < 6)  # "0010" is a tag number in any DICOM text, not an identity
            and v.upper() not in GENERIC_WORDS and v.upper() not in DUMMY_VALUES and v.lower() not in public}


def identifying_values_of(files) -> set[str]:
    """:func:`identifying_values` of several files, less any value some file keeps as a non-PHI attribute."""
    vals, public = set(), set()
    for f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        vals |= identifying_values(ds)
        public |= {str(v).strip().lower() for e in ds.iterall() if e.VR != "SQ" and e.keyword in _KEPT_KEYWORDS
                   for v in element_values(e)}
    return {v for v in vals if v.lower() not in public}


def find_phi(text: str, values) -> list[str]:
    """The ``values`` found in ``text`` (case-insensitive), after removing embedded base64 images
    (``data:image/...;base64,...`` and notebook ``image/png`` outputs), whose random letters would
    match short names by chance."""
    import re

    text = re.sub(r"data:[a-z]+/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=]+", "", text)
    text = re.sub(r'"image/(png|jpeg)": "[A-Za-z0-9+/=\\n]*"', "", text)
    low = text.lower()
    hits = []
    for v in set(values):
        if v.isalpha():  # a name: whole words only ("Ward" is not in "forward")
            if re.search(rf"(?<![a-z]){re.escape(v.lower())}(?![a-z])", low):
                hits.append(v)
        elif v.lower() in low:
            hits.append(v)
    return sorted(hits)


# --------------------------------------------------------------------------------- display
def _show(elem) -> str:
    if elem is None:
        return "(absent)"
    if elem.VR == "SQ":
        return f"<sequence of {len(elem.value or [])} item(s)>"
    if elem.tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):
        return "<pixel data>"
    v = elem.value
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    text = str(v)
    return text if len(text) <= 64 else text[:61] + "..."


def tag_table(original: Dataset, deid: Dataset, opts: DeidOptions | None = None, reveal: bool = False):
    """Top-level tags of an input and its de-identified output side by side (``pandas.DataFrame``).

    Columns: ``tag``, ``keyword``, ``VR``, ``action`` (Annex E, with the options; "" = not in the table,
    kept), ``before``, ``after``, ``changed``. Unless ``reveal``, the *before* value of every tag the
    profile acts on is masked (``<hidden: N characters>``), so the table can go into a report without
    carrying the PHI it is about.
    """
    import pandas as pd

    opts = opts or DeidOptions(key=b"0" * 16)
    single, ranges = annex_e_table()
    tags = sorted({e.tag for e in original} | {e.tag for e in deid})
    rows = []
    for tag in tags:
        a, b = original.get(tag), deid.get(tag)
        e = a if a is not None else b
        action = "private: X" if tag.is_private else (
            effective_action(tag, e.VR, table_action(tag, single, ranges), opts) or "")
        before, after = _show(a), _show(b)
        if not reveal and a is not None and action not in ("", "K", "KEEP_TIME") and a.VR != "SQ":
            before = f"<hidden: {len(before)} characters>"
        rows.append({"tag": f"({tag.group:04X},{tag.element:04X})", "keyword": e.keyword or "(private)", "VR": e.VR,
                     "action": action, "before": before, "after": after, "changed": _show(a) != after})
    return pd.DataFrame(rows)
