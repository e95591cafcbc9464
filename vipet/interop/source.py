"""Which DICOM study and series a generated report describes, so every hospital output points back to them.

A report drafted from a study built out of DICOM must reference the PET and CT series it was
drafted from: a PACS files the SR under the same StudyInstanceUID and a viewer opens the images
beside it. The build records the UIDs in each study's `meta.json` (`source_uids`) and the source
folder (`source`); `from_build_meta` turns them into a `SourceStudy`, and reads the headers of the
source instances (no pixels) when that folder is still there, because a DICOM SR lists every
referenced instance as evidence and copies the patient and study attributes from them. A study
from another format (ViMed-PET, NIfTI, synthetic) has no source UIDs: JSON and FHIR outputs say so,
and an SR is refused (`InteropError`) rather than invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.errors import InvalidDicomError

from vipet.errors import InteropError

# Patient and study attributes an SR copies from its evidence (PS3.3 Patient, General Study modules).
STUDY_ATTRIBUTES = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                    "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName", "StudyDescription")


@dataclass(frozen=True)
class SourceSeries:
    """One source series: its modality (PT, CT) and SeriesInstanceUID."""

    modality: str
    series_instance_uid: str

    def to_json(self) -> dict[str, str]:
        return {"modality": self.modality, "series_instance_uid": self.series_instance_uid}


@dataclass
class SourceStudy:
    """The DICOM study behind a report: UIDs always (when known), instance headers when readable."""

    study_instance_uid: str | None = None
    series: tuple[SourceSeries, ...] = ()
    patient_id: str | None = None
    headers: list[pydicom.Dataset] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"study_instance_uid": self.study_instance_uid, "series": [s.to_json() for s in self.series]}

    def study_attributes(self) -> dict[str, Any]:
        """Patient/study attributes of the first header ("" for a missing type 2 attribute)."""
        if not self.headers:
            return {}
        first = self.headers[0]
        return {name: first.get(name, "") for name in STUDY_ATTRIBUTES}


def from_datasets(datasets: list[pydicom.Dataset]) -> SourceStudy:
    """A `SourceStudy` from the PET and CT instances themselves (full datasets or headers)."""
    images = [ds for ds in datasets if str(ds.get("Modality", "")).upper() in ("PT", "CT")]
    if not images:
        raise InteropError("no PET or CT instance among the source datasets")
    studies = {str(ds.StudyInstanceUID) for ds in images}
    if len(studies) != 1:
        raise InteropError(f"source datasets belong to {len(studies)} studies, expected one: {sorted(studies)}")
    series = tuple(dict.fromkeys(SourceSeries(str(ds.Modality).upper(), str(ds.SeriesInstanceUID)) for ds in images))
    return SourceStudy(study_instance_uid=studies.pop(), series=series,
                       patient_id=str(images[0].get("PatientID", "")) or None, headers=images)


def from_build_meta(meta: dict[str, Any], read_headers: bool = True) -> SourceStudy:
    """The source of a cached study (`meta.json` of `vipet build`); headers read from its source folder
    when `read_headers` and the folder still holds the recorded series (else UIDs only)."""
    uids = meta.get("source_uids") or {}
    series = tuple(SourceSeries(modality, uid) for modality, uid in
                   (("PT", uids.get("pet_series_uid")), ("CT", uids.get("ct_series_uid"))) if uid)
    source = SourceStudy(study_instance_uid=uids.get("study_instance_uid"), series=series,
                         patient_id=(meta.get("patient") or {}).get("id") or None)
    folder = Path(str(meta.get("source") or ""))
    if read_headers and series and meta.get("source") and folder.is_dir():
        source.headers = read_series_headers(folder, {s.series_instance_uid for s in series})
    return source


def read_series_headers(folder: str | Path, series_uids: set[str]) -> list[pydicom.Dataset]:
    """Headers (no pixel data) of every instance under `folder` in one of `series_uids`, PET first,
    each series in InstanceNumber order; unreadable or non-DICOM files are skipped (the build read
    them already)."""
    found: list[pydicom.Dataset] = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, TypeError):
            continue
        if str(ds.get("SeriesInstanceUID", "")) in series_uids:
            found.append(ds)
    return sorted(found, key=lambda ds: (str(ds.get("Modality", "")) != "PT", str(ds.SeriesInstanceUID),
                                         int(ds.get("InstanceNumber") or 0)))
