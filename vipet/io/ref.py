"""`StudyRef`: where one study lives, cheap enough to list a whole cohort and ship to workers.

Discovery produces refs without touching the volumes, so a dataset build can plan, split and
parallelise 2,757 studies in a second and only pay for reading the ones it actually processes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vipet.fsutil import safe_name

VIMED = "vimed"
DICOM = "dicom"
NIFTI = "nifti"
FORMATS = (VIMED, DICOM, NIFTI)


@dataclass
class StudyRef:
    """One study by its files: `paths` names them by role ("ct", "pet", "report", "report_en", "folder").

    `meta` holds what is known without reading the volumes: id, sex, height_m, weight_kg, year,
    month, day, and format-specific hints (suv_per_unit, ct_spacing, pet_spacing, head_first, pet_unit).
    """

    key: str
    format: str
    paths: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The key names the study's cache folder: whatever a reader or a caller put here (a sidecar
        # key of "../../x", a DICOM id with slashes) becomes one safe path component. Safe keys,
        # which every reader already builds, come back unchanged.
        self.key = safe_name(self.key)

    def source(self) -> str:
        """The file or folder this study comes from, for messages (folder, else CT file)."""
        return self.paths.get("folder") or self.paths.get("ct") or self.key

    def add_note(self, note: str) -> None:
        """Record a per-study note that `load_study` copies into `Study.notes` (and so the cache sidecar)."""
        notes = self.meta.setdefault("notes", [])
        if note not in notes:
            notes.append(note)


def study_key(year: int, month: int, day: int, patient_id: str) -> str:
    """The cohort-wide key: date plus id, because ViMed-PET reuses patient ids across years."""
    return f"{int(year)}_{int(month):02d}_{int(day):02d}_{safe_id(patient_id)}"


def safe_id(patient_id: str) -> str:
    """A patient id usable inside a key and a file name (DICOM ids may hold spaces or slashes)."""
    return safe_name(patient_id)


def assign_unique_keys(refs: list[StudyRef], root: str | Path) -> list[dict[str, Any]]:
    """Make the keys of `refs` unique, in the order given; return one problem per renamed study.

    Two studies with one key (anonymised DICOM ids such as ANON on the same date, two sidecars
    naming one key, two table rows with one name and date) would share one cache folder, and the
    second would silently replace the first. Instead the first keeps its key and each later one
    gets the first free suffix `_2`, `_3`, ... The order is the caller's and must be deterministic:
    discovery passes folder studies sorted by their path relative to `root` and table rows in line
    order, so a rerun gives every study the same key. Both studies carry a note naming the other.
    """
    taken = {ref.key for ref in refs}
    first: dict[str, StudyRef] = {}
    problems: list[dict[str, Any]] = []
    for ref in refs:
        if ref.key not in first:
            first[ref.key] = ref
            continue
        original, kept = ref.key, first[ref.key]
        number = 2
        while f"{original}_{number}" in taken:
            number += 1
        ref.key = f"{original}_{number}"
        taken.add(ref.key)
        first[ref.key] = ref
        here, there = _relative(ref.source(), root), _relative(kept.source(), root)
        reason = f"study key {original} is also the key of {there}; this study is keyed {ref.key}"
        ref.add_note(reason)
        kept.add_note(f"study key {original} is also the key of {here}, which is keyed {ref.key}")
        problems.append({"path": ref.source(), "key": ref.key, "kind": "duplicate_key", "reason": reason})
    return problems


def _relative(path: str, root: str | Path) -> str:
    try:
        return str(Path(path).relative_to(Path(root)))
    except ValueError:
        return str(path)


def path_hash_key(prefix: str, path: str | Path) -> str:
    """A stable key for a study whose date or id is unknown: a hash of its resolved source path."""
    digest = hashlib.sha1(str(Path(path).resolve()).encode("utf-8")).hexdigest()[:12]
    return f"{prefix}_{digest}"
