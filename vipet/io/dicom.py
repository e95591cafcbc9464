"""Read a folder holding one PET and one CT series (any file names, any order, any depth).

Slices are grouped by SeriesInstanceUID and ordered by ImagePositionPatient projected on the slice
normal; their direction follows InstanceNumber when present (the scanner's own order, which keeps
a written study's array order on read-back), else head -> feet. RescaleSlope/Intercept are applied
per slice. PET becomes SUVbw through `vipet.io.suv`, or stays in Bq/mL (or counts) with
`study.suv_note` naming the missing tag and one `SUVUnavailableWarning`. Files that are not DICOM
and DICOM objects without pixels (SR, RTSTRUCT, ...) are skipped with a note; ambiguous input (two
PET series, PET and CT in different frames of reference) is an error rather than a guess.

Geometry is right or refused (`ReadError`, one line naming the file or series): a series with fewer
voxels than `plausibility.MIN_SHAPE`, a PixelSpacing that is zero, negative or absurd, a
RescaleSlope that is not a positive finite number, and a slice gap are all refused. A gap is a step
between consecutive slices along the slice normal that differs from the median step by more than
`GAP_TOLERANCE` (10 % of the median or 0.1 mm, whichever is larger): a missing or unreadable slice,
which reading at the mean spacing would hide by misplacing every slice after it. Filling the gap
by interpolation is not exact, so the series is refused instead. A PET series whose slice count
differs from its NumberOfSlices tag (a lost end slice) and a file that looks like DICOM but
cannot be parsed are refused too, never silently dropped. An implausible PatientSize or
PatientWeight is dropped from `Study.patient` with a note (the weight also refuses SUV).
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from vipet.errors import ReadError, ReportError
from vipet.io.jsonbounds import loads_bounded
from vipet.io.dicom_write import PHILIPS_CREATOR, write_dicom_study
from vipet.io.orient import canonicalize, head_first_from_affine, spacing_from_affine
from vipet.io.checks import check_pair
from vipet.io.plausibility import height_problem, shape_problem, slope_problem, spacing_problem, weight_problem
from vipet.io.ref import DICOM, path_hash_key, study_key
from vipet.io.suv import SUVScale, combine, parse_da, parse_dt, refuse_implausible_suv_max, suv_scale
from vipet.schema import Report
from vipet.study import HU, Patient, Study, Volume

__all__ = ["read_dicom_study", "write_dicom_study", "SUVUnavailableWarning", "SIDECAR_NAMES"]

log = logging.getLogger(__name__)
SIDECAR_NAMES = {"report.json", "report_en.json"}
# A step between consecutive slices may differ from the median step by this fraction or these mm
# (whichever is larger) before it counts as a gap: a missing slice doubles the step.
GAP_TOLERANCE = (0.10, 0.1)


class SUVUnavailableWarning(UserWarning):
    """PET was kept in Bq/mL or counts; the message names the tag that prevented SUV."""


def read_dicom_study(folder: str | Path) -> Study:
    """One study from a DICOM folder; `ReadError` (one line, naming the file) when it is unusable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReadError("DICOM folder not found", folder)
    notes: list[str] = []
    series = _scan(folder, notes)
    pet_uid, ct_uid = _pick_series(folder, series, notes)
    pet_sets, ct_sets = series[pet_uid], series[ct_uid]

    ct_values, ct_affine, ct_order = _stack(ct_sets, "CT", notes, ct_uid)
    ct_hu = _as_hu(ct_values)
    ct_hu, ct_affine = canonicalize(ct_hu, ct_affine)

    pet_values, pet_affine, pet_order = _stack(pet_sets, "PT", notes, pet_uid)
    pet_sets = [pet_sets[i] for i in pet_order[0]]
    scale = _suv_scale(pet_sets)
    if scale.factor is not None:
        factor = np.asarray(scale.factor, dtype=np.float64)
        suv = pet_values * (factor[:, None, None] if factor.ndim == 1 else factor)
        scale = refuse_implausible_suv_max(scale, float(suv.max()) if suv.size else 0.0)
        if scale.factor is not None:
            pet_values = suv
    pet_array, pet_affine = canonicalize(pet_values.astype(np.float32), pet_affine)

    head_first = head_first_from_affine(ct_affine)
    pet_head_first = head_first_from_affine(pet_affine)
    if head_first is not None and pet_head_first is not None and pet_head_first != head_first:
        pet_array = np.ascontiguousarray(pet_array[::-1])
        pet_affine = pet_affine.copy()
        pet_affine[:3, 3] += pet_affine[:3, 0] * (pet_array.shape[0] - 1)
        pet_affine[:3, 0] *= -1
        notes.append("PET slices ran the other way from CT; reversed to match the CT")
    # the checks every reader shares: finite, not degenerate, not swapped, overlapping in patient space
    check_pair(ct_hu, pet_array, ct_sets[0].vipet_path, pet_sets[0].vipet_path, ct_affine, pet_affine)
    if scale.note:
        message = f"{folder}: SUV unavailable, PET kept in {scale.unit}: {scale.note}"
        warnings.warn(message, SUVUnavailableWarning, stacklevel=2)
        log.warning(message)

    first = pet_sets[0]
    report = _sidecar_report(folder, notes)
    return Study(
        key=_key(first, folder),
        ct=Volume(ct_hu, spacing_from_affine(ct_affine), HU, ct_affine),
        pet=Volume(pet_array, spacing_from_affine(pet_affine), scale.unit, pet_affine),
        patient=_patient(first, notes),
        study_date=parse_da(first.get("StudyDate")) or parse_da(first.get("SeriesDate")),
        report=report,
        report_en=_sidecar_json(folder / "report_en.json", notes),
        head_first=head_first,
        suv_note=scale.note,
        source=str(folder),
        provenance={
            "format": DICOM,
            "folder": str(folder),
            "ct_series": {"uid": ct_uid, "slices": len(ct_sets), "order": ct_order[1]},
            "pet_series": {"uid": pet_uid, "slices": len(pet_sets), "order": pet_order[1]},
            "frame_of_reference": str(first.get("FrameOfReferenceUID", "")),
            "study_uid": str(first.get("StudyInstanceUID", "")).strip(),
            "suv": scale.trace | {"result_unit": scale.unit, "note": scale.note},
        },
        notes=notes,
    )


