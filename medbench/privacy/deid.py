"""DICOM de-identification to PS3.15 Annex E, and an independent verifier of the result.

:func:`deidentify_dataset` applies the **Basic Application Level Confidentiality Profile**
through ``dicom-anonymizer`` (its action table is Annex E's Table E.1-1 of DICOM 2024b: 620
tags and tag ranges), with medbench's own choices where the library's defaults are not what
the profile asks for:

- UIDs (action U) are replaced by ``2.25.<HMAC-SHA256(key, uid)>``: the same input UID gives
  the same output UID in every file and every run with the same key, so a series stays one
  series and references between files keep pointing at each other. (The library draws random
  UIDs kept in a process-global dictionary instead.)
- X really removes (the library writes ``00010101`` into removed dates).
- Sequences are cleaned item by item with the same table, at every nesting depth (the library
  applies individual tags at the top level only).
- Options of Table E.1-1: *Retain Longitudinal Temporal Information with Modified Dates*
  (``shift_dates``: every DA/DT of the table moved by one whole-day shift per patient, derived
  from the key and the patient ID; times of day kept) and *Retain Patient Characteristics*
  (``keep_patient_characteristics``: age, sex, size, weight, ethnic group, smoking and
  pregnancy status kept).
- All private tags removed; PatientName/PatientID become the keyed pseudonym; PatientIdentity
  Removed = YES, DeidentificationMethod and DeidentificationMethodCodeSequence (DCM 113100 plus
  the option codes 113107 / 113108) are set.
- Burned-in text: pixels are *not* scrubbed (out of scope here: it needs OCR or a per-device
  template). Files that may carry it (``BurnedInAnnotation`` = YES, ultrasound, secondary
  capture, endoscopy/photo modalities) are flagged ``burned_in_review`` with the reason.

:func:`verify` is independent of the library's code: it reads the original and the output and
checks (1) every element of the output, at any depth, against the action its tag has in the
table (X absent; Z empty or a dummy; D/U changed; K unchanged; dates shifted by one common
offset under the option) and (2) that no string value of the output (any VR, any depth,
bytes decoded) contains any PHI value of the input (:func:`phi_values`: person names and their
components, IDs, dates, addresses, free text). It shares only the *table* (data) with the
de-identifier. :func:`deidentify_path` runs both on files or folders, writes each output
atomically, never touches the input, and reports per file.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medbench.data.dicom_testfiles import sample_series_folder, shipped_dicom_files
from medbench.errors import ConfigError, DataError
from medbench.privacy.pseudonym import as_key, keyed_digest, pseudonym

__all__ = [
    "ANNEX_E_VERSION", "DeidOptions", "DeidResult", "VerifyResult", "annex_e_table", "deidentify_dataset",
    "verify", "phi_values", "deidentify_file", "deidentify_path", "burned_in_reason", "PATIENT_CHARACTERISTICS",
    "shipped_dicom_files", "sample_series_folder", "date_shift_days", "tag_table", "identifying_values",
    "identifying_values_of", "find_phi",
]

ANNEX_E_VERSION = "dicomfields_2024b"
#: Table E.1-1 "Rtn. Pat. Chars. Opt." = K: kept when ``keep_patient_characteristics``.
PATIENT_CHARACTERISTICS = {
    (0x0010, 0x1010): "PatientAge", (0x0010, 0x0040): "PatientSex", (0x0010, 0x1020): "PatientSize",
    (0x0010, 0x1030): "PatientWeight", (0x0010, 0x2160): "EthnicGroup", (0x0010, 0x21A0): "SmokingStatus",
    (0x0010, 0x21C0): "PregnancyStatus", (0x0010, 0x2203): "PatientSexNeutered",
}
#: Modalities whose pixels often carry burned-in text (PS3.15 E.3.1 warns about these).
BURNED_IN_MODALITIES = {"US": "ultrasound", "SC": "secondary capture", "OT": "other (often screenshots)",
                        "XC": "external-camera photograph", "ES": "endoscopy", "GM": "general microscopy",
                        "DOC": "document", "SM": "slide microscopy (label)"}
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_CATEGORY_ACTION = {"D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D",
                    "X_Z_TAGS": "X/Z", "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*"}
_PERSON_VRS = {"PN"}
_TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
#: Values the de-identifier writes as dummies; an input holding them (many test files already
#: say "Anonymized") is not a leak when the output holds them too.
DUMMY_VALUES = {"ANONYMIZED", "ANONYMOUS", "ANON", "UNKNOWN", "NONE", "DEIDENTIFIED", "REMOVED", "00010101"}
#: Text medbench writes into every output (method description, code meanings).
_MEDBENCH_TEXT = ("PS3.15 Annex E Basic Profile (medbench, dicom-anonymizer 2024b table); dates shifted; "
                  "patient characteristics kept", "Basic Application Confidentiality Profile",
                  "Retain Longitudinal Temporal Information Modified Dates Option",
                  "Retain Patient Characteristics Option", "MODIFIED", "YES", "http://anonymized.invalid")


@dataclass
class DeidOptions:
    """What :func:`deidentify_dataset` does.

    Args:
        key: the secret (>= 16 bytes) behind pseudonyms, UIDs and date shifts; keep it apart from the data.
        shift_dates: Retain Longitudinal Temporal Information with Modified Dates (one shift per patient).
        keep_patient_characteristics: Retain Patient Characteristics Option.
        max_shift_days: shifts are drawn (from the key) in ``[-max_shift_days, -30]`` days.
        pseudonym_length: base-32 characters of the PatientID pseudonym.
    """

    key: bytes | str
    shift_dates: bool = True
    keep_patient_characteristics: bool = True
    max_shift_days: int = 3650
    pseudonym_length: int = 12

    def __post_init__(self):
        self.key = as_key(self.key)
        if int(self.max_shift_days) < 31:
            raise ConfigError(f"max_shift_days={self.max_shift_days}: use at least 31 days.")

    @property
    def method_codes(self) -> list[tuple[str, str]]:
        codes = [("113100", "Basic Application Confidentiality Profile")]
        if self.shift_dates:
            codes.append(("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))
        if self.keep_patient_characteristics:
            codes.append(("113108", "Retain Patient Characteristics Option"))
        return codes


@dataclass
class DeidResult:
    """One de-identified dataset: the output, the date shift used and the burned-in flag."""

    dataset: Dataset
    date_shift_days: int | None
    pseudonym: str
    burned_in_review: bool
    burned_in_reason: str


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


# ------------------------------------------------------------------------------------ table
_TABLE_CACHE: dict = {}


def annex_e_table(version: str = ANNEX_E_VERSION) -> tuple[dict, list]:
    """Annex E Table E.1-1 as ``({(group, element): action}, [(group, element, gmask, emask, action)])``.

    Actions: ``"X"``, ``"Z"``, ``"D"``, ``"U"``, ``"Z/D"``, ``"X/Z"``, ``"X/D"``, ``"X/Z/D"``, ``"X/Z/U*"``;
    the second list holds the tag ranges (overlay and curve groups ...).
    """
    if version not in _TABLE_CACHE:
        from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

        tables = dicom_anonymization_database_selector(version)
        single, ranges = {}, []
        for cat, action in _CATEGORY_ACTION.items():
            for t in tables[cat]:
                if len(t) == 2:
                    single[(int(t[0]), int(t[1]))] = action
                else:
                    ranges.append((int(t[0]), int(t[1]), int(t[2]), int(t[3]), action))
        _TABLE_CACHE[version] = (single, ranges)
    return _TABLE_CACHE[version]


def _action_for(tag, single: dict, ranges: list) -> str | None:
    g, e = tag.group, tag.element
    a = single.get((g, e))
    if a is not None:
        return a
    for g0, e0, gm, em, act in ranges:
        if g & gm == g0 & gm and e & em == e0 & em:
            return act
    return None


def _effective_action(tag, vr: str, action: str | None, opts: DeidOptions) -> str | None:
    if action is None:
        return None
    if opts.keep_patient_characteristics and (tag.group, tag.element) in PATIENT_CHARACTERISTICS:
        return "K"
    if opts.shift_dates and vr in ("DA", "DT") and action != "U":
        return "SHIFT"
    if opts.shift_dates and vr == "TM" and action != "U":
        return "KEEP_TIME"
    return action


# ------------------------------------------------------------------------------- helpers
def _uid(old: str, key: bytes) -> str:
    old = str(old).strip()
    if not old:
        return old
    n = int.from_bytes(keyed_digest(key, old, purpose="uid")[:16], "big")
    return f"2.25.{n}"


def date_shift_days(patient_id: str, opts: DeidOptions) -> int:
    """The whole-day shift of one patient: in ``[-max_shift_days, -30]``, from HMAC(key, patient id)."""
    n = int.from_bytes(keyed_digest(opts.key, str(patient_id).strip(), purpose="dateshift")[:8], "big")
    return -(30 + n % (int(opts.max_shift_days) - 29))


def _shift_da(value: str, days: int) -> str:
    v = str(value).strip()
    if len(v) != 8 or not v.isdigit():
        return ""  # unparseable (or a partial date): emptied rather than kept
    try:
        d = _dt.date(int(v[:4]), int(v[4:6]), int(v[6:8])) + _dt.timedelta(days=days)
    except ValueError:
        return ""
    return f"{d.year:04d}{d.month:02d}{d.day:02d}" if d.year >= 1 else ""


def _shift_dt(value: str, days: int) -> str:
    v = str(value).strip()
    date = _shift_da(v[:8], days) if len(v) >= 8 else ""
    return date + v[8:] if date else ""


def _values(elem) -> list:
    v = elem.value
    if v is None:
        return []
    if isinstance(v, (list, tuple, pydicom.multival.MultiValue)):
        return list(v)
    return [v]


def _dummy(vr: str):
    return {"DS": "0", "IS": "0", "AS": "000Y", "UR": "http://anonymized.invalid", "OB": b"", "UN": b"",
            "FD": 0.0, "FL": 0.0, "SS": 0, "US": 0, "SL": 0, "UL": 0}.get(vr, "ANONYMIZED")


def burned_in_reason(ds: Dataset) -> str:
    """Why the pixels of ``ds`` may hold burned-in text ("" when nothing suggests it)."""
    reasons = []
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        reasons.append("BurnedInAnnotation = YES")
    mod = str(ds.get("Modality", "")).upper()
    if mod in BURNED_IN_MODALITIES:
        reasons.append(f"modality {mod} ({BURNED_IN_MODALITIES[mod]})")
    if str(ds.get("SOPClassUID", "")).startswith(_SECONDARY_CAPTURE):
        reasons.append("Secondary Capture SOP class")
    return "; ".join(reasons)


# ------------------------------------------------------------------------------- de-identify
def _clean(ds: Dataset, opts: DeidOptions, days: int | None, single: dict, ranges: list) -> None:
    """Apply the table to every element of ``ds`` and, recursively, of its sequence items."""
    for elem in list(ds):
        tag, vr = elem.tag, elem.VR
        if tag.is_private:
            del ds[tag]
            continue
        action = _effective_action(tag, vr, _action_for(tag, single, ranges), opts)
        if vr == "SQ":
            if action == "X":
                del ds[tag]
                continue
            for item in elem.value or []:
                _clean(item, opts, days, single, ranges)  # D/Z/X-Z/U* sequences: cleaned item by item
            continue
        if action is None or action in ("K", "KEEP_TIME"):
            continue
        if action == "SHIFT":
            if days is None:
                continue
            fn = _shift_da if vr == "DA" else _shift_dt
            vals = [fn(v, days) for v in _values(elem)]
            vals = [v for v in vals if v]
            elem.value = (vals[0] if len(vals) == 1 else vals) if vals else ""
        elif action.startswith("X"):
            # X, X/Z, X/D, X/Z/D, X/Z/U*: removed (allowed by every one of them for a non-sequence value)
            del ds[tag]
        elif action == "U" or (vr == "UI" and "U" in action):
            vals = [_uid(v, opts.key) for v in _values(elem)]
            elem.value = vals[0] if len(vals) == 1 else vals
        elif action == "Z":
            elem.value = b"" if vr in ("OB", "OW", "UN") else (0 if vr in ("FD", "FL", "SS", "US", "SL", "UL") else "")
        else:  # D, Z/D: a dummy consistent with the VR
            elem.value = _dummy(vr)


def deidentify_dataset(ds: Dataset, opts: DeidOptions) -> DeidResult:
    """De-identify a copy of ``ds`` (Basic profile + options); the input dataset is not modified.

    The table's actions come from ``dicom-anonymizer``'s Annex E database (2024b); the library's
    ``anonymize_dataset`` is run first (it knows every tag range), then medbench's pass applies the
    table again at every depth with keyed UIDs, real removals and the options (see module doc).

    Returns:
        :class:`DeidResult` with the new dataset.
    """
    import copy

    from dicomanonymizer.simpledicomanonymizer import anonymize_dataset, initialize_actions_2024b, keep

    out = copy.deepcopy(ds)
    patient_id = str(ds.get("PatientID", "") or "")
    code = pseudonym(patient_id or "unknown", opts.key, length=opts.pseudonym_length)
    days = date_shift_days(patient_id or "unknown", opts) if opts.shift_dates else None
    single, ranges = annex_e_table()

    # The library's rules, with U/D/Z/X on tags we handle ourselves (UIDs, dates, options) set to keep,
    # so its random UIDs and 00010101 dates never reach our output; medbench's pass does those.
    def rules():
        r = initialize_actions_2024b()
        for t in list(r):
            if len(t) != 2:
                continue
            tag = pydicom.tag.Tag(t[0], t[1])
            try:
                vr = pydicom.datadict.dictionary_VR(tag)
            except KeyError:
                continue
            if vr in ("UI", "DA", "DT", "TM", "SQ") or (t[0], t[1]) in PATIENT_CHARACTERISTICS:
                r[t] = keep
        return r

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        anonymize_dataset(out, delete_private_tags=True, base_rules_gen=rules)
        _clean(out, opts, days, single, ranges)
        if getattr(out, "file_meta", None) is not None:
            _clean(out.file_meta, opts, days, single, ranges)
            if "SOPInstanceUID" in out:
                out.file_meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
        out.remove_private_tags()
    out.PatientName = code
    out.PatientID = code
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = ("PS3.15 Annex E Basic Profile (medbench, dicom-anonymizer 2024b table)"
                                  + ("; dates shifted" if opts.shift_dates else "")
                                  + ("; patient characteristics kept" if opts.keep_patient_characteristics else ""))
    items = []
    for value, meaning in opts.method_codes:
        it = Dataset()
        it.CodeValue, it.CodingSchemeDesignator, it.CodeMeaning = value, "DCM", meaning
        items.append(it)
    out.DeidentificationMethodCodeSequence = Sequence(items)
    if opts.shift_dates:
        out.LongitudinalTemporalInformationModified = "MODIFIED"
    reason = burned_in_reason(ds)
    return DeidResult(out, days, code, bool(reason), reason)


# ------------------------------------------------------------------------------------ verifier
def _strings(ds: Dataset, skip_pixels: bool = True):
    """Every value of ``ds`` (file meta too, any depth) as text: ``(tag keyword or hex, tag, text)``."""
    datasets = [ds] + ([ds.file_meta] if getattr(ds, "file_meta", None) is not None else [])
    for d in datasets:
        for elem in d.iterall():
            if elem.VR == "SQ" or (skip_pixels and elem.tag in (0x7FE00010, 0x7FE00008, 0x7FE00009)):
                continue
            for v in _values(elem):
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
        action = _action_for(elem.tag, single, ranges)
        if elem.tag.is_private:
            action = "X"
        action = _effective_action(elem.tag, elem.VR, action, opts)
        kept = action in (None, "K", "KEEP_TIME")
        for v in _values(elem):
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
        action = _effective_action(tag, elem.VR, _action_for(tag, single, ranges), opts)
        if action is None or tag in (0x00100010, 0x00100020):  # patient name/ID: checked below
            continue
        res.tags_checked += 1
        vals = [str(v).strip() for v in _values(elem)] if elem.VR != "SQ" else []
        orig = orig_top.get(tag)
        ovals = [str(v).strip() for v in _values(orig)] if orig is not None and orig.VR != "SQ" else []
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
        action = _effective_action(elem.tag, elem.VR, _action_for(elem.tag, single, ranges), opts)
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
        for v in _values(elem):
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
                        for v in _values(e)).lower()
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
                   for v in _values(e)}
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
            _effective_action(tag, e.VR, _action_for(tag, single, ranges), opts) or "")
        before, after = _show(a), _show(b)
        if not reveal and a is not None and action not in ("", "K", "KEEP_TIME") and a.VR != "SQ":
            before = f"<hidden: {len(before)} characters>"
        rows.append({"tag": f"({tag.group:04X},{tag.element:04X})", "keyword": e.keyword or "(private)", "VR": e.VR,
                     "action": action, "before": before, "after": after, "changed": _show(a) != after})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ files
def _atomic_save(ds: Dataset, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    try:
        ds.save_as(tmp, enforce_file_format=False)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def deidentify_file(src: str | os.PathLike, dst: str | os.PathLike, opts: DeidOptions) -> dict:
    """De-identify one file, verify it, and write it atomically to ``dst`` only if it passes.

    Returns:
        a report row: ``input``, ``output``, ``status`` ("ok" / "failed"), ``error``, ``modality``,
        ``burned_in_review``, ``burned_in_reason``, ``tags_checked``, ``violations``, ``phi_leaks``,
        ``date_shift_days``, ``pseudonym``. The row holds no PHI (only counts and the first problems' tag names).

    Raises:
        DataError: the input is not a readable DICOM file.
    """
    src, dst = Path(src), Path(dst)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(src)
            ds.PixelData if "PixelData" in ds else None  # noqa: B018 - forces reading a truncated file now
    except Exception as exc:  # pydicom raises many kinds: turn each into one DataError naming the file
        raise DataError(f"{src}: not a readable DICOM file ({type(exc).__name__}: {exc}); "
                        "check the file or remove it from the input.") from exc
    res = deidentify_dataset(ds, opts)
    v = verify(ds, res.dataset, opts)
    row = {"input": str(src), "output": str(dst), "status": "ok" if v.ok else "failed", "error": "",
           "modality": str(ds.get("Modality", "")), "burned_in_review": res.burned_in_review,
           "burned_in_reason": res.burned_in_reason, "tags_checked": v.tags_checked,
           "violations": len(v.violations), "phi_leaks": len(v.leaks),
           "date_shift_days": res.date_shift_days, "pseudonym": res.pseudonym}
    if v.ok:
        _atomic_save(res.dataset, dst)
    else:
        row["error"] = "verification failed, output not written: " + "; ".join(
            [x.split(":")[0] + ": violation" for x in v.violations[:3]] + [x.split(":")[0] + ": PHI" for x in v.leaks[:3]])
    return row


def _inputs(src: Path) -> list[tuple[Path, Path]]:
    if src.is_file():
        return [(src, Path(src.name))]
    from medbench.data.dicom import list_dicom_files

    return [(f, f.relative_to(src)) for f in list_dicom_files(src)]


def deidentify_path(src: str | os.PathLike, out: str | os.PathLike, opts: DeidOptions, *,
                    report: str | os.PathLike | None = None, progress: bool = False):
    """De-identify a file or a folder (recursively) into ``out``, file by file; one bad file does not stop the rest.

    Args:
        src: a DICOM file or a folder.
        out: output folder (created); must not be ``src`` or lie inside it. Inputs are never modified.
        opts: :class:`DeidOptions`.
        report: where to write the per-file report (``.csv`` or ``.json``); default ``out/deid_report.csv``.
        progress: tqdm bar over files.

    Returns:
        ``pandas.DataFrame`` of report rows (see :func:`deidentify_file`), one per input file.

    Raises:
        DataNotFoundError: ``src`` does not exist. ConfigError: ``out`` is the input or inside it.
    """
    import pandas as pd

    from medbench.errors import DataNotFoundError

    src, out = Path(src).expanduser(), Path(out).expanduser()
    if not src.exists():
        raise DataNotFoundError(f"input {src} does not exist; pass a DICOM file or a folder.")
    s, o = src.resolve(), out.resolve()
    if o == s or (src.is_dir() and s in o.parents) or (src.is_file() and o == s.parent):
        raise ConfigError(f"output {out} is the input or lies inside it; choose a separate folder "
                          "(the input is never modified).")
    pairs = _inputs(src)
    it = pairs
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(pairs, desc="de-identify", unit="file")
    rows = []
    for f, rel in it:
        try:
            rows.append(deidentify_file(f, out / rel, opts))
        except Exception as exc:  # one bad file is reported, the others continue
            msg = str(exc) if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
            rows.append({"input": str(f), "output": "", "status": "failed", "error": msg})
    table = pd.DataFrame(rows)
    report = Path(report) if report is not None else out / "deid_report.csv"
    report.parent.mkdir(parents=True, exist_ok=True)
    if report.suffix.lower() == ".json":
        report.write_text(json.dumps(rows, indent=2, default=str))
    else:
        table.to_csv(report, index=False)
    return table
