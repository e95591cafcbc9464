"""Which ViMed-PET packaging a folder holds, and discovery for the packagings without a table.

The cohort reaches users in several packagings, and each must be read for what it is, never guessed:

| kind | what the folder holds | year from |
|---|---|---|
| `table` | `metadata.csv` + `PETCT{year}/THANG {m}/{CT,PET,reports,reports_en}/day_{d}_{id}.{npz,npy}` | the table |
| `layout` | the same folders without `metadata.csv` | the `PETCT{year}` folder |
| `hf_parts` | `THANG {m}/{CT,PET,reports,reports_en}/day_{d}_{id}.{npy,npz,json}` (Hugging Face parts, no year folder) | `--year`, else a `metadata.csv` here or one folder up |
| `region_crops` | `images/{head_neck,chest,abdomen_pelvis}/*.npy` + a LLaVA `data.json` of region reports | none (per-region PET crops) |

`.npz` volumes hold key `data`; `.npy` volumes are the bare array (`vipet.io.npz.load_volume`).
English reports (`reports_en/`) sit beside `reports/` in the first three. A folder that is none of
these gets a one-line `ReadError` saying what was found and what was expected
(`unrecognised_message`). Studies of `layout` and `hf_parts` become ordinary ViMed-PET `StudyRef`s
(format "vimed"), so `load_study`, `info` and `build` read them like the table's rows; the region
crops are not whole-body studies and have their own reader (`read_region_crops`).
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vipet.errors import ReadError, UnsafePathError
from vipet.fsutil import inside
from vipet.io.ref import VIMED, StudyRef, assign_unique_keys, study_key
from vipet.io.vimed_layout import METADATA_NAME, parse_study_path, read_metadata

TABLE, LAYOUT, HF_PARTS, REGION_CROPS = "table", "layout", "hf_parts", "region_crops"
PACKAGINGS = (TABLE, LAYOUT, HF_PARTS, REGION_CROPS)
CROP_REGIONS = ("head_neck", "chest", "abdomen_pelvis")
LLAVA_NAME = "data.json"
IMAGES_DIR = "images"
_YEAR_DIR = re.compile(r"^PETCT(\d{4})$")
_MONTH_DIR = re.compile(r"^THANG (\d{1,2})$")
_STEM = re.compile(r"^day_(\d{1,2})_(.+)$")
_VOLUME_SUFFIXES = (".npz", ".npy")
EXPECTED = ("expected metadata.csv, PETCT{year}/THANG {m}/{CT,PET,reports}/ folders, THANG {m}/{CT,PET,reports}/ "
            "folders (Hugging Face parts), or images/{head_neck,chest,abdomen_pelvis}/*.npy with data.json (region crops)")


@dataclass(frozen=True)
class Packaging:
    """What `detect_packaging` recognised: the kind and the volume file suffixes seen."""

    kind: str
    volume_suffixes: tuple[str, ...] = ()


def _dirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _suffixes(month_dirs: list[Path]) -> tuple[str, ...]:
    """Volume suffixes (`.npz`, `.npy`) present in the CT and PET folders of the months given."""
    seen: set[str] = set()
    for month in month_dirs:
        for role in ("CT", "PET"):
            try:
                names = os.listdir(month / role)
            except OSError:
                continue
            seen.update(suffix for name in names if (suffix := Path(name).suffix) in _VOLUME_SUFFIXES)
    return tuple(sorted(seen))


def detect_packaging(root: str | Path) -> Packaging | None:
    """The ViMed-PET packaging of `root`, or None when it is none of them (a DICOM or NIfTI root)."""
    root = Path(root)
    if (root / METADATA_NAME).is_file():
        return Packaging(TABLE)
    subdirs = _dirs(root)
    years = [d for d in subdirs if _YEAR_DIR.match(d.name)]
    if years:
        months = [m for y in years for m in _dirs(y) if _MONTH_DIR.match(m.name)]
        return Packaging(LAYOUT, _suffixes(months))
    months = [d for d in subdirs if _MONTH_DIR.match(d.name)]
    if months:
        return Packaging(HF_PARTS, _suffixes(months))
    images = root / IMAGES_DIR
    if images.is_dir() and (root / LLAVA_NAME).is_file() and any((images / r).is_dir() for r in CROP_REGIONS):
        return Packaging(REGION_CROPS, (".npy",))
    return None


def unrecognised_message(root: str | Path) -> str:
    """One line: what the folder holds (its first entries) and which packagings were expected."""
    root = Path(root)
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        names = [f"(unreadable: {exc.strerror or exc})"]
    shown = ", ".join(names[:8]) + (f", ... ({len(names)} entries)" if len(names) > 8 else "")
    found = f"found {shown}" if names else "found an empty folder"
    return f"no studies found (no ViMed-PET packaging, DICOM study or NIfTI pair recognised): {found}; {EXPECTED}"


def discover_packaging(root: str | Path, packaging: Packaging, year: int | None = None
                       ) -> tuple[list[StudyRef], list[dict[str, Any]]]:
    """Refs and problems of a `layout` or `hf_parts` root (the table has `vimed_layout.read_metadata`).

    A CT without its PET (or the reverse) and a file whose name is not `day_{d}_{id}` are problems,
    never guesses. In `hf_parts` the year comes from `year`, else from a `metadata.csv` in the root
    or one folder up (matched on month, day and id; a study the table lists under two years, or not
    at all, is a problem naming `--year`); with neither the whole root is refused in one line.
    """
    root = Path(root)
    if packaging.kind not in (LAYOUT, HF_PARTS):
        raise ReadError(f"packaging {packaging.kind!r} holds no whole-body studies to discover", root)
    if year is not None and not 1900 <= int(year) <= 2100:
        raise ReadError(f"--year must be a four-digit year, got {year}", root)
    problems: list[dict[str, Any]] = []
    if packaging.kind == LAYOUT:
        months = [(int(_YEAR_DIR.match(y.name)[1]), m) for y in _dirs(root) if _YEAR_DIR.match(y.name)
                  for m in _dirs(y) if _MONTH_DIR.match(m.name)]
        table_rows: dict[tuple[int, int, str], list[dict[str, Any]]] = {}
    else:
        table_rows = _table_rows(root)
        if year is None and not table_rows:
            raise ReadError("Hugging Face part without a year folder (THANG {m}/ at the top) and no metadata.csv "
                            "here or one folder up to take the year from: pass --year", root)
        months = [(year, m) for m in _dirs(root) if _MONTH_DIR.match(m.name)]
    refs: list[StudyRef] = []
    for month_year, month_dir in months:
        month = int(_MONTH_DIR.match(month_dir.name)[1])
        refs.extend(_month_refs(root, month_dir, month_year, month, table_rows, problems))
    if not refs and not problems:
        raise ReadError(f"{packaging.kind} packaging but no CT volumes (day_{{d}}_{{id}}.npz/.npy) found", root)
    problems.extend(assign_unique_keys(refs, root))
    return refs, problems


def _table_rows(root: Path) -> dict[tuple[int, int, str], list[dict[str, Any]]]:
    """(month, day, id) -> the metadata rows (as ref meta) of a table in `root` or its parent."""
    for folder in (root, root.parent):
        if (folder / METADATA_NAME).is_file():
            rows: dict[tuple[int, int, str], list[dict[str, Any]]] = defaultdict(list)
            items, _ = read_metadata(folder)
            for item in items:
                if isinstance(item, StudyRef):
                    meta = item.meta
                    rows[(int(meta["month"]), int(meta["day"]), str(meta["id"]))].append(meta)
            return dict(rows)
    return {}


def _month_refs(root: Path, month_dir: Path, year: int | None, month: int,
                table_rows: dict[tuple[int, int, str], list[dict[str, Any]]],
                problems: list[dict[str, Any]]) -> list[StudyRef]:
    by_role: dict[str, dict[str, Path]] = {}
    for role, folder in (("ct", "CT"), ("pet", "PET"), ("report", "reports"), ("report_en", "reports_en")):
        wanted = (".json",) if role.startswith("report") else _VOLUME_SUFFIXES
        files = sorted((month_dir / folder).glob("*")) if (month_dir / folder).is_dir() else []
        by_role[role] = {p.stem: p for p in files if p.suffix in wanted and not p.name.startswith(".")}
    refs = []
    for stem in sorted(set(by_role["ct"]) | set(by_role["pet"])):
        where = _STEM.match(stem)
        path = by_role["ct"].get(stem) or by_role["pet"][stem]
        if where is None or not 1 <= int(where[1]) <= 31 or not 1 <= month <= 12:
            problems.append({"path": str(path), "kind": "bad_row",
                             "reason": "file name is not day_{d}_{id} in a THANG {m} folder; skipped"})
            continue
        missing = [role.upper() for role in ("ct", "pet") if stem not in by_role[role]]
        if missing:
            problems.append({"path": str(path), "kind": "missing_volume",
                             "reason": f"{missing[0]} volume missing beside it; study skipped"})
            continue
        day, patient_id = int(where[1]), where[2]
        meta: dict[str, Any] = {"id": patient_id, "month": month, "day": day}
        study_year = year
        if study_year is None:
            rows = table_rows.get((month, day, patient_id), [])
            years = sorted({int(r["year"]) for r in rows})
            if len(years) != 1:
                why = "is not in metadata.csv" if not years else f"is listed under years {years} in metadata.csv"
                problems.append({"path": str(path), "kind": "bad_row",
                                 "reason": f"year unknown: the study {why}; pass --year"})
                continue
            study_year = years[0]
            # What the table knows of this study (patient, and for synthetic cohorts SUV and spacing).
            meta.update({k: rows[0][k] for k in ("sex", "height_m", "weight_kg", "suv_per_unit", "ct_spacing",
                                                 "pet_spacing", "head_first") if rows[0].get(k) is not None})
        meta["year"] = study_year
        paths = {role: str(by_role[role][stem]) for role in ("ct", "pet", "report", "report_en") if stem in by_role[role]}
        if "report" not in paths:
            problems.append({"path": paths["ct"], "kind": "missing_report", "reason": "no report beside it"})
        refs.append(StudyRef(key=study_key(study_year, month, day, patient_id), format=VIMED, paths=paths, meta=meta))
    return refs


@dataclass
class RegionCrop:
    """One official region crop: a per-region PET array and the region report the LLaVA file pairs with it."""

    id: str
    region: str
    image: str  # path relative to the root, as data.json names it after resolution
    path: str
    report: str
    question: str = ""
    record: dict[str, Any] = field(default_factory=dict)


def read_region_crops(root: str | Path) -> tuple[list[RegionCrop], list[dict[str, Any]]]:
    """The crops `data.json` lists (LLaVA: `{"id", "image", "conversations": [human, gpt]}`), and problems.

    An image path is read relative to the root, else to `images/`; it must stay inside the root. The
    region is the image's folder (`head_neck`, `chest`, `abdomen_pelvis`); the report is the last
    `gpt` turn. A record that names a missing image or no region is a problem, never a guess; an
    `.npy` under `images/` that no record names is listed too (an image without its report).
    """
    root = Path(root)
    path = root / LLAVA_NAME
    try:
        records = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReadError(f"region-crop report file unreadable ({exc.__class__.__name__}: {exc})", path) from None
    if not isinstance(records, list):
        raise ReadError("LLaVA data.json must be a JSON list of {id, image, conversations}", path)
    crops, problems, named = [], [], set()
    for number, record in enumerate(records):
        where = f"{LLAVA_NAME} record {number}"
        if not isinstance(record, dict) or not isinstance(record.get("image"), str):
            problems.append({"path": str(path), "kind": "bad_row", "reason": f"{where}: no image path"})
            continue
        image = _resolve_image(root, record["image"])
        if image is None:
            problems.append({"path": str(path), "kind": "missing_volume",
                             "reason": f"{where}: image {record['image']!r} not found inside the root"})
            continue
        region = image.parent.name
        if region not in CROP_REGIONS:
            problems.append({"path": str(image), "kind": "bad_row",
                             "reason": f"{where}: image folder {region!r} is not one of {CROP_REGIONS}"})
            continue
        turns = record.get("conversations") if isinstance(record.get("conversations"), list) else []
        answers = [t.get("value") for t in turns if isinstance(t, dict) and t.get("from") == "gpt"]
        questions = [t.get("value") for t in turns if isinstance(t, dict) and t.get("from") == "human"]
        if not answers or not isinstance(answers[-1], str):
            problems.append({"path": str(path), "kind": "missing_report", "reason": f"{where}: no gpt turn (report)"})
            continue
        named.add(os.path.normpath(image))
        crops.append(RegionCrop(id=str(record.get("id", image.stem)), region=region,
                                image=image.relative_to(root.resolve()).as_posix(), path=str(image),
                                report=answers[-1], question=str(questions[0]) if questions else "", record=record))
    for region in CROP_REGIONS:
        for npy in sorted((root / IMAGES_DIR / region).glob("*.npy")):
            if os.path.normpath(npy.resolve()) not in named:
                problems.append({"path": str(npy), "kind": "missing_report",
                                 "reason": f"region crop not named by {LLAVA_NAME} (no report)"})
    return crops, problems


def _resolve_image(root: Path, name: str) -> Path | None:
    for base in (root, root / IMAGES_DIR):
        try:
            candidate = inside(root, base / name, "image path")
        except UnsafePathError:
            return None
        if candidate.is_file():
            return candidate
    return None