def _scan(folder: Path, notes: list[str]) -> dict[str, list[pydicom.Dataset]]:
    """Image datasets of CT and PT series, grouped by SeriesInstanceUID; pixels stay on disk until used."""
    series: dict[str, list[pydicom.Dataset]] = defaultdict(list)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if path.name in SIDECAR_NAMES or any(part.startswith(".") for part in rel.parts):
            continue
        try:
            ds = pydicom.dcmread(path, defer_size="64 KB")
        except InvalidDicomError as exc:
            if _looks_like_dicom(path):  # a damaged slice must not vanish from its series unnoticed
                raise ReadError(f"damaged DICOM file ({exc.__class__.__name__}: {exc})", path) from None
            notes.append(f"ignored non-DICOM file {rel}")
            continue
        except Exception as exc:  # pydicom raises many types for damaged files
            raise ReadError(f"damaged DICOM file ({exc.__class__.__name__}: {exc})", path) from None
        modality = str(ds.get("Modality", "")).upper()
        if "PixelData" not in ds and modality in ("CT", "PT") and "ImagePositionPatient" in ds:
            raise ReadError(f"{modality} image slice without PixelData (7FE0,0010)", path)
        if "PixelData" not in ds:
            notes.append(f"ignored non-image DICOM object {rel} (Modality {modality or 'missing'})")
            continue
        if modality not in ("CT", "PT"):
            notes.append(f"ignored {modality or 'unknown'} image {rel}")
            continue
        if "LOCALIZER" in [str(v).upper() for v in _multi(ds.get("ImageType"))]:
            notes.append(f"ignored localizer image {rel}")
            continue
        uid = _series_uid(ds, path)
        ds.vipet_path = path  # remembered for error messages
        series[uid].append(ds)
    return series


