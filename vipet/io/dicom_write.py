"""Write a `Study` as a CT series and a PET series that a scanner could have produced.

The PET series carries everything SUVbw needs (Units BQML, CorrectedImage ATTN/DECY,
DecayCorrection, dose, half-life, injection time, weight) so SUV round-trips through
`read_dicom_study`. `suv_tags` changes or removes any of them, which is how the tests build the
edge cases (ADMIN, StartTime only, scans after midnight, GML, CNTS, missing weight) on purpose.
Pixel values are stored as int16 with a different RescaleSlope on every PET slice, as real
scanners do, so a reader that ignores per-slice slopes fails loudly.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid
from pydicom.valuerep import DSfloat

from vipet.fsutil import atomic_dir, atomic_write_json
from vipet.io.orient import default_affine
from vipet.io.suv import F18_HALF_LIFE_S, decayed_dose, scan_start
from vipet.study import BQML, CNTS, SUV_BW, VIMED_RAW, Study, Volume

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
PHILIPS_CREATOR = "Philips PET Private Group"
CT_INTERCEPT = -1024.0
STORED_MAX = 32767

DEFAULT_SUV_TAGS: dict[str, Any] = {
    "units": "BQML",  # BQML | GML | CNTS
    "corrected_image": ("ATTN", "DECY"),
    "decay_correction": "START",  # START | ADMIN
    "weight_kg": "patient",  # "patient" = study.patient.weight_kg (70 kg when unknown); None omits the tag
    "total_dose_bq": 3.7e8,
    "half_life_s": F18_HALF_LIFE_S,
    "series_datetime": None,  # None = study date (or 2020-01-01) at 10:00:00
    "injection_datetime": None,  # None = series_datetime - injection_offset_s
    "injection_offset_s": 3600.0,
    "acquisition_offset_s": 0.0,  # first AcquisitionTime relative to SeriesTime
    "write_start_datetime": True,  # RadiopharmaceuticalStartDateTime (0018,1078)
    "write_start_time": True,  # RadiopharmaceuticalStartTime (0018,1072)
    "philips_suv_scale": None,  # CNTS only: SUV per count, written as (7053,1000)
}


def write_dicom_study(
    study: Study,
    folder: str | Path,
    *,
    suv_tags: dict[str, Any] | None = None,
    shuffle_names: bool = False,
    seed: int = 0,
) -> Path:
    """Write `study` into `folder` (replaced atomically): `CT/`, `PT/` series and `report.json`.

    With `shuffle_names` every slice of both series lands in one folder under a meaningless name in
    random order, the worst case a reader must cope with. Volumes without an affine get the
    default axial geometry of `vipet.io.orient.default_affine` (shared field of view).
    """
    if study.ct is None or study.pet is None:
        raise ValueError(f"{study.key}: a DICOM study needs both CT and PET")
    tags = {**DEFAULT_SUV_TAGS, **(suv_tags or {})}
    unknown = set(tags) - set(DEFAULT_SUV_TAGS)
    if unknown:
        raise ValueError(f"unknown suv_tags keys: {sorted(unknown)}")
    timing = _timing(study, tags)
    common = _common_tags(study, timing)
    frame_uid = generate_uid(entropy_srcs=[study.key, "frame"])
    ct_slices = _series(study, study.ct, "CT", common, frame_uid, _ct_stored(study.ct), timing, tags)
    pet_values, pet_unit, philips = _pet_stored_values(study, tags, timing)
    pet_slices = _series(study, study.pet, "PT", common, frame_uid, pet_values, timing, tags)
    for ds in pet_slices:
        _add_pet_tags(ds, tags, timing, pet_unit, philips, len(pet_slices))

    rng = random.Random(seed)
    names = list(range(len(ct_slices) + len(pet_slices)))
    rng.shuffle(names)
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        for i, ds in enumerate(ct_slices + pet_slices):
            if shuffle_names:
                path = tmp / f"IM{names[i]:06d}"
            else:
                path = tmp / ds.Modality / f"{ds.Modality}_{int(ds.InstanceNumber):04d}.dcm"
                path.parent.mkdir(exist_ok=True)
            ds.save_as(path, enforce_file_format=True)
        if study.report is not None:
            atomic_write_json(tmp / "report.json", study.report.to_json())
        if study.report_en is not None:
            atomic_write_json(tmp / "report_en.json", study.report_en)
    return folder


def _timing(study: Study, tags: dict[str, Any]) -> dict[str, Any]:
    """Series start, injection and acquisition moments, plus the real weight and dose used to make Bq/mL."""
    series = tags["series_datetime"] or dt.datetime.combine(study.study_date or dt.date(2020, 1, 1), dt.time(10, 0))
    injection = tags["injection_datetime"] or series - dt.timedelta(seconds=float(tags["injection_offset_s"]))
    acquisition = series + dt.timedelta(seconds=float(tags["acquisition_offset_s"]))
    weight = tags["weight_kg"]
    true_weight = (study.patient.weight_kg or 70.0) if weight in ("patient", None) else float(weight)
    return {
        "series": series,
        "injection": injection,
        "acquisition": acquisition,
        "weight_tag": None if weight is None else true_weight,
        "true_weight": true_weight,
    }


def _common_tags(study: Study, timing: dict[str, Any]) -> Dataset:
    ds = Dataset()
    ds.PatientName = study.patient.id or "anonymous"
    ds.PatientID = study.patient.id or study.key
    if study.patient.sex in ("M", "F"):
        ds.PatientSex = study.patient.sex
    if study.patient.height_m:
        ds.PatientSize = DSfloat(study.patient.height_m, auto_format=True)
    if timing["weight_tag"] is not None:
        ds.PatientWeight = DSfloat(timing["weight_tag"], auto_format=True)
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[study.key, "study"])
    ds.StudyID = "1"
    ds.StudyDate = timing["series"].strftime("%Y%m%d")
    ds.StudyTime = timing["series"].strftime("%H%M%S")
    ds.StudyDescription = "PET/CT whole body (vipet)"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.Manufacturer = "vipet"
    ds.PatientPosition = "FFS" if study.head_first is False else "HFS"
    return ds


def _series(
    study: Study,
    volume: Volume,
    modality: str,
    common: Dataset,
    frame_uid: str,
    stored: tuple[np.ndarray, np.ndarray, float],
    timing: dict[str, Any],
    tags: dict[str, Any],
) -> list[Dataset]:
    """One file dataset per slice, geometry from the volume's affine (or the shared default)."""
    pixels, slopes, intercept = stored
    affine = volume.affine if volume.affine is not None else default_affine(volume.shape, volume.spacing, study.head_first)
    row_cos = affine[:3, 2] / np.linalg.norm(affine[:3, 2])  # along a row = column index (x)
    col_cos = affine[:3, 1] / np.linalg.norm(affine[:3, 1])  # down a column = row index (y)
    dz, dy, dx = (float(np.linalg.norm(affine[:3, k])) for k in range(3))
    series_uid = generate_uid(entropy_srcs=[study.key, modality, "series"])
    sop_class = CT_IMAGE_STORAGE if modality == "CT" else PET_IMAGE_STORAGE
    slices = []
    for index in range(volume.shape[0]):
        ds = Dataset()
        ds.update(common)
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = generate_uid(entropy_srcs=[study.key, modality, str(index)])
        ds.Modality = modality
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = 2 if modality == "CT" else 3
        ds.SeriesDate = timing["series"].strftime("%Y%m%d")
        ds.SeriesTime = timing["series"].strftime("%H%M%S.%f")
        ds.AcquisitionDate = timing["acquisition"].strftime("%Y%m%d")
        ds.AcquisitionTime = timing["acquisition"].strftime("%H%M%S.%f")
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.InstanceNumber = index + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [DSfloat(v, auto_format=True) for v in affine[:3, :3] @ [index, 0, 0] + affine[:3, 3]]
        ds.ImageOrientationPatient = [DSfloat(v, auto_format=True) for v in (*row_cos, *col_cos)]
        ds.PixelSpacing = [DSfloat(dy, auto_format=True), DSfloat(dx, auto_format=True)]
        ds.SliceThickness = DSfloat(dz, auto_format=True)
        ds.Rows, ds.Columns = int(volume.shape[1]), int(volume.shape[2])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope = DSfloat(float(slopes[index]), auto_format=True)
        ds.RescaleIntercept = DSfloat(intercept, auto_format=True)
        if modality == "CT":
            ds.RescaleType = "HU"
            ds.KVP = "120"
        ds.PixelData = np.ascontiguousarray(pixels[index], dtype="<i2").tobytes()
        ds.file_meta = _file_meta(sop_class, ds.SOPInstanceUID)
        slices.append(ds)
    return slices


