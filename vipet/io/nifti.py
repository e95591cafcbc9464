"""NIfTI CT/PET pairs via nibabel: affine -> spacing and orientation, axes into the project convention.

NIfTI keeps no units, so the PET unit is never guessed: it is what the caller says (`pet_unit`,
`--pet-unit`) or what the `study.json` sidecar beside the pair records (`"pet_unit"`), and a pair
with neither is refused. `write_nifti_study` only writes PET already in SUV and records SUVbw in
the sidecar, which also keeps the patient, date and key; `report.json` keeps the report, so a
written study reads back whole.

Refused, with a one-line `ReadError` naming the file: a volume whose sform and qform codes are
both 0 (no patient geometry: position and orientation unknown), a non-finite affine or a spacing
outside `plausibility.SPACING_MM` (pixdim 0), and every `vipet.io.checks.check_pair` problem (NaN
or infinite voxels, an axis under MIN_SHAPE, CT and PET swapped, PET and CT not overlapping in
patient space). The sidecar key becomes a safe file-name component; an implausible height or
weight is dropped with a note.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from vipet.errors import ReadError, ReportError
from vipet.fsutil import atomic_write_bytes, atomic_write_json, safe_name
from vipet.io.checks import check_pair
from vipet.io.jsonbounds import loads_bounded
from vipet.io.orient import (
    canonicalize,
    default_affine,
    head_first_from_affine,
    lps_to_nifti,
    nifti_to_lps,
    spacing_from_affine,
)
from vipet.io.plausibility import height_problem, spacing_problem, weight_problem
from vipet.io.ref import NIFTI, path_hash_key
from vipet.schema import Report
from vipet.study import HU, PET_UNITS, SUV_BW, Patient, Study, Volume

__all__ = ["read_nifti_pair", "write_nifti_study", "find_pair", "sidecar_pet_unit", "check_pet_unit"]

CT_NAMES = ("ct.nii.gz", "ct.nii")
PET_NAMES = ("pet.nii.gz", "pet.nii")


def read_nifti_pair(ct_path: str | Path, pet_path: str | Path, pet_unit: str | None = None) -> Study:
    """A study from two NIfTI files in `pet_unit` (one of `vipet.study.PET_UNITS`, trusted as given),
    else in the unit its `study.json` sidecar records; `ReadError` naming the PET file when neither says."""
    ct_path, pet_path = Path(ct_path), Path(pet_path)
    if pet_unit is None:
        pet_unit = sidecar_unit = sidecar_pet_unit(ct_path.parent)
    else:  # an explicit unit wins over the sidecar, which is then only compared (a note when they differ)
        sidecar_unit = (_json_or_none(ct_path.parent / "study.json") or {}).get("pet_unit")
    if pet_unit is None:
        raise ReadError(f"NIfTI keeps no PET unit and no study.json records one: pass --pet-unit "
                        f"({', '.join(PET_UNITS)})", pet_path)
    check_pet_unit(pet_unit, ct_path.parent / "study.json" if pet_unit == sidecar_unit else pet_path)
    ct_values, ct_affine = _load(ct_path)
    pet_values, pet_affine = _load(pet_path)
    check_pair(ct_values, pet_values, ct_path, pet_path, ct_affine, pet_affine)
    whole = np.all(ct_values == np.rint(ct_values)) and ct_values.min() >= -32768 and ct_values.max() <= 32767
    ct_hu = ct_values.astype(np.int16) if whole else ct_values.astype(np.float32)
    pet32 = pet_values.astype(np.float32)
    for values, path in ((ct_hu, ct_path), (pet32, pet_path)):
        if not np.isfinite(values).all():
            raise ReadError("values beyond the float32 range (a unit or scaling error)", path)
    notes: list[str] = []
    head_first = head_first_from_affine(ct_affine)
    pet_head_first = head_first_from_affine(pet_affine)
    if head_first is not None and pet_head_first is not None and pet_head_first != head_first:
        pet32 = np.ascontiguousarray(pet32[::-1])
        pet_affine = pet_affine.copy()
        pet_affine[:3, 3] += pet_affine[:3, 0] * (pet32.shape[0] - 1)
        pet_affine[:3, 0] *= -1
        notes.append("PET slices ran the other way from CT; reversed to match the CT")
    if sidecar_unit is not None and sidecar_unit != pet_unit:
        notes.append(f"PET read as {pet_unit} as given, not as the {sidecar_unit} that study.json records")
    sidecar = _sidecar(ct_path.parent / "study.json", notes)
    report = None
    if (ct_path.parent / "report.json").is_file():
        try:
            report = Report.load(ct_path.parent / "report.json")
        except ReportError as exc:
            notes.append(f"report unavailable: {exc}")
    given = "by study.json" if pet_unit == sidecar_unit else "by the user"
    suv_note = None if pet_unit == SUV_BW else f"NIfTI PET given as {pet_unit} {given}; NIfTI keeps no SUV tags"
    patient = sidecar.get("patient") or {}
    if not isinstance(patient, dict):
        notes.append(f"ignored 'patient' of {ct_path.parent / 'study.json'}: expected an object")
        patient = {}
    height_m = _plausible(patient.get("height_m"), height_problem, ct_path.parent / "study.json", notes)
    weight_kg = _plausible(patient.get("weight_kg"), weight_problem, ct_path.parent / "study.json", notes)
    date = sidecar.get("study_date")
    return Study(
        key=safe_name(str(sidecar.get("key") or path_hash_key("nifti", ct_path))),
        ct=Volume(ct_hu, spacing_from_affine(ct_affine), HU, ct_affine),
        pet=Volume(pet32, spacing_from_affine(pet_affine), pet_unit, pet_affine),
        patient=Patient(
            id=str(patient.get("id") or ""),
            sex=patient.get("sex"),
            height_m=height_m,
            weight_kg=weight_kg,
        ),
        study_date=_date(date),
        report=report,
        report_en=_json_or_none(ct_path.parent / "report_en.json"),
        head_first=head_first,
        suv_note=suv_note,
        source=f"{ct_path},{pet_path}",
        provenance={"format": NIFTI, "ct_path": str(ct_path), "pet_path": str(pet_path),
                    "suv": {"method": f"unit given {given}", "unit": pet_unit}},
        notes=notes,
    )


def write_nifti_study(study: Study, folder: str | Path) -> tuple[Path, Path]:
    """`folder/ct.nii.gz` (HU) and `folder/pet.nii.gz` (SUVbw, else `SUVUnavailableError`), plus sidecars."""
    if study.ct is None or study.pet is None:
        raise ValueError(f"{study.key}: a NIfTI pair needs both CT and PET")
    pet_suv = study.pet_suv()
    folder = Path(folder)
    ct_path, pet_path = folder / "ct.nii.gz", folder / "pet.nii.gz"
    _save(ct_path, np.asarray(study.ct.array), _affine_of(study.ct, study.head_first))
    _save(pet_path, np.asarray(pet_suv, dtype=np.float32), _affine_of(study.pet, study.head_first))
    atomic_write_json(folder / "study.json", {
        "key": study.key,
        "patient": {"id": study.patient.id, "sex": study.patient.sex,
                    "height_m": study.patient.height_m, "weight_kg": study.patient.weight_kg},
        "study_date": study.study_date.isoformat() if study.study_date else None,
        "pet_unit": SUV_BW,
    })
    if study.report is not None:
        atomic_write_json(folder / "report.json", study.report.to_json())
    if study.report_en is not None:
        atomic_write_json(folder / "report_en.json", study.report_en)
    return ct_path, pet_path


def sidecar_pet_unit(folder: str | Path) -> str | None:
    """The `pet_unit` a study folder's `study.json` records (checked against PET_UNITS), else None."""
    path = Path(folder) / "study.json"
    obj = _json_or_none(path)
    unit = (obj or {}).get("pet_unit")
    if unit is None:
        return None
    check_pet_unit(unit, path)
    return str(unit)


