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


def study_key(year: int, month: int, day: int, patient_id: str) -> str:
    """The cohort-wide key: date plus id, because ViMed-PET reuses patient ids across years."""
    return f"{int(year)}_{int(month):02d}_{int(day):02d}_{safe_id(patient_id)}"


def safe_id(patient_id: str) -> str:
    """A patient id usable inside a key and a file name (DICOM ids may hold spaces or slashes)."""
    return safe_name(patient_id)


def path_hash_key(prefix: str, path: str | Path) -> str:
    """A stable key for a study whose date or id is unknown: a hash of its resolved source path."""
    digest = hashlib.sha1(str(Path(path).resolve()).encode("utf-8")).hexdigest()[:12]
    return f"{prefix}_{digest}"