_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def _series_uid(ds: pydicom.Dataset, path: Path) -> str:
    """The slice's SeriesInstanceUID, or a `ReadError` naming the file when it is missing or malformed
    (corrupted UID bytes would otherwise split one series in two: "2 PET series found")."""
    try:
        with warnings.catch_warnings():  # pydicom warns about the invalid UI value; the error below says it
            warnings.simplefilter("ignore")
            raw = ds.get("SeriesInstanceUID", "")
    except Exception as exc:  # pydicom decodes on access; damaged bytes raise several types
        raise ReadError(f"series UID is malformed: SeriesInstanceUID (0020,000E) cannot be decoded "
                        f"({exc.__class__.__name__})", path) from None
    uid = str(raw if raw is not None else "").strip(" \x00")
    if not uid:
        raise ReadError("SeriesInstanceUID (0020,000E) missing", path)
    if len(uid) > 64 or not _UID.fullmatch(uid):
        shown = uid if len(uid) <= 80 else uid[:77] + "..."
        raise ReadError(f"series UID is malformed: SeriesInstanceUID (0020,000E) {shown!r} is not digits "
                        "separated by dots (at most 64 characters)", path)
    return uid


def _pick_series(folder: Path, series: dict[str, list[pydicom.Dataset]], notes: list[str]) -> tuple[str, str]:
    """(PET uid, CT uid): exactly one PET series, and the largest CT series in its frame of reference."""
    pets = [uid for uid, sets in series.items() if sets[0].Modality == "PT"]
    cts = [uid for uid, sets in series.items() if sets[0].Modality == "CT"]
    if not pets:
        raise ReadError("no PET (PT) image series found", folder)
    if len(pets) > 1:
        counts = ", ".join(f"{uid} ({len(series[uid])} slices)" for uid in sorted(pets))
        raise ReadError(f"{len(pets)} PET series found, expected one: {counts}", folder)
    if not cts:
        raise ReadError("no CT image series found", folder)
    pet_uid = pets[0]
    pet_frame = str(series[pet_uid][0].get("FrameOfReferenceUID", "")).strip()
    same_frame = [uid for uid in cts if str(series[uid][0].get("FrameOfReferenceUID", "")).strip() == pet_frame]
    if not same_frame:
        ct_frames = sorted({str(series[uid][0].get("FrameOfReferenceUID", "")) for uid in cts})
        raise ReadError(
            f"PET and CT have different FrameOfReferenceUID (PET {pet_frame or 'missing'}, CT {', '.join(ct_frames)})",
            folder,
        )
    if not pet_frame:
        notes.append("FrameOfReferenceUID missing on PET and CT; assumed registered")
    ct_uid = max(same_frame, key=lambda uid: (len(series[uid]), uid))
    for uid in cts:
        if uid != ct_uid:
            notes.append(f"ignored extra CT series {uid} ({len(series[uid])} slices)")
    return pet_uid, ct_uid


