"""DICOM de-identification by PS3.15 Annex E: the Basic Application Level Confidentiality Profile with
the Retain Patient Characteristics, Retain Longitudinal Temporal Information with Modified Dates and
Clean Descriptors options.

The profile is applied from the standard's own table (`ps315_basic_profile.yaml`, Table E.1-1), not
from a library's built-in rules: which attributes the options keep decides whether SUV survives
(weight, dose times), and no installed library gives that control exactly (dicognito, for one,
shifts dates *and* times by a random number of hours and only moves a TM when its paired DA moves,
so RadiopharmaceuticalStartTime would drift against SeriesTime and SUV would change).

How each table action is carried out:

- `X` remove; `Z` empty value; `D` a dummy of the element's VR (PatientID and PatientName become the
  patient's keyed pseudonym, so studies of one patient still group); `U` a keyed UID
  (`DeidKeys.uid`), the same for the same UID everywhere, so PET and CT keep their study and frame
  of reference and every Referenced*UID still points at its (renamed) target.
- Combined codes keep the element when the standard allows (`X/Z` -> `Z`, `X/D`, `Z/D`, `X/Z/D` ->
  `D`, `X/Z/U*` -> clean the sequence and remap its UIDs), so type 1 and 2 attributes stay present.
- Option `K` keeps; option `C` cleans: a DA or DT moves by the patient's whole-day offset, a TM is
  kept (a whole-day shift leaves the time of day, so injection-to-scan intervals are exact, also
  across midnight), text goes through `deid_text` (with the patient's own name and id as known values),
  a sequence is cleaned item by item.
- Every private element is removed, at any depth; sequences are cleaned recursively; curve data and
  overlay comments/data (repeating groups 50xx, 60xx) are removed.
- A dataset with BurnedInAnnotation YES is refused (`DeidError` naming the file) unless allowed.

The output records what was done: PatientIdentityRemoved YES, DeidentificationMethod and its code
sequence (DCM 113100, 113108, 113107, 113105), LongitudinalTemporalInformationModified MODIFIED.
Counts of changed tags by action go to the caller's audit `Counter`; values never do.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pydicom
import yaml
from pydicom.dataset import Dataset
from pydicom.datadict import keyword_for_tag
from pydicom.sequence import Sequence

from vipet.interop.deid_keys import DeidError, DeidKeys
from vipet.interop.deid_text import deidentify_text, merge_counts

PROFILE_FILE = "ps315_basic_profile.yaml"
OPTION_COLUMNS = ("patient", "modified_dates", "clean_descriptors")
METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113108", "Retain Patient Characteristics Option"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113105", "Clean Descriptors Option"),
)
COMBINED = {"X": "X", "Z": "Z", "D": "D", "U": "U", "K": "K", "C": "C", "X/Z": "Z", "X/D": "D", "Z/D": "D",
            "X/Z/D": "D", "X/Z/U*": "U"}
_TEXT_VRS = {"LO", "SH", "LT", "ST", "UT", "UC", "PN", "CS", "AE"}
_DUMMY = {"PN": "ANONYMOUS", "LO": "ANONYMIZED", "SH": "ANONYMIZED", "LT": "ANONYMIZED", "ST": "ANONYMIZED",
          "UT": "ANONYMIZED", "UC": "ANONYMIZED", "CS": "ANONYMIZED", "AE": "ANONYMIZED", "DA": "19000101",
          "TM": "000000", "DT": "19000101000000", "AS": "000Y", "DS": "0", "IS": "0", "UR": ""}


@dataclass(frozen=True)
class DicomDeidOptions:
    """Which options apply (all three by default) and whether burned-in annotation is accepted."""

    retain_patient_characteristics: bool = True
    modified_dates: bool = True
    clean_descriptors: bool = True
    allow_burned_in: bool = False

    def columns(self) -> tuple[str, ...]:
        flags = (self.retain_patient_characteristics, self.modified_dates, self.clean_descriptors)
        return tuple(column for column, on in zip(OPTION_COLUMNS, flags) if on)

    def describe(self) -> dict[str, Any]:
        return {"profile": "PS3.15 E.1 Basic Application Level Confidentiality Profile",
                "options": [name for column, (_, name) in zip(OPTION_COLUMNS, METHOD_CODES[1:])
                            if column in self.columns()],
                "allow_burned_in": self.allow_burned_in, "table_edition": profile_table()["edition"]}


@lru_cache(maxsize=1)
def profile_table() -> dict[str, Any]:
    """Table E.1-1 as `{"edition", "exact": {tag int: row}, "masks": [(mask, value, row)]}`."""
    raw = yaml.safe_load(resources.files("vipet.interop").joinpath(PROFILE_FILE).read_text(encoding="utf-8"))
    exact: dict[int, dict[str, str]] = {}
    masks: list[tuple[int, int, dict[str, str]]] = []
    for row in raw["attributes"]:
        tag = row["tag"]
        if "X" in tag:
            mask = int("".join("0" if c == "X" else "F" for c in tag), 16)
            masks.append((mask, int(tag.replace("X", "0"), 16), row))
        else:
            exact[int(tag, 16)] = row
    return {"edition": str(raw["edition"]), "exact": exact, "masks": masks}


def action_for(tag: int, options: DicomDeidOptions) -> str | None:
    """The single action (X, Z, D, U, K or C) the profile and the options give `tag`; None if unlisted."""
    table = profile_table()
    row = table["exact"].get(int(tag))
    if row is None:
        row = next((r for mask, value, r in table["masks"] if int(tag) & mask == value), None)
    if row is None:
        return None
    chosen = [row[column] for column in options.columns() if column in row]
    if "K" in chosen:
        return "K"
    if "C" in chosen:
        return "C"
    return COMBINED[row["basic"]]


@dataclass
class _Context:
    keys: DeidKeys
    options: DicomDeidOptions
    pseudonym: str
    offset: int
    known_names: tuple[str, ...]
    known_ids: tuple[str, ...]
    audit: Counter
    text_counts: dict[str, int]


def deidentify_dataset(ds: Dataset, keys: DeidKeys, options: DicomDeidOptions, audit: Counter | None = None,
                       where: str | Path = "", text_counts: dict[str, int] | None = None) -> Dataset:
    """De-identify `ds` in place (and return it); `audit` gains `"<Keyword> <action>"` counts."""
    audit = Counter() if audit is None else audit
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES" and not options.allow_burned_in:
        raise DeidError("BurnedInAnnotation is YES (identity may be in the pixels); refused "
                        "(pass --allow-burned-in to accept)", where)
    patient_id = str(ds.get("PatientID", "") or "")
    context = _Context(keys, options, keys.patient_pseudonym(patient_id), keys.day_offset(patient_id),
                       tuple(n for n in (str(ds.get("PatientName", "") or ""),) if n.strip()),
                       tuple(i for i in (patient_id,) if i.strip()), audit,
                       {} if text_counts is None else text_counts)
    _clean(ds, context, top=True)
    _mark(ds, options)
    if getattr(ds, "file_meta", None) is not None and "SOPInstanceUID" in ds:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for keyword in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
                        "ReceivingApplicationEntityTitle", "PrivateInformationCreatorUID", "PrivateInformation"):
            if keyword in ds.file_meta:
                delattr(ds.file_meta, keyword)
                audit[f"{keyword} X"] += 1
    return ds


def _clean(ds: Dataset, context: _Context, top: bool) -> None:
    for element in list(ds):
        tag = element.tag
        if tag.is_private:
            del ds[tag]
            context.audit["private X"] += 1
            continue
        action = action_for(tag, context.options)
        name = keyword_for_tag(tag) or f"({tag.group:04X},{tag.element:04X})"
        if action is None or action == "K":
            if element.VR == "SQ":
                for item in element.value:
                    _clean(item, context, top=False)
            continue
        changed = _apply(ds, element, action, context)
        if changed:
            context.audit[f"{name} {action}"] += 1


def _apply(ds: Dataset, element: Any, action: str, context: _Context) -> bool:
    """Carry out one action on one element; True when the stored value changed."""
    vr, keyword = element.VR, element.keyword
    if action == "X":
        del ds[element.tag]
        return True
    if vr == "SQ":
        if action == "Z":
            element.value = Sequence([])
            return True
        for item in element.value:  # D, U*, C: clean each item (UIDs inside are remapped)
            _clean(item, context, top=False)
        return False
    if element.value in (None, "", b"") and action != "D":
        return False
    before = element.value
    if action == "Z":
        element.value = context.pseudonym if keyword == "PatientName" else ""
    elif action == "D":
        element.value = _dummy(element, context)
    elif action == "U":
        element.value = _map_values(element.value, context.keys.uid)
    elif action == "C":
        element.value = _cleaned(element, context)
    return element.value != before


def _dummy(element: Any, context: _Context) -> Any:
    if element.keyword in ("PatientID", "PatientName"):
        return context.pseudonym
    if element.VR == "UI":
        return _map_values(element.value, context.keys.uid) if element.value else context.keys.uid("dummy")
    if element.VR in _DUMMY:
        return _DUMMY[element.VR]
    if element.VR in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
        return 0
    return b"" if isinstance(element.value, bytes) else ""


def _map_values(value: Any, function: Any) -> Any:
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return [function(str(v)) for v in value]
    return function(str(value))


def _cleaned(element: Any, context: _Context) -> Any:
    vr = element.VR
    if vr == "DA":
        return _map_values(element.value, lambda v: _shift_da(v, context.offset))
    if vr == "DT":
        return _map_values(element.value, lambda v: _shift_dt(v, context.offset))
    if vr == "TM":
        return element.value  # times of day are kept: the shift is whole days
    if vr in _TEXT_VRS:
        def clean_text(text: str) -> str:
            result = deidentify_text(text, day_offset=context.offset, known_names=context.known_names,
                                     known_ids=context.known_ids)
            merge_counts(context.text_counts, result.counts)
            return result.text
        return _map_values(element.value, clean_text)
    return element.value


def _shift_da(text: str, offset: int) -> str:
    text = text.strip()
    if not text:
        return text
    try:
        moment = dt.datetime.strptime(text.replace(".", "")[:8], "%Y%m%d").date()
    except ValueError:
        return _DUMMY["DA"]  # an unparseable date cannot be shifted; it must not survive either
    return (moment + dt.timedelta(days=offset)).strftime("%Y%m%d")


def _shift_dt(text: str, offset: int) -> str:
    """The date part moves by whole days; time, fraction and UTC offset stay as written."""
    text = text.strip()
    if len(text) < 8:
        return _DUMMY["DT"]
    return _shift_da(text[:8], offset) + text[8:]


def _mark(ds: Dataset, options: DicomDeidOptions) -> None:
    ds.PatientIdentityRemoved = "YES"
    codes = [METHOD_CODES[0]] + [code for column, code in zip(OPTION_COLUMNS, METHOD_CODES[1:])
                                 if column in options.columns()]
    short = {"113100": "PS3.15 Basic", "113108": "RtnPatChars", "113107": "RtnLongModifDates", "113105": "CleanDesc"}
    ds.DeidentificationMethod = "vipet deid " + " ".join(short[value] for value, _ in codes)  # LO: 64 chars
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    if options.modified_dates:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"


def deidentify_file(source: str | Path, keys: DeidKeys, options: DicomDeidOptions,
                    audit: Counter | None = None, text_counts: dict[str, int] | None = None) -> Dataset:
    """Read one DICOM file and return it de-identified (not yet written); `DeidError` when unreadable."""
    try:
        ds = pydicom.dcmread(source)
    except Exception as exc:  # pydicom raises many types for damaged files
        raise DeidError(f"not a readable DICOM file ({exc.__class__.__name__}: {exc})", source) from None
    return deidentify_dataset(ds, keys, options, audit, source, text_counts)
