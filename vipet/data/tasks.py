"""The text side of each sample: report prompts per region and question/answer pairs.

Shared by the torch datasets and the exports so a model trained with vipet and one trained with
another framework from the exported files see the same prompts and the same questions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vipet.reports.vqa import generate_vqa
from vipet.schema import REGION_PHRASES, WHOLE

REGION_NAMES_VI: dict[str, str] = {WHOLE: "toàn thân", **REGION_PHRASES}
REPORT_INSTRUCTION = "Hãy mô tả hình ảnh PET/CT {region} và nêu nhận định."


def report_prompt(region: str) -> str:
    """The instruction for report generation on a region (Vietnamese, as the targets are).

    The one wording used everywhere: vipet's own models (which add the image marker) and the
    exports read it from here, so a model trained elsewhere on the exports sees the same text.
    Unknown regions read as whole body.
    """
    name = REGION_NAMES_VI.get(region or WHOLE, REGION_NAMES_VI[WHOLE])
    return REPORT_INSTRUCTION.format(region=name)


def qa_pairs(full_text: str, region: str = WHOLE, *, max_pairs: int | None = None) -> list[dict[str, Any]]:
    """Question/answer pairs (`question, answer, type, closed`) the report toolkit writes for one region.

    `full_text` is the whole report: the toolkit finds the region's findings itself, which is more
    faithful than questioning a region's section out of context.
    """
    if not full_text.strip():
        return []
    pairs = [dict(p) for p in generate_vqa(full_text, region=region)]
    return pairs[:max_pairs] if max_pairs else pairs



# --- English reports (`reports_en/`): the `report_en` task --------------------------------------
# The same report generation on the same region volumes, with the English version of each report
# as the target. The build keeps the Vietnamese texts (its manifest's schema is fixed); an
# English view of a build is a second manifest beside it whose texts are the English ones and
# whose array paths point into the build's cache, so every trainer, predictor and baseline that
# reads a build reads the English view unchanged, and the arrays are never copied.
REPORT_EN = "report_en"
REPORT_LANGUAGES: tuple[str, ...] = ("vi", "en")
ENGLISH_VIEW_INFO = "english_view.json"


def english_report_file(ref: Any) -> Path | None:
    """The English report of a discovered study: the one its table lists, else `reports_en/<name>.json`
    beside its `reports/<name>.json` (the released layout), else `report_en.json` in its folder."""
    paths = getattr(ref, "paths", {}) or {}
    if paths.get("report_en"):
        return Path(paths["report_en"])
    if paths.get("report"):
        report = Path(paths["report"])
        sibling = report.parent.parent / "reports_en" / report.name
        if sibling.is_file():
            return sibling
    for role in ("folder", "ct"):
        if paths.get(role):
            folder = Path(paths[role]) if role == "folder" else Path(paths[role]).parent
            if (folder / "report_en.json").is_file():
                return folder / "report_en.json"
    return None


def read_english_reports(data: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(study key -> English report object, problems) of every study `vipet.io.discover` finds in
    `data`; a study without a readable English report is a problem, never a stop."""
    import json

    from vipet.io.jsonbounds import loads_bounded
    from vipet.io.sources import discover

    refs, _ = discover(data)
    reports: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    for ref in sorted(refs, key=lambda r: r.key):
        path = english_report_file(ref)
        if path is None or not path.is_file():
            problems.append({"key": ref.key, "path": str(path) if path else None, "reason": "no English report"})
            continue
        try:
            obj = loads_bounded(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
            problems.append({"key": ref.key, "path": str(path), "reason": f"unreadable ({exc.__class__.__name__})"})
            continue
        if not isinstance(obj, dict):
            problems.append({"key": ref.key, "path": str(path), "reason": "not a JSON object"})
            continue
        reports[ref.key] = obj
    return reports, problems


def english_texts(report_en: Any) -> dict[str, str]:
    """Sample region -> English target text (`whole`, each image region, `impression`)."""
    from vipet.reports.english import split_english_report

    return split_english_report(report_en)


def write_english_view(build: str | Path, data: str | Path, out: str | Path) -> dict[str, Any]:
    """The English view of `build` (made from the dataset `data`) in `out`: `manifest.parquet` with the
    English texts (rows of studies without one keep an empty text, which every dataset skips) and
    `english_view.json` (counts and problems). Returns that summary."""
    import os

    from vipet.data.manifest import read_manifest, write_manifest
    from vipet.fsutil import atomic_write_json

    build, out = Path(build).resolve(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reports, problems = read_english_reports(data)
    to_build = Path(os.path.relpath(build, out.resolve())).as_posix()
    rows, texts_of = [], {}
    for row in read_manifest(build):
        key = row["study_key"]
        if key in reports and key not in texts_of:
            texts_of[key] = english_texts(reports[key])
        texts = texts_of.get(key, {})
        row = dict(row)
        row["report_text"] = texts.get(row["region"], "")
        row["impression"] = texts.get("impression", "")
        for column in ("image_path", "ct_path", "pet_path"):
            if row.get(column):
                row[column] = f"{to_build}/{row[column]}"
        rows.append(row)
    write_manifest(rows, out)
    summary = {"task": REPORT_EN, "language": "en", "build": to_build, "studies": len({r["study_key"] for r in rows}),
               "with_english": len(texts_of), "samples": len(rows),
               "samples_with_text": sum(1 for r in rows if r["report_text"].strip()), "problems": problems}
    atomic_write_json(out / ENGLISH_VIEW_INFO, summary, root=out)
    return summary
