"""`manifest.parquet`: one row per (study, region) sample and one per study ("whole").

The manifest is rebuilt from the cache sidecars at the end of every build, so it always lists
exactly the studies that are complete on disk, and splits are recomputed over all of them (a
split depends on the whole cohort: leakage fixes move persons). Paths are relative to the build
folder so the folder can be moved or mounted elsewhere.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from vipet.data.cache import CACHE_DIR
from vipet.schema import SAMPLE_REGIONS, WHOLE
from vipet.data.splits import SplitResult, SplitStudy
from vipet.errors import BuildError
from vipet.fsutil import atomic_write_bytes

MANIFEST_FILE = "manifest.parquet"

SCHEMA = pa.schema([
    ("sample_id", pa.string()),
    ("study_key", pa.string()),
    ("region", pa.string()),
    ("split", pa.string()),
    ("fold", pa.int32()),
    ("image_path", pa.string()),
    ("image_shape", pa.list_(pa.int32())),
    ("ct_path", pa.string()),
    ("pet_path", pa.string()),
    ("z_start", pa.int32()),
    ("z_stop", pa.int32()),
    ("report_text", pa.string()),
    ("impression", pa.string()),
    ("lesions_json", pa.string()),
    ("n_lesions", pa.int32()),
    ("patient_id", pa.string()),
    ("person_id", pa.string()),
    ("sex", pa.string()),
    ("height_m", pa.float64()),
    ("weight_kg", pa.float64()),
    ("year", pa.int32()),
    ("month", pa.int32()),
    ("day", pa.int32()),
    ("pet_unit", pa.string()),
    ("head_first_as_stored", pa.bool_()),
    ("orientation_source", pa.string()),
    ("region_method", pa.string()),
    ("source", pa.string()),
])


def split_study(meta: dict[str, Any]) -> SplitStudy:
    """The split view of one cached study (date from the source metadata, else the study date)."""
    source = meta.get("source_meta") or {}
    patient = meta.get("patient") or {}
    year, month, day = source.get("year"), source.get("month"), source.get("day")
    if (year is None or month is None) and meta.get("study_date"):
        y, m, d = (int(p) for p in meta["study_date"].split("-"))
        year, month, day = year or y, month or m, day or d
    return SplitStudy(
        key=meta["key"],
        patient_id=str(patient.get("id") or source.get("id") or ""),
        sex=patient.get("sex") or source.get("sex"),
        height_m=_float(patient.get("height_m") or source.get("height_m")),
        weight_kg=_float(patient.get("weight_kg") or source.get("weight_kg")),
        year=_int(year), month=_int(month), day=_int(day),
    )


def manifest_rows(metas: Iterable[dict[str, Any]], splits: SplitResult) -> list[dict[str, Any]]:
    """Rows for every sample of every cached study, with split, fold and person filled in;
    `BuildError` naming both sources when two studies share a key (sample ids must be unique).

    Per-study notes are not columns (the schema is fixed): they are in build_report.json and meta.json.
    """
    rows = []
    sources: dict[str, str] = {}
    for meta in metas:
        key = meta["key"]
        source = str(meta.get("source", ""))
        if key in sources:
            raise BuildError(f"two cached studies share the key {key!r} ({sources[key]} and {source}): "
                             "their sample ids would collide; refused")
        sources[key] = source
        info = split_study(meta)
        folder = f"{CACHE_DIR}/{key}"
        for sample in meta["samples"]:
            region = sample["region"]
            z0, z1 = sample["z_range"]
            rows.append({
                "sample_id": f"{key}:{region}",
                "study_key": key,
                "region": region,
                "split": splits.assignment.get(key, "train"),
                "fold": splits.fold.get(key),
                "image_path": f"{folder}/{sample['image']}",
                "image_shape": meta["arrays"][region]["shape"],
                "ct_path": f"{folder}/{meta['arrays']['ct']['file']}",
                "pet_path": f"{folder}/{meta['arrays']['pet']['file']}",
                "z_start": int(z0),
                "z_stop": int(z1),
                "report_text": sample["report_text"],
                "impression": meta.get("impression", ""),
                "lesions_json": json.dumps(sample["lesions"], ensure_ascii=False, sort_keys=True),
                "n_lesions": len(sample["lesions"]),
                "patient_id": info.patient_id,
                "person_id": splits.person.get(key, info.patient_id),
                "sex": info.sex,
                "height_m": info.height_m,
                "weight_kg": info.weight_kg,
                "year": info.year,
                "month": info.month,
                "day": info.day,
                "pet_unit": meta["units"]["pet"],
                "head_first_as_stored": bool(meta["orientation"]["head_first_as_stored"]),
                "orientation_source": meta["orientation"]["source"],
                "region_method": meta["regions"]["method"] if region != WHOLE else "whole",
                "source": meta.get("source", ""),
            })
    rows.sort(key=lambda r: (r["study_key"], _REGION_ORDER.get(r["region"], 9)))
    return rows


_REGION_ORDER = {region: order for order, region in enumerate(SAMPLE_REGIONS)}


def write_manifest(rows: list[dict[str, Any]], out: str | Path) -> Path:
    """Write rows as `out/manifest.parquet` (atomically; the schema is fixed even when empty)."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    out = Path(out).resolve()
    return atomic_write_bytes(out / MANIFEST_FILE, buffer.getvalue(), root=out)


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Manifest rows as dicts; `path` is the parquet file or the build folder holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    try:
        return pq.read_table(path).to_pylist()
    except FileNotFoundError:
        raise BuildError("manifest not found (run `vipet build` first)", path) from None
    except (OSError, pa.ArrowInvalid) as exc:
        raise BuildError(f"unreadable manifest ({exc.__class__.__name__}: {exc})", path) from None


def _float(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None