def _stack(
    datasets: list[pydicom.Dataset], modality: str, notes: list[str], uid: str
) -> tuple[np.ndarray, np.ndarray, tuple[list[int], str]]:
    """Rescaled values (n, rows, cols) in slice order, their affine, and (order, how it was chosen)."""
    first = datasets[0]
    series_dir = first.vipet_path.parent
    if modality == "PT" and first.get("NumberOfSlices") not in (None, ""):
        if _number(first.get("NumberOfSlices")) != len(datasets):
            raise ReadError(f"PT series {uid} has {len(datasets)} slices but NumberOfSlices (0054,0081) says "
                            f"{first.get('NumberOfSlices')}: a slice is missing or unreadable", series_dir)
    rows, columns = (int(_number(first.get(keyword)) or 0) for keyword in ("Rows", "Columns"))
    if (problem := shape_problem((len(datasets), rows, columns))) is not None:
        raise ReadError(f"{modality} series {uid}: {problem}", series_dir)
    geometry = [_geometry(ds) for ds in datasets]
    row_cos, col_cos, pixel_spacing, shape = geometry[0][1:]
    for ds, (_, rc, cc, ps, sh) in zip(datasets, geometry):
        if sh != shape or not np.allclose(rc, row_cos, atol=1e-4) or not np.allclose(cc, col_cos, atol=1e-4):
            raise ReadError(f"{modality} slice differs in size or orientation from the rest of its series", ds.vipet_path)
        if not np.allclose(ps, pixel_spacing, rtol=1e-4):
            raise ReadError(f"{modality} slice has a different PixelSpacing from the rest of its series", ds.vipet_path)
    normal = np.cross(row_cos, col_cos)
    positions = np.array([g[0] for g in geometry])
    along = positions @ normal
    order = list(np.argsort(along, kind="stable"))
    numbers = [ds.get("InstanceNumber") for ds in datasets]
    if all(n is not None for n in numbers) and len(order) > 1:
        how = "InstanceNumber direction"
        if int(numbers[order[0]]) > int(numbers[order[-1]]):
            order.reverse()
    else:
        how = "head to feet"
        if normal[2] > 0:  # ascending along +z (superior) runs feet -> head
            order.reverse()
    sorted_along = along[order]
    steps = np.diff(sorted_along)
    if len(steps) and np.any(np.abs(steps) < 1e-3):
        dup = datasets[order[int(np.argmin(np.abs(steps))) + 1]]
        raise ReadError(f"two {modality} slices at the same position (multi-frame or multi-phase series?)", dup.vipet_path)
    _refuse_gaps(datasets, order, sorted_along, modality, uid)

    rescale = [_rescale(datasets[i]) for i in order]
    # Whole-number slopes and intercepts (every CT scanner) stay in integers: exact and a third of the work.
    integral = all(float(a).is_integer() and float(b).is_integer() for a, b in rescale)
    values = np.empty((len(order), shape[0], shape[1]), dtype=np.int32 if integral else np.float64)
    for out_index, src_index in enumerate(order):
        ds = datasets[src_index]
        try:
            pixels = ds.pixel_array
        except Exception as exc:
            raise ReadError(f"cannot decode pixels ({exc.__class__.__name__}: {exc})", ds.vipet_path) from None
        if pixels.shape != shape:
            raise ReadError(f"pixel array shape {pixels.shape} does not match Rows x Columns {shape}", ds.vipet_path)
        slope, intercept = rescale[out_index]
        if integral:
            np.add(pixels.astype(np.int32) * int(slope), int(intercept), out=values[out_index])
        else:
            values[out_index] = pixels.astype(np.float64) * slope + intercept

    affine = np.eye(4)
    affine[:3, 2] = row_cos * pixel_spacing[1]
    affine[:3, 1] = col_cos * pixel_spacing[0]
    affine[:3, 3] = positions[order[0]]
    affine[:3, 0] = (positions[order[-1]] - positions[order[0]]) / (len(order) - 1)  # at least 2 (MIN_SHAPE)
    step = float(np.linalg.norm(affine[:3, 0]))
    if (problem := spacing_problem((step,))) is not None:
        raise ReadError(f"{modality} series {uid}: slice step: {problem}", series_dir)
    if np.max(np.abs(np.abs(steps) - step)) > max(0.01 * step, 0.01):
        notes.append(f"{modality} slice spacing is irregular ({np.abs(steps).min():.3f}..{np.abs(steps).max():.3f} mm);"
                     f" the mean {step:.3f} mm is used")
    return values, affine, ([int(i) for i in order], how)


def _refuse_gaps(datasets: list[pydicom.Dataset], order: list[int], sorted_along: np.ndarray, modality: str,
                 uid: str) -> None:
    """`ReadError` naming the series and the position of the first step that is not the median step.

    A missing slice would otherwise be absorbed into a mean spacing, shifting every later slice.
    """
    steps = np.abs(np.diff(sorted_along))
    if len(steps) < 2:
        return
    median = float(np.median(steps))
    fraction, millimetres = GAP_TOLERANCE
    tolerance = max(fraction * median, millimetres)
    off = np.flatnonzero(np.abs(steps - median) > tolerance)
    if off.size:
        k = int(off[0])
        after = datasets[order[k + 1]]
        raise ReadError(
            f"{modality} series {uid} has a slice gap: step {steps[k]:.3f} mm between positions "
            f"{sorted_along[k]:.3f} and {sorted_along[k + 1]:.3f} mm along the slice normal, median step "
            f"{median:.3f} mm (tolerance {tolerance:.3f} mm): a missing or unreadable slice",
            after.vipet_path,
        )


