"""`Study`: one PET/CT examination in the units and axis order every later stage relies on.

Axis convention (all readers): arrays are indexed (z, y, x) =
(axial slice, row, column). Rows run anterior -> posterior and columns run patient right ->
left (the radiological display of an axial slice, as DICOM stores it). Slices run head -> feet
when `head_first` is True; `head_first` is None when the source does not say (ViMed-PET npz),
and the imaging layer detects it from uptake. `spacing` is (z, y, x) in millimetres.

`affine`, when the source has patient geometry (DICOM, NIfTI), maps an index (z, y, x, 1) to
DICOM patient coordinates LPS (x, y, z, 1) in millimetres, so PET and CT on different grids can
be related exactly; ViMed-PET volumes carry None and are assumed to span the same field of view.

Units are explicit strings, never implied: CT is always "HU"; PET is "SUVbw" when the reader
could compute it, else "BQML" (activity concentration), "CNTS" (counts), "VIMED_RAW" (ViMed-PET
scanner units 0..32767) or "UNKNOWN" (a DICOM `Units` value no rule understands, so the values
are not relabelled as counts) with the reason SUV is missing in `suv_note`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vipet.errors import SUVUnavailableError
from vipet.schema import Report

HU = "HU"
SUV_BW = "SUVbw"
BQML = "BQML"
CNTS = "CNTS"
VIMED_RAW = "VIMED_RAW"
UNKNOWN_UNIT = "UNKNOWN"
PET_UNITS = (SUV_BW, BQML, CNTS, VIMED_RAW, UNKNOWN_UNIT)


@dataclass
class Volume:
    """One modality on its own voxel grid."""

    array: np.ndarray
    spacing: tuple[float, float, float]
    unit: str
    affine: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.array.shape)

    def extent_mm(self) -> tuple[float, float, float]:
        """Physical size along (z, y, x), used to check that two grids cover the same body."""
        return tuple(float(n * s) for n, s in zip(self.array.shape, self.spacing))  # type: ignore[return-value]


@dataclass
class Patient:
    """Who was scanned; ids are labels (reused across years in ViMed-PET), never keys on their own."""

    id: str = ""
    sex: str | None = None  # "M" or "F"
    height_m: float | None = None
    weight_kg: float | None = None

    def bmi(self) -> float | None:
        if self.height_m and self.weight_kg:
            return self.weight_kg / (self.height_m**2)
        return None


@dataclass
class Study:
    """A PET/CT study with its report; `key` is stable across runs and unique in a cohort."""

    key: str
    ct: Volume | None
    pet: Volume | None
    patient: Patient = field(default_factory=Patient)
    study_date: dt.date | None = None
    report: Report | None = None
    report_en: dict[str, Any] | None = None
    head_first: bool | None = None
    suv_note: str | None = None
    source: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def pet_in_suv(self) -> bool:
        return self.pet is not None and self.pet.unit == SUV_BW

    def pet_suv(self) -> np.ndarray:
        """PET in SUVbw, or a `SUVUnavailableError` that names the tag or fact that is missing."""
        if self.pet is None:
            raise SUVUnavailableError("study has no PET volume", self.source or self.key)
        if self.pet.unit != SUV_BW:
            why = self.suv_note or f"PET is in {self.pet.unit}, not SUV"
            raise SUVUnavailableError(f"SUV needed but unavailable: {why}", self.source or self.key)
        return self.pet.array

    def summary(self) -> dict[str, Any]:
        """What `vipet info --json` prints for one study: shapes, spacing, units, value ranges, SUV."""
        out: dict[str, Any] = {
            "key": self.key,
            "source": self.source,
            "patient": {
                "id": self.patient.id,
                "sex": self.patient.sex,
                "height_m": self.patient.height_m,
                "weight_kg": self.patient.weight_kg,
            },
            "study_date": self.study_date.isoformat() if self.study_date else None,
            "head_first": self.head_first,
            "has_report": self.report is not None,
            "has_report_en": self.report_en is not None,
            "modalities": {},
            "notes": list(self.notes),
        }
        for name, vol in (("CT", self.ct), ("PT", self.pet)):
            if vol is None:
                continue
            values = np.asarray(vol.array)
            entry: dict[str, Any] = {
                "shape": list(vol.shape),
                "spacing_mm": [round(float(s), 6) for s in vol.spacing],
                "unit": vol.unit,
                "dtype": str(values.dtype),
                "min": float(values.min()) if values.size else None,
                "max": float(values.max()) if values.size else None,
            }
            if name == "PT":
                entry["suv_note"] = self.suv_note
                if vol.unit == SUV_BW and values.size:
                    entry["suv_max"] = round(float(values.max()), 4)
                    entry["suv_mean"] = round(float(values.mean(dtype=np.float64)), 4)
            out["modalities"][name] = entry
        return out
