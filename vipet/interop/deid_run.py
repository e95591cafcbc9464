"""`vipet deid IN OUT`: walk DICOM folders, a ViMed-PET root or NIfTI pair folders and write a
de-identified copy, one study at a time, resumable, with an audit log that holds no values.

Output layout (predictable, so a PACS push or `vipet build` can take OUT as it is):

- DICOM: `OUT/<new StudyInstanceUID>/<new SeriesInstanceUID>/<new SOPInstanceUID>.dcm`, plus the
  study's de-identified `report.json`/`report_en.json` sidecars when the input study had them.
  Files are grouped by their (original) StudyInstanceUID wherever they lie under IN.
- ViMed-PET: the same layout as the input (`PETCT{year}/THANG {m}/{CT,PET,reports,reports_en}/
  day_{d}_{pseudonym}.*` and `metadata.csv`), with dates moved by the patient's offset, the id
  replaced by its pseudonym, volumes copied byte for byte, report texts de-identified.
- NIfTI: `OUT/<new key>/` with the volumes (header text fields and extensions cleared, voxels
  untouched), `study.json` (pseudonym, shifted date; sex, height, weight kept) and report sidecars.

Every study is written through a temporary name and renamed, so a study folder that exists is
complete and a rerun skips it; one unreadable study is reported (`failures`) and the rest go on.
The audit log `OUT/.vipet_deid/audit_<UTC time>.json` lists options, counts of changed tags by
action, counts of text spans by kind and counts of studies; no value, path or secret.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import os
import shutil
import tempfile
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from vipet.fsutil import atomic_dir, atomic_write_bytes, atomic_write_json, inside, safe_name
from vipet.interop.deid_dicom import DicomDeidOptions, deidentify_file
from vipet.interop.deid_keys import DeidError, DeidKeys
from vipet.interop.deid_text import deidentify_text, merge_counts
from vipet.io.ref import study_key
from vipet.io.vimed_layout import METADATA_NAME, layout_paths, parse_study_path, write_metadata_csv
from vipet.progress import progress_bar

AUDIT_FOLDER = ".vipet_deid"
REPORT_SIDECARS = ("report.json", "report_en.json")
NIFTI_NAMES = ("ct.nii.gz", "ct.nii", "pet.nii.gz", "pet.nii")
_NIFTI_TEXT_FIELDS = ((4, 18), (148, 80), (228, 24), (328, 16))  # db_name, descrip, aux_file, intent_name


@dataclass
class DeidRun:
    """What one run did: counts for the caller and the audit, failures as (file, reason) for stderr."""

    out: Path
    kind: str
    done: int = 0
    skipped_existing: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    tags: Counter = field(default_factory=Counter)
    text_spans: dict[str, int] = field(default_factory=dict)
    files: Counter = field(default_factory=Counter)
    audit_path: Path | None = None


def deidentify_tree(source: str | Path, out: str | Path, keys: DeidKeys, options: DicomDeidOptions | None = None,
                    secret_origin: str = "environment", progress: bool = True) -> DeidRun:
    """De-identify everything under `source` into `out`; `DeidError` only when `source` holds nothing usable."""
    source, out = Path(source), Path(out)
    options = options or DicomDeidOptions()
    if not source.exists():
        raise DeidError("no such file or folder", source)
    if not source.is_dir():
        raise DeidError("expected a folder (DICOM files, a ViMed-PET root or NIfTI pair folders)", source)
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise DeidError("the output folder must lie outside the input folder", out)
    out.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    if (source / METADATA_NAME).is_file():
        run = DeidRun(out, "vimed")
        _vimed(source, out, keys, run, progress)
    else:
        run = DeidRun(out, "folders")
        nifti_folders = _nifti_folders(source)
        dicom_studies, unreadable = _dicom_studies(source, set(nifti_folders), run)
        run.failures.extend(unreadable)
        if not nifti_folders and not dicom_studies and not unreadable:
            raise DeidError("no DICOM files, NIfTI pair folders or metadata.csv found", source)
        jobs: list[tuple[str, Callable[[], bool]]] = []
        jobs += [(str(files[0]), _bind(_dicom_study, files, source, out, keys, options, run))
                 for files in dicom_studies.values()]
        jobs += [(str(folder), _bind(_nifti_study, folder, out, keys, run)) for folder in nifti_folders]
        _run_jobs(jobs, run, progress, "deid studies")
    run.audit_path = _write_audit(run, options, secret_origin, started)
    return run


def _bind(function: Callable[..., bool], *args: Any) -> Callable[[], bool]:
    return lambda: function(*args)


def _run_jobs(jobs: list[tuple[str, Callable[[], bool]]], run: DeidRun, progress: bool, label: str) -> None:
    """Each job returns True when written, False when already there; an expected error skips it."""
    with progress_bar(label, len(jobs), enabled=progress, stderr=True) as update:
        for where, job in jobs:
            try:
                if job():
                    run.done += 1
                else:
                    run.skipped_existing += 1
            except (DeidError, OSError, ValueError, KeyError) as exc:
                reason = exc.reason if isinstance(exc, DeidError) else f"{exc.__class__.__name__}: {exc}"
                run.failures.append((getattr(exc, "path", None) or where, reason))
            update(1)


# ---- DICOM -------------------------------------------------------------------------------------------

def _dicom_studies(source: Path, skip: set[Path], run: DeidRun) -> tuple[dict[str, list[Path]], list[tuple[str, str]]]:
    """DICOM files under `source` grouped by StudyInstanceUID (headers only), and the unreadable ones."""
    import pydicom
    from pydicom.misc import is_dicom

    studies: dict[str, list[Path]] = defaultdict(list)
    unreadable = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = path.relative_to(source)
        if any(part.startswith(".") for part in rel.parts) or any(folder in path.parents for folder in skip):
            continue
        if not is_dicom(path):
            if path.name not in REPORT_SIDECARS:
                run.files["non_dicom_skipped"] += 1
            continue
        try:
            with warnings.catch_warnings():  # a damaged header is reported below, once, not as pydicom noise
                warnings.simplefilter("ignore")
                uid = str(pydicom.dcmread(path, stop_before_pixels=True).get("StudyInstanceUID", "")).strip()
        except Exception as exc:  # pydicom raises many types for damaged files
            unreadable.append((str(path), f"damaged DICOM file ({exc.__class__.__name__}); skipped"))
            continue
        if not uid:
            unreadable.append((str(path), "DICOM file without StudyInstanceUID; skipped"))
            continue
        studies[uid].append(path)
    return dict(studies), unreadable


def _dicom_study(files: list[Path], source: Path, out: Path, keys: DeidKeys, options: DicomDeidOptions,
                 run: DeidRun) -> bool:
    import pydicom

    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    new_study = keys.uid(str(first.StudyInstanceUID))
    target = out / safe_name(new_study)
    if target.exists():
        return False
    tags: Counter = Counter()
    spans: dict[str, int] = {}
    with atomic_dir(target, root=out) as tmp:
        for path in files:
            ds = deidentify_file(path, keys, options, tags, spans)
            series = safe_name(str(ds.get("SeriesInstanceUID", "series")))
            name = safe_name(str(ds.get("SOPInstanceUID", f"{len(os.listdir(tmp))}")))
            (tmp / series).mkdir(exist_ok=True)
            ds.save_as(tmp / series / f"{name}.dcm", enforce_file_format=True)
        patient_id = str(first.get("PatientID", "") or "")
        for folder in sorted({p.parent for p in files}, key=lambda p: len(p.parts)):
            for candidate in (folder, folder.parent):
                if candidate != source and source not in candidate.parents:
                    continue
                _copy_reports(candidate, tmp, keys.day_offset(patient_id), [str(first.get("PatientName", ""))],
                              [patient_id], spans)
    run.tags.update(tags)
    merge_counts(run.text_spans, spans)
    run.files["dicom"] += len(files)
    return True


def _copy_reports(folder: Path, target: Path, offset: int, names: list[str], ids: list[str],
                  spans: dict[str, int]) -> None:
    """`report.json`/`report_en.json` beside the input study, de-identified, beside the output study."""
    for name in REPORT_SIDECARS:
        path = folder / name
        if path.is_file() and not (target / name).exists():
            try:
                obj = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise DeidError(f"unreadable report sidecar ({exc.__class__.__name__})", path) from None
            atomic_write_json(target / name, deidentify_json(obj, offset, names, ids, spans))


def deidentify_json(obj: Any, offset: int | None, names: list[str], ids: list[str], spans: dict[str, int]) -> Any:
    """Every string in a JSON value de-identified (keys are kept: they are section titles)."""
    if isinstance(obj, str):
        result = deidentify_text(obj, day_offset=offset, known_names=names, known_ids=ids)
        merge_counts(spans, result.counts)
        return result.text
    if isinstance(obj, list):
        return [deidentify_json(v, offset, names, ids, spans) for v in obj]
    if isinstance(obj, dict):
        return {k: deidentify_json(v, offset, names, ids, spans) for k, v in obj.items()}
    return obj


# ---- NIfTI -------------------------------------------------------------------------------------------

def _nifti_folders(source: Path) -> list[Path]:
    from vipet.io.nifti import find_pair

    candidates = [source] + sorted(p for p in source.rglob("*") if p.is_dir() and not any(
        part.startswith(".") for part in p.relative_to(source).parts))
    return [folder for folder in candidates if find_pair(folder)]


def _nifti_study(folder: Path, out: Path, keys: DeidKeys, run: DeidRun) -> bool:
    sidecar_path = folder / "study.json"
    sidecar: dict[str, Any] = {}
    if sidecar_path.is_file():
        try:
            sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DeidError(f"unreadable sidecar ({exc.__class__.__name__})", sidecar_path) from None
    patient = dict(sidecar.get("patient") or {})
    original_id = str(patient.get("id") or sidecar.get("key") or folder.name)
    pseudonym, offset = keys.patient_pseudonym(original_id), keys.day_offset(original_id)
    date = _iso_date(sidecar.get("study_date"))
    new_date = date + dt.timedelta(days=offset) if date else None
    key = study_key(new_date.year, new_date.month, new_date.day, pseudonym) if new_date else pseudonym
    target = out / safe_name(key)
    if target.exists():
        return False
    spans: dict[str, int] = {}
    names = [str(patient["name"])] if patient.get("name") else []
    with atomic_dir(target, root=out) as tmp:
        for name in NIFTI_NAMES:
            if (folder / name).is_file():
                atomic_write_bytes(tmp / name, clean_nifti_header(folder / name))
                run.files["volumes"] += 1
        new_sidecar = deidentify_json(sidecar, offset, names, [original_id], spans)
        new_patient = {k: v for k, v in patient.items() if k in ("sex", "height_m", "weight_kg", "age")}
        new_sidecar.update(key=key, patient={**new_patient, "id": pseudonym},
                           study_date=new_date.isoformat() if new_date else None)
        atomic_write_json(tmp / "study.json", new_sidecar)
        _copy_reports(folder, tmp, offset, names, [original_id], spans)
    merge_counts(run.text_spans, spans)
    return True


def clean_nifti_header(path: Path) -> bytes:
    """The NIfTI-1 file with its free-text header fields zeroed and extensions dropped; voxels unchanged.

    Converters write acquisition dates, names or whole DICOM headers into `descrip`, `aux_file` and
    header extensions; the voxel bytes, affine and scaling are kept exactly.
    """
    raw = path.read_bytes()
    payload = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    if len(payload) < 352:
        raise DeidError("NIfTI file too short", path)
    little = int.from_bytes(payload[:4], "little") == 348
    if not little and int.from_bytes(payload[:4], "big") != 348:
        raise DeidError("not a NIfTI-1 file (NIfTI-2 and others are not supported)", path)
    import struct

    order = "<" if little else ">"
    vox_offset = int(struct.unpack(order + "f", payload[108:112])[0])
    header = bytearray(payload[:348])
    for start, length in _NIFTI_TEXT_FIELDS:
        header[start:start + length] = bytes(length)
    if vox_offset > 352:  # drop extensions: the data start moves to 352
        header[108:112] = struct.pack(order + "f", 352.0)
    data = payload[max(352, vox_offset):]
    cleaned = bytes(header) + bytes(4) + data
    return gzip.compress(cleaned, compresslevel=6, mtime=0) if raw[:2] == b"\x1f\x8b" else cleaned


def _iso_date(text: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


# ---- ViMed-PET ---------------------------------------------------------------------------------------

def _vimed(source: Path, out: Path, keys: DeidKeys, run: DeidRun, progress: bool) -> None:
    with open(source / METADATA_NAME, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    new_rows: list[dict[str, Any] | None] = [None] * len(rows)
    jobs = [(f"{source / METADATA_NAME}:{line + 2}", _bind(_vimed_row, row, line, source, out, keys, run, new_rows))
            for line, row in enumerate(rows)]
    _run_jobs(jobs, run, progress, "deid studies")
    write_metadata_csv([row for row in new_rows if row is not None], out)


def _vimed_row(row: dict[str, str], line: int, source: Path, out: Path, keys: DeidKeys, run: DeidRun,
               new_rows: list[dict[str, Any] | None]) -> bool:
    where = parse_study_path(row.get("ct_path") or "") or parse_study_path(row.get("pet_path") or "")
    if where is None:
        raise DeidError(f"row {line + 2}: ct_path is not a ViMed-PET layout path", source / METADATA_NAME)
    original_id = row.get("name") or where["id"]
    pseudonym, offset = keys.patient_pseudonym(original_id), keys.day_offset(original_id)
    shifted = dt.date(where["year"], where["month"], where["day"]) + dt.timedelta(days=offset)
    paths = layout_paths(shifted.year, shifted.month, shifted.day, pseudonym)
    new_row = {**row, "name": pseudonym, "year": str(shifted.year)}
    for column, role in (("ct_path", "ct"), ("pet_path", "pet"), ("report_path", "report"), ("report_en_path", "report_en")):
        new_row[column] = paths[role] if row.get(column) else ""
    targets = [inside(out, new_row[c]) for c in ("ct_path", "pet_path", "report_en_path", "report_path") if new_row[c]]
    new_rows[line] = new_row
    if targets and all(t.exists() for t in targets):
        return False
    spans: dict[str, int] = {}
    for column in ("ct_path", "pet_path"):
        if row.get(column):
            _atomic_copy(inside(source, row[column], "volume path"), inside(out, new_row[column]))
            run.files["volumes"] += 1
    for column in ("report_en_path", "report_path"):  # the Vietnamese report last: it marks the row done
        if row.get(column):
            src = inside(source, row[column], "report path")
            try:
                obj = json.loads(src.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, FileNotFoundError) as exc:
                raise DeidError(f"unreadable report ({exc.__class__.__name__})", src) from None
            atomic_write_json(inside(out, new_row[column]), deidentify_json(obj, offset, [], [original_id], spans))
            run.files["reports"] += 1
    merge_counts(run.text_spans, spans)
    return True


def _atomic_copy(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise DeidError("volume file not found", src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- audit -------------------------------------------------------------------------------------------

def _write_audit(run: DeidRun, options: DicomDeidOptions, secret_origin: str, started: dt.datetime) -> Path:
    """The per-run audit: what kinds of things changed and how often; never a value, a path or the secret."""
    stamp = started.strftime("%Y%m%dT%H%M%S%fZ")
    audit = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "input_kind": run.kind,
        "options": options.describe(),
        "secret": f"keyed HMAC-SHA256 ({secret_origin}); the secret itself is not recorded",
        "studies": {"written": run.done, "already_present": run.skipped_existing, "failed": len(run.failures)},
        "failure_reasons": dict(Counter(_reason_kind(reason) for _, reason in run.failures)),
        "files": dict(sorted(run.files.items())),
        "dicom_tags_changed": dict(sorted(run.tags.items())),
        "text_spans_replaced": dict(sorted(run.text_spans.items())),
    }
    return atomic_write_json(run.out / AUDIT_FOLDER / f"audit_{stamp}.json", audit, root=run.out)


def _reason_kind(reason: str) -> str:
    """The reason without anything that could be a value (it is cut at the first parenthesis or colon)."""
    return reason.split("(")[0].split(":")[0].strip()[:80]
