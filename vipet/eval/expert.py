"""The expert-validated lesion files as clinical references, matched to prediction ids.

Files are named `PETCT_{year}_THANG {month}_{day}_patient_{n}_REPORT_patient_{n}.json`; the study
key is `{year}_{month:02d}_{day:02d}_patient_{n}` (INTERFACES.md). A prediction id matches a file
when it is (or contains) that study key; an id of the form `patient_{n}` matches the one file of
that patient, and is an error when several studies share the patient number (ids are reused
across years in ViMed-PET, so guessing would silently compare the wrong person).
"""

from __future__ import annotations

import re
from pathlib import Path

from vipet.errors import EvalError, ReportError
from vipet.schema import Lesion, load_expert_lesions

_FILE_RE = re.compile(r"PETCT_(\d{4})_THANG\s*(\d{1,2})_(\d{1,2})_patient_(\d+)_REPORT", re.IGNORECASE)
_KEY_RE = re.compile(r"(\d{4})_(\d{1,2})_(\d{1,2})_patient_(\d+)")
_PATIENT_RE = re.compile(r"^patient_(\d+)$")


def study_key_from_filename(name: str) -> str | None:
    """`2017_12_27_patient_399` from an expert file name, None when the name has another form."""
    match = _FILE_RE.search(name)
    if match is None:
        return None
    year, month, day, patient = match.groups()
    return f"{year}_{int(month):02d}_{int(day):02d}_patient_{patient}"


def _normal_key(text: str) -> str | None:
    match = _KEY_RE.search(text)
    if match is None:
        return None
    year, month, day, patient = match.groups()
    return f"{year}_{int(month):02d}_{int(day):02d}_patient_{patient}"


class ExpertSet:
    """Expert lesion lists of a folder, indexed by study key."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise EvalError("--expert expects a folder of expert lesion files, got a file", folder)
        if not folder.is_dir():
            raise EvalError("expert folder not found", folder)
        self.folder = folder
        self.paths: dict[str, Path] = {}
        for path in sorted(folder.glob("*.json")):
            key = study_key_from_filename(path.name)
            if key is not None:
                self.paths[key] = path
        if not self.paths:
            raise EvalError("no expert lesion files (PETCT_<year>_THANG <month>_<day>_patient_<n>_REPORT_*.json)", folder)
        self._by_patient: dict[str, list[str]] = {}
        for key in self.paths:
            self._by_patient.setdefault(key.rsplit("_patient_", 1)[1], []).append(key)
        self._cache: dict[str, list[Lesion]] = {}

    def key_for(self, record_id: str) -> str | None:
        """The expert study key a prediction id refers to, or None when it has no expert file."""
        key = _normal_key(record_id)
        if key is not None:
            return key if key in self.paths else None
        match = _PATIENT_RE.match(record_id.strip())
        if match is None:
            return None
        keys = self._by_patient.get(match.group(1), [])
        if len(keys) > 1:
            raise EvalError(
                f"id {record_id!r} matches several expert studies ({', '.join(sorted(keys))}); use study keys as ids",
                self.folder,
            )
        return keys[0] if keys else None

    def lesions(self, key: str) -> list[Lesion]:
        """The expert lesions of a study (a malformed file is an EvalError naming it)."""
        if key not in self._cache:
            try:
                self._cache[key] = load_expert_lesions(self.paths[key])
            except ReportError as exc:
                raise EvalError(exc.reason, exc.path) from None
        return self._cache[key]