def _rescale(ds: pydicom.Dataset) -> tuple[float, float]:
    """(RescaleSlope, RescaleIntercept) of one slice: absent means 1 and 0; anything unusable is refused."""
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope in (None, ""):
        slope = 1.0
    elif (problem := slope_problem(slope)) is not None:
        raise ReadError(problem, ds.vipet_path)
    if intercept in (None, ""):
        intercept = 0.0
    elif (number := _number(intercept)) is None or not np.isfinite(number):
        raise ReadError(f"RescaleIntercept (0028,1052) {intercept!r} is not a finite number", ds.vipet_path)
    return float(slope), float(intercept)


def _geometry(ds: pydicom.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """(position, row cosine, column cosine, (row, col) spacing, (rows, cols)) of one slice."""
    for keyword, tag in (("ImagePositionPatient", "(0020,0032)"), ("ImageOrientationPatient", "(0020,0037)"),
                         ("PixelSpacing", "(0028,0030)")):
        if keyword not in ds or ds.get(keyword) in (None, ""):
            raise ReadError(f"{keyword} {tag} missing", ds.vipet_path)
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise ReadError("multi-frame images are not supported (expected one slice per file)", ds.vipet_path)
    position = _numbers(ds, "ImagePositionPatient (0020,0032)", ds.ImagePositionPatient, 3)
    orientation = _numbers(ds, "ImageOrientationPatient (0020,0037)", ds.ImageOrientationPatient, 6)
    row_cos, col_cos = orientation[:3], orientation[3:]
    if (abs(np.linalg.norm(row_cos) - 1) > 1e-2 or abs(np.linalg.norm(col_cos) - 1) > 1e-2
            or abs(float(row_cos @ col_cos)) > 1e-2):
        raise ReadError(f"ImageOrientationPatient (0020,0037) {orientation.tolist()} is not two orthogonal unit vectors",
                        ds.vipet_path)
    pixel_spacing = _numbers(ds, "PixelSpacing (0028,0030)", ds.PixelSpacing, 2)
    if (problem := spacing_problem(tuple(float(v) for v in pixel_spacing))) is not None:
        raise ReadError(f"PixelSpacing (0028,0030): {problem}", ds.vipet_path)
    return position, row_cos, col_cos, pixel_spacing, _grid_size(ds)


def _grid_size(ds: pydicom.Dataset) -> tuple[int, int]:
    """(Rows, Columns) as positive integers, or a `ReadError` naming the tag (empty or damaged values)."""
    sizes = []
    for keyword, tag in (("Rows", "(0028,0010)"), ("Columns", "(0028,0011)")):
        try:
            size = int(ds.get(keyword))
        except (TypeError, ValueError, OverflowError):  # missing, empty or damaged
            size = 0
        if size < 1:
            raise ReadError(f"{keyword} {tag} {ds.get(keyword)!r} is not a positive number of pixels", ds.vipet_path)
        sizes.append(size)
    return sizes[0], sizes[1]


def _numbers(ds: pydicom.Dataset, tag: str, value: Any, count: int) -> np.ndarray:
    """A multi-valued numeric tag as floats, or a `ReadError` naming the tag (never a guessed value)."""
    items = [value] if isinstance(value, (str, int, float)) else list(value)
    parsed = [_number(v) for v in items]
    if len(parsed) != count or any(v is None or not np.isfinite(v) for v in parsed):
        shown = "\\".join(str(v) for v in items)
        raise ReadError(f"{tag} {shown!r} is not {count} finite numbers", ds.vipet_path)
    return np.array(parsed, dtype=np.float64)


def _looks_like_dicom(path: Path) -> bool:
    """A file named .dcm or carrying the DICM marker: unreadable means damaged, not 'some other file'."""
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    with path.open("rb") as handle:
        head = handle.read(132)
    return head[128:132] == b"DICM"


def _as_hu(values: np.ndarray) -> np.ndarray:
    """int16 when the rescaled CT is whole numbers in range (the usual case, half the memory), else float32."""
    if np.issubdtype(values.dtype, np.integer) and (values.size == 0 or (values.min() >= -32768 and values.max() <= 32767)):
        return values.astype(np.int16)
    return values.astype(np.float32)


def _suv_scale(pet_sets: list[pydicom.Dataset]) -> SUVScale:
    """Collect the SUV inputs from the series (acquisition times from every slice) and apply the rules."""
    first = pet_sets[0]
    info: Any = None
    sequence = first.get("RadiopharmaceuticalInformationSequence")
    if sequence:
        info = sequence[0]
    acquisitions = []
    for ds in pet_sets:
        moment = parse_dt(ds.get("AcquisitionDateTime")) or combine(ds.get("AcquisitionDate"), ds.get("AcquisitionTime"))
        if moment is not None:
            acquisitions.append(moment)
    philips = None
    if str(first.get("Units", "")).upper() == "CNTS":
        factors = [_philips_suv_factor(ds) for ds in pet_sets]
        if all(f is not None for f in factors):
            philips = factors
    scale = suv_scale(
        units=first.get("Units"),
        corrected_image=_multi(first.get("CorrectedImage")),
        decay_correction=first.get("DecayCorrection"),
        weight_kg=_number(first.get("PatientWeight")),
        total_dose_bq=_number(info.get("RadionuclideTotalDose")) if info is not None else None,
        half_life_s=_number(info.get("RadionuclideHalfLife")) if info is not None else None,
        start_datetime=info.get("RadiopharmaceuticalStartDateTime") if info is not None else None,
        start_time=info.get("RadiopharmaceuticalStartTime") if info is not None else None,
        series_date=first.get("SeriesDate"),
        series_time=first.get("SeriesTime"),
        acquisition_datetimes=acquisitions,
        philips_suv_scale=philips,
    )
    if info is None and scale.note and scale.note.startswith(("Radionuclide", "Radiopharmaceutical")):
        scale.note = "RadiopharmaceuticalInformationSequence (0054,0016) missing"
    return scale


def _philips_suv_factor(ds: pydicom.Dataset) -> float | None:
    try:
        block = ds.private_block(0x7053, PHILIPS_CREATOR)
        value = block[0x00].value
    except KeyError:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="ignore").strip("\x00 ")
    return _number(value)


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _multi(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split("\\")
    return [str(v) for v in value]


def _patient(ds: pydicom.Dataset, notes: list[str]) -> Patient:
    """Patient metadata; an implausible height or weight is dropped with a note, never carried on."""
    sex = str(ds.get("PatientSex", "")).strip().upper()
    height = _number(ds.get("PatientSize")) or None
    if (problem := height_problem(height)) is not None:
        notes.append(f"PatientSize (0010,1020): {problem}; height dropped")
        height = None
    weight = _number(ds.get("PatientWeight")) or None
    if (problem := weight_problem(weight)) is not None:
        notes.append(f"PatientWeight (0010,1030): {problem}; weight dropped")
        weight = None
    return Patient(id=str(ds.get("PatientID", "")).strip(), sex=sex if sex in ("M", "F") else None,
                   height_m=height, weight_kg=weight)


def _key(ds: pydicom.Dataset, folder: Path) -> str:
    date = parse_da(ds.get("StudyDate")) or parse_da(ds.get("SeriesDate"))
    patient_id = str(ds.get("PatientID", "")).strip()
    if date is None or not patient_id:
        return path_hash_key("dicom", folder)
    return study_key(date.year, date.month, date.day, patient_id)


def _sidecar_report(folder: Path, notes: list[str]) -> Report | None:
    """`report.json` in the ViMed-PET layout beside the series (written by `write_dicom_study`)."""
    path = folder / "report.json"
    if not path.is_file():
        return None
    try:
        return Report.load(path)
    except ReportError as exc:
        notes.append(f"report unavailable: {exc}")
        return None


def _sidecar_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        obj = loads_bounded(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        notes.append(f"English report unavailable: {path}: {exc.__class__.__name__}")
        return None
    return obj if isinstance(obj, dict) else None
