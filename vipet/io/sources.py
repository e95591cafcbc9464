"""Find studies under a dataset root and load any study from a path, whatever its format.

Discovery never opens volumes and never raises for one bad study: every unusable row, missing
file or unreadable folder becomes a problem record (`{"path", "reason", ...}`) beside the refs, so
a build over thousands of studies plans in a second and reports instead of aborting.

Keys become cache folder names, so every key is one safe path component (`vipet.fsutil.safe_name`,
enforced by `StudyRef`) and unique: when two studies share a key, the first in a deterministic
order (folder studies by their path relative to the root, table rows by line) keeps it and the
others get `_2`, `_3`, ... (`assign_unique_keys`), listed as "duplicate_key" problems, with a note
on both studies. `load_study` gives the study its ref's key and notes, so the cache, the manifest
and the build report agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vipet.errors import ReadError
from vipet.fsutil import safe_name
from vipet.io.jsonbounds import loads_bounded
from vipet.io.plausibility import height_problem, weight_problem
from vipet.io.ref import DICOM, NIFTI, VIMED, StudyRef, assign_unique_keys, path_hash_key, study_key
from vipet.io.vimed_layout import METADATA_NAME, iter_metadata, parse_study_path, read_metadata, sibling_paths
from vipet.study import Study

DICOM_MAGIC_OFFSET = 128


def discover(root: str | Path, pet_unit: str | None = None,
             year: int | None = None) -> tuple[list[StudyRef], list[dict[str, Any]]]:
    """Refs of every study under `root` and the problems met; `ReadError` only when `root` is no dataset.

    `pet_unit` is the unit of NIfTI PET (NIfTI has none); without it a NIfTI ref carries the unit
    its `study.json` records, or none (`meta["pet_unit"]` absent: reading it is then refused).
    Every ViMed-PET packaging is recognised (`vipet.io.vimed_packaging`); `year` is the year of a
    Hugging Face part that has no `PETCT{year}` folder (else its metadata.csv must say).
    """
    from vipet.io.vimed_packaging import HF_PARTS, LAYOUT, REGION_CROPS, detect_packaging, discover_packaging

    _check_given_unit(pet_unit)
    root = Path(root)
    if not root.is_dir():
        raise ReadError("dataset root not found or not a folder", root)
    if (root / METADATA_NAME).is_file():
        return _discover_vimed(root)
    packaging = detect_packaging(root)
    if packaging is not None and packaging.kind in (LAYOUT, HF_PARTS):
        return discover_packaging(root, packaging, year)
    if packaging is not None and packaging.kind == REGION_CROPS:
        raise ReadError("official region crops (images/{region}/*.npy + data.json) are per-region PET crops, "
                        "not whole-body PET/CT studies: read them with vipet.io.vimed_packaging.read_region_crops "
                        "(`vipet info` and `vipet doctor` do)", root)
    refs: list[StudyRef] = []
    problems: list[dict[str, Any]] = []
    if is_study_folder(root):
        ref = _folder_ref(root, pet_unit)
        if ref is None:
            return [], [{"path": str(root), "reason": "no study found"}]
        return [ref], _note_problems([ref])
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        ref = _folder_ref(sub, pet_unit)
        if ref is None:
            problems.append({"path": str(sub), "reason": "folder holds neither DICOM files nor a ct/pet NIfTI pair"})
        else:
            refs.append(ref)
    if not refs:
        from vipet.io.vimed_packaging import unrecognised_message

        raise ReadError(unrecognised_message(root), root)
    problems.extend(_note_problems(refs))
    problems.extend(assign_unique_keys(refs, root))  # refs are in folder-name order: deterministic
    return refs, problems


def _note_problems(refs: list[StudyRef]) -> list[dict[str, Any]]:
    """The notes discovery put on folder refs (implausible height or weight) as problem records."""
    return [{"path": ref.source(), "key": ref.key, "kind": "implausible_metadata", "reason": note}
            for ref in refs for note in ref.meta.get("notes", ())]


def is_study_folder(folder: str | Path) -> bool:
    """True when `folder` is one study (a NIfTI pair, DICOM files, or series subfolders of one
    StudyInstanceUID) rather than a dataset root holding study folders."""
    from vipet.io.nifti import find_pair

    folder = Path(folder)
    if not folder.is_dir() or (folder / METADATA_NAME).is_file():
        return False
    return bool(find_pair(folder)) or _direct_dicom(folder) or _is_one_dicom_study(folder)


def load_study(ref: StudyRef) -> Study:
    """Read the study a ref points at (`ReadError` naming the file when it cannot).

    The study takes the ref's key (unique and safe after discovery, which may have suffixed it)
    and the ref's notes (a renamed key, a dropped height), so they reach the cache sidecar.
    """
    if ref.format == VIMED:
        from vipet.io.vimed import read_vimed_ref

        study = read_vimed_ref(ref)
    elif ref.format == DICOM:
        from vipet.io.dicom import read_dicom_study

        study = read_dicom_study(ref.paths["folder"])
    elif ref.format == NIFTI:
        from vipet.io.nifti import read_nifti_pair

        study = read_nifti_pair(ref.paths["ct"], ref.paths["pet"], ref.meta.get("pet_unit"))
    else:
        raise ReadError(f"unknown study format {ref.format!r}", ref.paths.get("ct") or ref.key)
    study.key = ref.key
    study.notes.extend(note for note in ref.meta.get("notes", ()) if note not in study.notes)
    return study


def read_study(path: str | Path, pet_unit: str | None = None) -> Study:
    """One study from a DICOM folder, a ViMed-PET CT (or PET) npz, or a NIfTI pair "ct.nii.gz,pet.nii.gz".

    `pet_unit` applies to NIfTI only (else its `study.json` must record it; never guessed); DICOM
    and ViMed-PET carry their own units.
    """
    _check_given_unit(pet_unit)
    text = str(path)
    if "," in text and not Path(text).exists():
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 2 or not all(parts):
            raise ReadError("a NIfTI pair is written 'ct.nii.gz,pet.nii.gz'", text)
        from vipet.io.nifti import read_nifti_pair

        return read_nifti_pair(parts[0], parts[1], pet_unit)
    path = Path(path)
    if not path.exists():
        raise ReadError("no such file or folder", path)
    if path.is_dir():
        if (path / METADATA_NAME).is_file():
            raise ReadError("this is a dataset root (it has metadata.csv), not one study", path)
        from vipet.io.nifti import find_pair, read_nifti_pair

        if pair := find_pair(path):
            return read_nifti_pair(pair[0], pair[1], pet_unit)
        from vipet.io.dicom import read_dicom_study

        return read_dicom_study(path)
    if path.name.endswith((".nii", ".nii.gz")):
        raise ReadError("a NIfTI study needs both files: pass 'ct.nii.gz,pet.nii.gz'", path)
    if path.suffix in (".npz", ".npy"):
        return load_study(vimed_ref_for(path))
    raise ReadError("not a study: expected a DICOM folder, a ViMed-PET .npz/.npy or 'ct.nii.gz,pet.nii.gz'", path)


def _check_given_unit(pet_unit: str | None) -> None:
    """A unit the caller gives is checked at once, whatever the format turns out to be."""
    if pet_unit is not None:
        from vipet.io.nifti import check_pet_unit

        check_pet_unit(pet_unit, "pet_unit")


def vimed_ref_for(npz: Path) -> StudyRef:
    """The ref of the ViMed-PET study an npz belongs to: its metadata row when the cohort table is
    found three folders up (`root/PETCT{year}/THANG {m}/CT/x.npz`), else the layout siblings."""
    npz = Path(npz)
    if npz.parent.name == "PET":
        npz = npz.parent.parent / "CT" / npz.name
    siblings = sibling_paths(npz)
    root = npz.parent.parent.parent.parent
    if (root / METADATA_NAME).is_file():
        target = os.path.normcase(os.path.abspath(npz))
        for item in iter_metadata(root):  # keys as discovery gives them (a duplicate suffixed)
            if isinstance(item, StudyRef) and os.path.normcase(os.path.abspath(item.paths["ct"])) == target:
                return item
    where = parse_study_path(npz) or {}
    paths = {role: str(p) for role, p in siblings.items() if role in ("ct", "pet") or p.is_file()}
    meta = {k: where[k] for k in ("id", "year", "month", "day") if k in where}
    key = study_key(where["year"], where["month"], where["day"], where["id"]) if where else path_hash_key("vimed", npz)
    return StudyRef(key=key, format=VIMED, paths=paths, meta=meta)


class _ExistsCache:
    """`os.path.isfile` by listing each folder once: 11,000 checks cost a few dozen directory reads."""

    def __init__(self) -> None:
        self._listing: dict[str, set[str]] = {}

    def __call__(self, path: str) -> bool:
        folder, name = os.path.split(path)
        if folder not in self._listing:
            try:
                self._listing[folder] = {e.name for e in os.scandir(folder) if e.is_file()}
            except OSError:
                self._listing[folder] = set()
        return name in self._listing[folder]


def _discover_vimed(root: Path) -> tuple[list[StudyRef], list[dict[str, Any]]]:
    refs: list[StudyRef] = []
    items, problems = read_metadata(root)
    exists = _ExistsCache()
    for item in items:
        if isinstance(item, ReadError):
            problems.append({"path": item.path, "reason": item.reason, "kind": getattr(item, "kind", "bad_row")})
            continue
        refs.append(item)
        for role, what, kind in (("ct", "CT volume", "missing_volume"), ("pet", "PET volume", "missing_volume"),
                                 ("report", "report", "missing_report"), ("report_en", "English report", "missing_report_en")):
            path = item.paths.get(role)
            if path is None:
                if role == "report":
                    problems.append({"path": item.paths["ct"], "key": item.key, "reason": "no report listed",
                                     "kind": kind})
                continue
            if not exists(path):
                problems.append({"path": path, "key": item.key, "reason": f"{what} missing", "kind": kind})
    return refs, problems


def _folder_ref(folder: Path, pet_unit: str | None = None) -> StudyRef | None:
    """A ref for a NIfTI pair folder or a DICOM study folder (one header read for key and patient)."""
    from vipet.io.nifti import find_pair

    if pair := find_pair(folder):
        import json

        meta: dict[str, Any] = {}
        key = path_hash_key("nifti", pair[0])
        sidecar = folder / "study.json"
        if sidecar.is_file():
            try:
                obj = loads_bounded(sidecar.read_text(encoding="utf-8"))
                key = safe_name(str(obj.get("key") or key))  # a sidecar key of "../../x" names no folder outside
                meta.update({k: v for k, v in (obj.get("patient") or {}).items() if v is not None})
                _drop_implausible(meta, sidecar)
                if obj.get("pet_unit") is not None:
                    meta["pet_unit"] = obj["pet_unit"]
                if obj.get("study_date"):
                    year, month, day = (int(part) for part in str(obj["study_date"]).split("-"))
                    meta.update(year=year, month=month, day=day)
            except (ValueError, AttributeError):
                pass
        if pet_unit is not None:
            meta["pet_unit"] = pet_unit
        return StudyRef(key=key, format=NIFTI, paths={"ct": str(pair[0]), "pet": str(pair[1]), "folder": str(folder)},
                        meta=meta)
    first = _first_dicom(folder)
    if first is None:
        return None
    meta, key = _dicom_meta(first, folder)
    return StudyRef(key=key, format=DICOM, paths={"folder": str(folder)}, meta=meta)


def _drop_implausible(meta: dict[str, Any], where: str | Path) -> None:
    """Height and weight that plausibility finds impossible become unknown, with a note naming `where`."""
    for field_name, problem_of in (("height_m", height_problem), ("weight_kg", weight_problem)):
        if (problem := problem_of(meta.get(field_name))) is not None:
            meta[field_name] = None
            notes = meta.setdefault("notes", [])
            notes.append(f"{where}: {problem}; dropped (treated as unknown)")


def _is_dicom_file(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(DICOM_MAGIC_OFFSET)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _first_dicom(folder: Path) -> Path | None:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            if _is_dicom_file(Path(dirpath) / name):
                return Path(dirpath) / name
    return None


def _direct_dicom(folder: Path) -> bool:
    return any(p.is_file() and _is_dicom_file(p) for p in sorted(folder.iterdir())[:64])


def _is_one_dicom_study(root: Path) -> bool:
    """True when the subfolders are series of one study (same StudyInstanceUID), not separate studies."""
    import pydicom

    uids = set()
    subs = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    for sub in subs:
        first = _first_dicom(sub)
        if first is None:
            continue
        try:
            uids.add(str(pydicom.dcmread(first, stop_before_pixels=True).get("StudyInstanceUID", "")))
        except Exception:
            return False
    return len(subs) >= 2 and len(uids) == 1 and "" not in uids


def _dicom_meta(path: Path, folder: Path) -> tuple[dict[str, Any], str]:
    import pydicom

    from vipet.io.suv import parse_da

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:
        return {}, path_hash_key("dicom", folder)
    meta: dict[str, Any] = {"id": str(ds.get("PatientID", "")).strip()}
    sex = str(ds.get("PatientSex", "")).strip().upper()
    meta["sex"] = sex if sex in ("M", "F") else None
    for field_name, keyword in (("height_m", "PatientSize"), ("weight_kg", "PatientWeight")):
        try:
            meta[field_name] = float(ds.get(keyword)) if ds.get(keyword) not in (None, "") else None
        except (TypeError, ValueError):
            meta[field_name] = None
    _drop_implausible(meta, path)
    date = parse_da(ds.get("StudyDate")) or parse_da(ds.get("SeriesDate"))
    if date is None or not meta["id"]:
        return meta, path_hash_key("dicom", folder)
    meta.update(year=date.year, month=date.month, day=date.day)
    return meta, study_key(date.year, date.month, date.day, meta["id"])