def _file_meta(sop_class: str, sop_instance: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def _ct_stored(ct: Volume) -> tuple[np.ndarray, np.ndarray, float]:
    hu = np.rint(np.asarray(ct.array, dtype=np.float64))
    stored = np.clip(hu - CT_INTERCEPT, -32768, 32767).astype(np.int16)
    return stored, np.ones(ct.shape[0]), CT_INTERCEPT


def _pet_stored_values(
    study: Study, tags: dict[str, Any], timing: dict[str, Any]
) -> tuple[tuple[np.ndarray, np.ndarray, float], str, float | None]:
    """PET in the unit the tags announce, quantised with one slope per slice; also the Philips factor."""
    assert study.pet is not None
    values = np.asarray(study.pet.array, dtype=np.float64)
    unit, announced = study.pet.unit, str(tags["units"]).upper()
    philips = tags["philips_suv_scale"]
    if unit in (CNTS, VIMED_RAW):
        if announced != "CNTS":
            raise ValueError(f"{study.key}: PET in {unit} can only be written with units CNTS")
        return _per_slice_quantise(values), "CNTS", None
    if unit == BQML:
        if announced != "BQML":
            raise ValueError(f"{study.key}: PET in Bq/mL can only be written with units BQML")
        return _per_slice_quantise(values), "BQML", None
    if unit != SUV_BW:
        raise ValueError(f"{study.key}: unknown PET unit {unit!r}")
    if announced == "GML":
        return _per_slice_quantise(values), "GML", None
    if announced == "CNTS":
        scale = float(philips) if philips is not None else 1.0
        return _per_slice_quantise(values / scale), "CNTS", philips
    if announced != "BQML":
        raise ValueError(f"{study.key}: suv_tags units must be BQML, GML or CNTS, got {announced!r}")
    return _per_slice_quantise(values / _true_suv_factor(tags, timing)), "BQML", None


def _true_suv_factor(tags: dict[str, Any], timing: dict[str, Any]) -> float:
    """SUV per Bq/mL for the acquisition as it happened (even when tags are later withheld)."""
    dose = float(tags["total_dose_bq"] or DEFAULT_SUV_TAGS["total_dose_bq"])
    if str(tags["decay_correction"]).upper() == "START":
        start, _ = scan_start(timing["series"], [timing["acquisition"]])
        assert start is not None
        elapsed = (start - timing["injection"]).total_seconds()
        dose = decayed_dose(dose, float(tags["half_life_s"] or F18_HALF_LIFE_S), elapsed)
    return timing["true_weight"] * 1000.0 / dose


def _per_slice_quantise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """int16 0..32767 with slope = slice max / 32767, the usual scanner scheme (intercept 0)."""
    values = np.clip(values, 0.0, None)
    peaks = values.reshape(values.shape[0], -1).max(axis=1)
    slopes = np.where(peaks > 0, peaks / STORED_MAX, 1.0)
    # Round the slope to what the DS string will hold, so stored x slope reproduces the value exactly.
    slopes = np.array([float(DSfloat(s, auto_format=True)) for s in slopes])
    stored = np.clip(np.rint(values / slopes[:, None, None]), 0, STORED_MAX).astype(np.int16)
    return stored, slopes, 0.0


def _add_pet_tags(
    ds: Dataset, tags: dict[str, Any], timing: dict[str, Any], unit: str, philips: Any, n_slices: int
) -> None:
    ds.Units = unit
    if tags["corrected_image"] is not None:
        ds.CorrectedImage = list(tags["corrected_image"])
    if tags["decay_correction"] is not None:
        ds.DecayCorrection = str(tags["decay_correction"])
    ds.SeriesType = ["WHOLE BODY", "IMAGE"]
    ds.ImageIndex = int(ds.InstanceNumber)
    ds.NumberOfSlices = n_slices
    info = Dataset()
    info.Radiopharmaceutical = "Fluorodeoxyglucose"
    if tags["total_dose_bq"] is not None:
        info.RadionuclideTotalDose = DSfloat(float(tags["total_dose_bq"]), auto_format=True)
    if tags["half_life_s"] is not None:
        info.RadionuclideHalfLife = DSfloat(float(tags["half_life_s"]), auto_format=True)
    if tags["write_start_time"]:
        info.RadiopharmaceuticalStartTime = timing["injection"].strftime("%H%M%S.%f")
    if tags["write_start_datetime"]:
        info.RadiopharmaceuticalStartDateTime = timing["injection"].strftime("%Y%m%d%H%M%S.%f")
    ds.RadiopharmaceuticalInformationSequence = pydicom.Sequence([info])
    if unit == "CNTS" and philips is not None:
        block = ds.private_block(0x7053, PHILIPS_CREATOR, create=True)
        block.add_new(0x00, "DS", DSfloat(float(philips), auto_format=True))
