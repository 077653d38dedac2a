"""DICOM de-identification to PS3.15 Annex E.

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

Checking an output is :mod:`medbench.privacy.verify` (the verifier, the PHI search of reports, the
side-by-side tag table); files and folders are de-identified fail-closed by
:mod:`medbench.privacy.deid_files` (an output is written only when it passes the verifier).
Dependencies point one way: both import this module (the table and its lookup:
:func:`annex_e_table`, :func:`table_action`, :func:`effective_action`); it imports neither.
"""
from __future__ import annotations

import datetime as _dt
import warnings
from dataclasses import dataclass

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medbench.errors import ConfigError
from medbench.privacy.pseudonym import as_key, keyed_digest, pseudonym

__all__ = [
    "ANNEX_E_VERSION", "DeidOptions", "DeidResult", "annex_e_table", "deidentify_dataset", "burned_in_reason",
    "PATIENT_CHARACTERISTICS", "date_shift_days", "table_action", "effective_action", "element_values",
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


def table_action(tag, single: dict, ranges: list) -> str | None:
    """The Annex E action of ``tag`` in ``annex_e_table()``'s ``(single, ranges)``; None when the table has none."""
    g, e = tag.group, tag.element
    a = single.get((g, e))
    if a is not None:
        return a
    for g0, e0, gm, em, act in ranges:
        if g & gm == g0 & gm and e & em == e0 & em:
            return act
    return None


def effective_action(tag, vr: str, action: str | None, opts: DeidOptions) -> str | None:
    """``action`` after the options: ``"K"`` (patient characteristics kept), ``"SHIFT"`` (DA/DT moved),
    ``"KEEP_TIME"`` (TM kept under modified dates), else unchanged."""
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


def element_values(elem) -> list:
    """An element's value as a list (empty for None, the items of a multi-value)."""
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
        action = effective_action(tag, vr, table_action(tag, single, ranges), opts)
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
            vals = [fn(v, days) for v in element_values(elem)]
            vals = [v for v in vals if v]
            elem.value = (vals[0] if len(vals) == 1 else vals) if vals else ""
        elif action.startswith("X"):
            # X, X/Z, X/D, X/Z/D, X/Z/U*: removed (allowed by every one of them for a non-sequence value)
            del ds[tag]
        elif action == "U" or (vr == "UI" and "U" in action):
            vals = [_uid(v, opts.key) for v in element_values(elem)]
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