def check_pet_unit(unit: Any, where: str | Path) -> None:
    """`ReadError` naming `where` unless `unit` is one of `vipet.study.PET_UNITS`."""
    if unit not in PET_UNITS:
        raise ReadError(f"unknown PET unit {unit!r}; expected one of {', '.join(PET_UNITS)}", where)


def find_pair(folder: Path) -> tuple[Path, Path] | None:
    """(ct, pet) NIfTI files of a study folder named as `write_nifti_study` names them, else None."""
    ct = next((folder / n for n in CT_NAMES if (folder / n).is_file()), None)
    pet = next((folder / n for n in PET_NAMES if (folder / n).is_file()), None)
    return (ct, pet) if ct and pet else None


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Canonical (z, y, x) values and LPS affine of one NIfTI volume."""
    if not path.is_file():
        raise ReadError("NIfTI file not found", path)
    try:
        image = nib.load(str(path))
        values = np.asarray(image.dataobj, dtype=np.float64)
    except Exception as exc:  # nibabel raises ImageFileError, EOFError, zlib/gzip errors, ...
        raise ReadError(f"not a readable NIfTI file ({exc.__class__.__name__}: {exc})", path) from None
    if values.ndim == 4 and values.shape[3] == 1:
        values = values[..., 0]
    if values.ndim != 3:
        raise ReadError(f"expected a 3-D volume, got shape {values.shape}", path)
    header = image.header
    if int(header["sform_code"]) == 0 and int(header["qform_code"]) == 0:
        raise ReadError("sform and qform codes are both 0: the file has no patient geometry "
                        "(position and orientation unknown), so PET and CT cannot be aligned", path)
    if int(header["sform_code"]) == 0:  # geometry from the qform, whose voxel sizes are pixdim[1:4]
        if problem := spacing_problem(_stored_pixdim(path)):
            raise ReadError(f"{problem} (pixdim, x y z)", path)
    if not np.all(np.isfinite(image.affine)):
        raise ReadError("affine has non-finite values", path)
    zyx, lps = nifti_to_lps(values, image.affine)
    if problem := spacing_problem(spacing_from_affine(lps)):
        raise ReadError(f"{problem} (affine)", path)
    try:
        return canonicalize(zyx, lps)
    except ValueError as exc:
        raise ReadError(str(exc), path) from None


def _stored_pixdim(path: Path) -> tuple[float, float, float]:
    """pixdim[1:4] as the file stores it: nibabel's loader replaces a 0 by 1 mm (with only a log
    message), which would place the volume on an invented grid, so the raw header is read again."""
    import gzip
    import io

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        block = handle.read(348)
    raw = nib.Nifti1Header.from_fileobj(io.BytesIO(block), check=False)
    return tuple(float(v) for v in raw["pixdim"][1:4])  # type: ignore[return-value]


def _save(path: Path, array_zyx: np.ndarray, affine_lps: np.ndarray) -> None:
    ijk, ras = lps_to_nifti(array_zyx, affine_lps)
    image = nib.Nifti1Image(np.ascontiguousarray(ijk), ras)
    image.header.set_xyzt_units("mm")
    image.set_qform(ras, code=1)
    image.set_sform(ras, code=1)
    atomic_write_bytes(path, image.to_bytes() if path.suffix != ".gz" else _gzip(image.to_bytes()))


def _gzip(payload: bytes) -> bytes:
    import gzip

    return gzip.compress(payload, compresslevel=6, mtime=0)


def _affine_of(volume: Volume, head_first: bool | None) -> np.ndarray:
    return volume.affine if volume.affine is not None else default_affine(volume.shape, volume.spacing, head_first)


def _sidecar(path: Path, notes: list[str]) -> dict[str, Any]:
    obj = _json_or_none(path)
    if obj is None and path.is_file():
        notes.append(f"ignored unreadable sidecar {path}")
    return obj or {}


def _plausible(value: Any, problem_of: Any, where: Path, notes: list[str]) -> float | None:
    """A sidecar height or weight, or None with a note when it is not a plausible number."""
    if value is None:
        return None
    problem = problem_of(value)  # a string, a list or a bool is "not a positive finite number" there too
    if problem is None:
        return value
    notes.append(f"{where}: {problem}; dropped (treated as unknown)")
    return None


def _json_or_none(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        obj = loads_bounded(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def _date(text: Any):
    import datetime as dt

    try:
        return dt.date.fromisoformat(str(text)) if text else None
    except ValueError:
        return None
