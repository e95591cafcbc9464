"""Read a report from any form it comes in.

A report arrives as the ViMed-PET JSON (sections known), as a `{"text": ...}` record of
`reports.jsonl`, or as plain joined text (findings head to feet, then the impression); for the
last two the sections are recovered by `vipet.reports.sections.recover_sections`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vipet.errors import ReportError
from vipet.io.jsonbounds import loads_bounded
from vipet.reports.normalize import normalize_text
from vipet.reports.sections import recover_sections
from vipet.schema import FINDINGS_KEY, Report

def parse_report(obj: Any, path: str | Path | None = None) -> Report:
    """A `Report` from ViMed JSON, a `{"text"}` record, a `Report`, or plain text (sections recovered).

    Text is normalised (`normalize_text`) in every case, so downstream tools see one spelling.
    """
    if isinstance(obj, Report):
        return Report(
            sections={k: normalize_text(v) for k, v in obj.sections.items()},
            impression=normalize_text(obj.impression),
        )
    if isinstance(obj, dict):
        if FINDINGS_KEY in obj:
            return parse_report(Report.from_json(obj, path))
        if isinstance(obj.get("text"), str):
            return recover_sections(normalize_text(obj["text"]))
        raise ReportError("JSON object is neither a ViMed-PET report nor a record with a 'text' field", path)
    if isinstance(obj, str):
        return recover_sections(normalize_text(obj))
    raise ReportError(f"cannot read a report from JSON of type {type(obj).__name__} (expected an object or a string)", path)


def load_report(path: str | Path) -> Report:
    """A report file: ViMed JSON, a JSON record with "text", or plain UTF-8 text."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError("report file not found", path) from None
    except IsADirectoryError:
        raise ReportError("expected a report file, got a directory", path) from None
    except UnicodeDecodeError:
        raise ReportError("report file is not UTF-8 text", path) from None
    stripped = raw.lstrip()
    if path.suffix.lower() == ".json" or stripped.startswith("{"):
        try:
            obj = loads_bounded(raw)
        except json.JSONDecodeError as exc:
            if path.suffix.lower() == ".json":
                raise ReportError(f"not valid JSON ({exc})", path) from None
            obj = raw
        return parse_report(obj, path)
    if not stripped:
        raise ReportError("report file is empty", path)
    return parse_report(raw, path)
