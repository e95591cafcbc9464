"""The files a hospital ingests for each generated report: structured JSON, DICOM SR and FHIR.

`write_report_outputs` writes the chosen formats of one prediction into one folder (each file
atomically), for `vipet generate --hospital-formats` and the workstation alike. All three derive
from one structured document (`report_json.report_document`, validated against the published
schema first), so they cannot disagree. `write_prediction_outputs` does it for a whole predictions
file: one folder per study next to the predictions (`<predictions stem>.hospital/<study key>/`),
replaced as a whole, with the source UIDs and instance headers taken from the build's `meta.json`.
A study whose outputs fail (an SR for a study not read from DICOM, a report with no text) is
reported with the reason and skipped; the others are written.
"""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from vipet.errors import InteropError, VipetError
from vipet.fsutil import atomic_dir, atomic_write_bytes, atomic_write_json, safe_name
from vipet.interop.report_json import report_document, validate_document
from vipet.interop.source import SourceStudy, from_build_meta
from vipet.schema import IMAGE_REGIONS, WHOLE

FORMATS: tuple[str, ...] = ("json", "sr", "fhir")
FILE_NAMES = {"json": "report.json", "sr": "report_sr.dcm", "fhir": "report_fhir.json"}
# The libraries each format needs (all in the `interop` extra).
NEEDS = {"json": ("jsonschema",), "sr": ("jsonschema", "highdicom"), "fhir": ("jsonschema", "fhir")}
EXTRA = "pip install 'vipet[interop]'"
SUMMARY_FILE = "hospital_outputs.json"


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """A comma-separated list or a sequence of format names, checked, in FORMATS order, no repeats."""
    names = [f.strip() for f in (formats.split(",") if isinstance(formats, str) else formats) if f.strip()]
    unknown = sorted(set(names) - set(FORMATS))
    if unknown or not names:
        raise InteropError(f"unknown hospital output format(s) {unknown or names}; choose from {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in names)


def require_libraries(formats: Sequence[str]) -> None:
    """`InteropError` naming the extra when a library a format needs is not installed."""
    missing = sorted({m for f in formats for m in NEEDS[f] if importlib.util.find_spec(m) is None})
    if missing:
        raise InteropError(f"hospital outputs {', '.join(formats)} need {', '.join(missing)}: {EXTRA}")


def render_outputs(prediction: dict[str, Any], formats: Sequence[str], source: SourceStudy | None) -> dict[str, bytes]:
    """The bytes of each format for one prediction (nothing written)."""
    document = report_document(prediction, source)
    validate_document(document)
    payloads: dict[str, bytes] = {}
    if "json" in formats:
        payloads["json"] = (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")
    if "sr" in formats:
        from vipet.interop.sr import build_sr

        buffer = io.BytesIO()
        build_sr(document, source or SourceStudy()).save_as(buffer, enforce_file_format=True)
        payloads["sr"] = buffer.getvalue()
    if "fhir" in formats:
        from vipet.interop.fhir import build_bundle, bundle_json

        payloads["fhir"] = bundle_json(build_bundle(document, source)).encode("utf-8")
    return payloads


def write_report_outputs(prediction: dict[str, Any], out_dir: str | Path, *, formats: str | Iterable[str] = FORMATS,
                         source: SourceStudy | None = None) -> dict[str, Path]:
    """Write the chosen formats of one prediction into `out_dir` (each file atomically); returns format -> path.

    `source` gives the DICOM study the report describes (UIDs, and the instance headers an SR needs);
    without it the JSON and FHIR outputs say the study UID is unknown and an SR is refused.
    """
    chosen = parse_formats(formats)
    require_libraries(chosen)
    payloads = render_outputs(prediction, chosen, source)  # everything rendered before the first write
    out_dir = Path(out_dir)
    return {fmt: atomic_write_bytes(out_dir / FILE_NAMES[fmt], payload, root=out_dir)
            for fmt, payload in payloads.items()}


def study_predictions(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One report prediction per study, in first-seen order: the whole-body record when there is one,
    else the region records joined head to feet (their texts are the report's region sections)."""
    by_study: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        if (record.get("task") or "report") != "report":
            continue
        sample_id = str(record.get("id", ""))
        key = str(record.get("study") or sample_id.split(":", 1)[0])
        region = sample_id.split(":")[1] if sample_id.count(":") >= 1 else WHOLE
        by_study.setdefault(key, {})[region] = record
    merged = []
    for key, regions in by_study.items():
        if WHOLE in regions:
            merged.append(dict(regions[WHOLE], study=key))
            continue
        parts = [regions[r] for r in IMAGE_REGIONS if r in regions]
        parts += [record for region, record in regions.items() if region not in IMAGE_REGIONS]
        text = " ".join(str(p.get("prediction") or "").strip() for p in parts if str(p.get("prediction") or "").strip())
        merged.append({"id": f"{key}:{'+'.join(r for r in regions)}", "task": "report", "study": key,
                       "model": parts[0].get("model", ""), "prediction": text})
    return merged


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """The records of a predictions JSONL file; `InteropError` naming the line of a bad one."""
    path = Path(path)
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InteropError(f"cannot read predictions ({exc.__class__.__name__})", path) from None
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise InteropError(f"line {number} is not JSON", path) from None
    return records


def outputs_folder(predictions: str | Path) -> Path:
    """Where `write_prediction_outputs` puts the outputs of a predictions file: beside it."""
    predictions = Path(predictions)
    return predictions.with_name(f"{predictions.stem}.hospital")


def write_prediction_outputs(predictions: str | Path, build: str | Path, formats: str | Iterable[str] = FORMATS,
                             out: str | Path | None = None) -> dict[str, Any]:
    """Outputs for every study of a predictions file (see the module docstring); returns the summary,
    also written to `<out>/hospital_outputs.json`: per study the files written and, per format, why one failed."""
    from vipet.data.cache import read_meta, study_dir

    chosen = parse_formats(formats)
    require_libraries(chosen)
    out_root = Path(out) if out is not None else outputs_folder(predictions)
    summary: dict[str, Any] = {"formats": list(chosen), "written": {}, "failed": {}}
    for prediction in study_predictions(read_predictions(predictions)):
        key = prediction["study"]
        try:
            source = from_build_meta(read_meta(study_dir(build, key)))
        except VipetError as exc:
            summary["failed"][key] = {fmt: f"no build metadata for the study ({exc})" for fmt in chosen}
            continue
        payloads: dict[str, bytes] = {}
        for fmt in chosen:  # a format that fails (an SR without DICOM sources) does not stop the others
            try:
                payloads.update(render_outputs(prediction, (fmt,), source))
            except VipetError as exc:
                summary["failed"].setdefault(key, {})[fmt] = str(exc)
        if not payloads:
            continue
        with atomic_dir(out_root / safe_name(key), root=out_root) as tmp:  # the study's set appears at once
            for fmt, payload in payloads.items():
                atomic_write_bytes(tmp / FILE_NAMES[fmt], payload, root=tmp)
        summary["written"][key] = {fmt: str(out_root / safe_name(key) / FILE_NAMES[fmt]) for fmt in payloads}
    atomic_write_json(out_root / SUMMARY_FILE, summary, root=out_root)
    summary["folder"] = str(out_root)
    return summary
