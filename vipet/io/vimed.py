"""ViMed-PET layout: read one study or a whole cohort lazily, and write studies in the same layout.

Report policy: a missing or unreadable report never loses the images. The study loads with
`report=None` and a note naming the file and the problem; dataset-level tools (discovery, info,
build) list it as a problem and decide whether a report-less study is usable for their task.

Volume policy: ViMed-PET keeps no geometry, so PET and CT are taken to span the same field and are
fitted edge to edge. That is only honest when their head-feet extents agree: beyond
`vipet.io.checks.DEPTH_TOLERANCE` (a PET of 50 slices against a CT of 76) the study is refused,
not stretched; a smaller difference is kept with a note. Non-finite voxels or spacings, an axis
under MIN_SHAPE and swapped CT/PET files are refused too (`vipet.io.checks`).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vipet.errors import ReadError, ReportError
from vipet.fsutil import atomic_write_json
from vipet.io.checks import check_pair, depth_problem
from vipet.io.jsonbounds import loads_bounded
from vipet.io.npz import load_volume, save_volume
from vipet.io.plausibility import spacing_problem
from vipet.io.ref import VIMED, StudyRef, path_hash_key, study_key
from vipet.io.vimed_layout import (
    DEFAULT_FOV_MM,
    DEFAULT_SLICE_MM,
    SPACING_ASSUMPTION,
    iter_metadata,
    layout_paths,
    parse_spacing,
    parse_study_path,
    write_metadata_csv,
)
from vipet.schema import Report
from vipet.study import HU, SUV_BW, VIMED_RAW, Patient, Study, Volume

__all__ = ["read_vimed_study", "read_vimed_ref", "iter_vimed", "write_vimed_study", "write_metadata_csv"]

RAW_MAX = 32767
RAW_SUV_NOTE = (
    "ViMed-PET stores PET in raw scanner units 0..32767 without the weight, dose and injection time "
    "needed for SUV"
)


def read_vimed_study(
    ct_npz: str | Path,
    pet_npz: str | Path,
    report_json: str | Path | None = None,
    report_en_json: str | Path | None = None,
    meta: dict[str, Any] | None = None,
) -> Study:
    """One ViMed-PET study from its files; `meta` is a metadata row as `StudyRef.meta` holds it.

    Without `meta`, date and id come from the layout path and patient sex/height/weight stay
    unknown. PET is SUVbw when `meta["suv_per_unit"]` is known (synthetic cohorts), else VIMED_RAW.
    """
    ct_npz, pet_npz = Path(ct_npz), Path(pet_npz)
    meta = dict(meta or {})
    where = parse_study_path(ct_npz) or {}
    for field_name in ("year", "month", "day", "id"):
        meta.setdefault(field_name, where.get(field_name))
    notes: list[str] = list(meta.get("notes") or ())  # what the metadata row said (a dropped height)

    ct_hu = load_volume(ct_npz)  # `.npz` (key `data`) or bare `.npy`, by suffix
    pet_raw = load_volume(pet_npz)
    check_pair(ct_hu, pet_raw, ct_npz, pet_npz)
    ct_spacing, ct_source = _spacing_for(ct_npz, ct_hu.shape, meta.get("ct_spacing"))
    pet_spacing, pet_source = _spacing_for(pet_npz, pet_raw.shape, meta.get("pet_spacing"))
    if "assumed" in (ct_source, pet_source):
        notes.append(SPACING_ASSUMPTION)
    known = "assumed" not in (ct_source, pet_source)
    if problem := depth_problem(ct_hu.shape[0], pet_raw.shape[0], ct_spacing[0] if known else None,
                                pet_spacing[0] if known else None):
        raise ReadError(f"{problem} (CT file {ct_npz})", pet_npz)
    if ct_hu.shape[0] != pet_raw.shape[0]:
        notes.append(f"CT has {ct_hu.shape[0]} slices but PET has {pet_raw.shape[0]}")

    suv_per_unit = meta.get("suv_per_unit")
    if suv_per_unit:
        pet = Volume(pet_raw.astype(np.float32) * np.float32(suv_per_unit), pet_spacing, SUV_BW)
        if not np.isfinite(pet.array).all():
            raise ReadError(f"PET times suv_per_unit {suv_per_unit!r} leaves the float32 range", pet_npz)
        suv_note = None
        suv_trace = {"method": "suv_per_unit column of metadata.csv", "suv_per_unit": float(suv_per_unit)}
    else:
        pet = Volume(pet_raw, pet_spacing, VIMED_RAW)
        suv_note = RAW_SUV_NOTE
        suv_trace = {"method": "none", "reason": RAW_SUV_NOTE}

    report = _load_report(report_json, notes)
    report_en = _load_report_en(report_en_json, notes)

    if meta.get("year") and meta.get("month") and meta.get("day") and meta.get("id"):
        key = study_key(meta["year"], meta["month"], meta["day"], meta["id"])
        study_date = _safe_date(meta["year"], meta["month"], meta["day"], notes)
    else:
        key, study_date = path_hash_key("vimed", ct_npz), None
        notes.append("study date and id not found in the path; key is a hash of the CT path")

    return Study(
        key=key,
        ct=Volume(ct_hu, ct_spacing, HU),
        pet=pet,
        patient=Patient(
            id=str(meta.get("id") or ""),
            sex=meta.get("sex"),
            height_m=meta.get("height_m"),
            weight_kg=meta.get("weight_kg"),
        ),
        study_date=study_date,
        report=report,
        report_en=report_en,
        head_first=meta.get("head_first"),
        suv_note=suv_note,
        source=str(ct_npz),
        provenance={
            "format": VIMED,
            "ct_path": str(ct_npz),
            "pet_path": str(pet_npz),
            "report_path": str(report_json) if report_json else None,
            "report_en_path": str(report_en_json) if report_en_json else None,
            "spacing_source": {"CT": ct_source, "PT": pet_source},
            "suv": suv_trace,
        },
        notes=notes,
    )


def read_vimed_ref(ref: StudyRef) -> Study:
    """Load the study a metadata row points at, under the ref's key (unique in the table: a second
    row with one name and date is keyed `{key}_2`, see `vimed_layout.read_metadata`)."""
    study = read_vimed_study(
        ref.paths["ct"], ref.paths["pet"], ref.paths.get("report"), ref.paths.get("report_en"), ref.meta
    )
    study.key = ref.key
    return study


def iter_vimed(root: str | Path) -> Iterator[Study | ReadError]:
    """Studies of a ViMed-PET root in table order, loaded one at a time; bad rows and files are yielded
    as `ReadError`s so the caller reports and skips them without the loop stopping."""
    for item in iter_metadata(Path(root)):
        if isinstance(item, ReadError):
            yield item
            continue
        try:
            yield read_vimed_ref(item)
        except ReadError as exc:
            yield exc


def write_vimed_study(study: Study, root: str | Path, *, suv_per_unit: float | None = None,
                      volume_ext: str = "npz") -> dict[str, Any]:
    """Write `study` in the ViMed-PET layout under `root` and return its metadata row.

    CT is stored as int16 HU. PET is stored as int16 raw units 0..32767: with `suv_per_unit` the
    raw value is SUV / suv_per_unit and the row records the factor, so the reader gets SUVbw back;
    without it the PET is scaled to fill 0..32767 like the real cohort, and SUV is lost on purpose.
    """
    root = Path(root)
    if study.ct is None or study.pet is None:
        raise ValueError(f"{study.key}: the ViMed-PET layout needs both CT and PET")
    if study.study_date is None:
        raise ValueError(f"{study.key}: the ViMed-PET layout needs a study date (it names the folders)")
    patient_id = study.patient.id or study.key
    date = study.study_date
    rel = layout_paths(date.year, date.month, date.day, patient_id, volume_ext)

    ct_hu = np.asarray(study.ct.array)
    if ct_hu.dtype != np.int16:
        ct_hu = np.clip(np.rint(ct_hu), -32768, 32767).astype(np.int16)
    pet_raw, recorded_factor = _pet_to_raw(study, suv_per_unit)
    save_volume(root / rel["ct"], ct_hu)  # `volume_ext` "npy": bare arrays, as some packagings ship
    save_volume(root / rel["pet"], pet_raw)

    row: dict[str, Any] = {
        "name": patient_id,
        "sex": study.patient.sex or "",
        "height": study.patient.height_m,
        "weight": study.patient.weight_kg,
        "year": date.year,
        "pet_path": rel["pet"],
        "ct_path": rel["ct"],
        "report_path": "",
        "report_en_path": "",
        "suv_per_unit": recorded_factor,
        "ct_spacing": tuple(study.ct.spacing),
        "pet_spacing": tuple(study.pet.spacing),
        "head_first": study.head_first,
    }
    if study.report is not None:
        atomic_write_json(root / rel["report"], study.report.to_json())
        row["report_path"] = rel["report"]
    if study.report_en is not None:
        atomic_write_json(root / rel["report_en"], study.report_en)
        row["report_en_path"] = rel["report_en"]
    return row


def _pet_to_raw(study: Study, suv_per_unit: float | None) -> tuple[np.ndarray, float | None]:
    """PET as int16 raw units and the SUV-per-unit factor to record (None when SUV is not kept)."""
    assert study.pet is not None
    values = np.asarray(study.pet.array)
    unit = study.pet.unit
    if suv_per_unit is not None:
        if suv_per_unit <= 0:
            raise ValueError(f"{study.key}: suv_per_unit must be positive, got {suv_per_unit}")
        if unit == VIMED_RAW:
            return _to_int16_raw(values), float(suv_per_unit)
        if unit != SUV_BW:
            raise ValueError(f"{study.key}: suv_per_unit needs PET in SUVbw or VIMED_RAW, got {unit}")
        peak = float(values.max()) if values.size else 0.0
        if peak > RAW_MAX * suv_per_unit:
            raise ValueError(
                f"{study.key}: PET SUV max {peak:.3f} exceeds {RAW_MAX} x suv_per_unit = "
                f"{RAW_MAX * suv_per_unit:.3f}; use suv_per_unit >= {peak / RAW_MAX:.6g}"
            )
        return _to_int16_raw(values.astype(np.float64) / suv_per_unit), float(suv_per_unit)
    if unit == VIMED_RAW:
        return _to_int16_raw(values), None
    peak = float(values.max()) if values.size else 0.0
    scale = RAW_MAX / peak if peak > 0 else 1.0
    return _to_int16_raw(values.astype(np.float64) * scale), None


def _to_int16_raw(values: np.ndarray) -> np.ndarray:
    if values.dtype == np.int16 and (values.size == 0 or values.min() >= 0):
        return values
    return np.clip(np.rint(values), 0, RAW_MAX).astype(np.int16)


def _spacing_for(
    npz_path: Path, shape: tuple[int, ...], from_meta: Any
) -> tuple[tuple[float, float, float], str]:
    """Spacing from the metadata row, else a `<name>.spacing.json` sidecar, else the documented default;
    a spacing outside `plausibility.SPACING_MM` (infinite, 1e6 mm) is refused naming its source."""
    if from_meta is not None:
        spacing = parse_spacing(from_meta, "spacing")
        if spacing is not None and (problem := spacing_problem(spacing)):
            raise ReadError(f"{problem} (spacing from metadata.csv)", npz_path)
        return spacing, "metadata"  # type: ignore[return-value]
    sidecar = npz_path.with_suffix(".spacing.json")
    if sidecar.is_file():
        try:
            obj = loads_bounded(sidecar.read_text(encoding="utf-8"))
            spacing = parse_spacing(obj.get("spacing") if isinstance(obj, dict) else obj, "spacing")
        except (ValueError, AttributeError) as exc:
            raise ReadError(f"bad spacing sidecar ({exc})", sidecar) from None
        if spacing is not None:
            if problem := spacing_problem(spacing):
                raise ReadError(problem, sidecar)
            return spacing, "sidecar"
    _, rows, cols = shape
    return (DEFAULT_SLICE_MM, DEFAULT_FOV_MM / rows, DEFAULT_FOV_MM / cols), "assumed"


def _load_report(path: str | Path | None, notes: list[str]) -> Report | None:
    if not path:
        notes.append("no report listed for this study")
        return None
    try:
        return Report.load(path)
    except ReportError as exc:
        notes.append(f"report unavailable: {exc}")
        return None


def _load_report_en(path: str | Path | None, notes: list[str]) -> dict[str, Any] | None:
    if not path:
        return None
    path = Path(path)
    if not path.is_file():
        notes.append(f"English report unavailable: {path}: file not found")
        return None
    try:
        obj = loads_bounded(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        notes.append(f"English report unavailable: {path}: not valid UTF-8 JSON ({exc.__class__.__name__})")
        return None
    if not isinstance(obj, dict):
        notes.append(f"English report unavailable: {path}: expected a JSON object")
        return None
    return obj


def _safe_date(year: int, month: int, day: int, notes: list[str]) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        notes.append(f"path date {year}-{month}-{day} is not a calendar date")
        return None
