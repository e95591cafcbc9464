"""Read a report from any form it comes in and split its text into sentences.

A report arrives as the ViMed-PET JSON (sections known), as a `{"text": ...}` record of
`reports.jsonl`, or as plain joined text (findings head to feet, then the impression); for the
last two the sections are recovered by `vipet.reports.sections.recover_sections`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from vipet.errors import ReportError
from vipet.reports.normalize import normalize_text
from vipet.reports.schema import FINDINGS_KEY, Report

_SENTENCE_END = ".!?"
# "…(SUVmax: 4,1) Hình ảnh …" and "…hai bên, Hình ảnh …": a new finding begins without a full stop.
_UNPUNCTUATED_START = re.compile(r"[),;]\s+(?=Hình ảnh\b)")


def _closing_parens(text: str) -> dict[int, int]:
    """Map each '(' that is closed to its ')' (an unclosed '(' must not swallow the rest)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for i, ch in enumerate(text):
        if ch == "(":
            stack.append(i)
        elif ch == ")" and stack:
            pairs[stack.pop()] = i
    return pairs


def split_sentences(text: str) -> list[str]:
    """Sentences of a report text, keeping decimals (`5.2`, `5,2`) and parentheses whole.

    A full stop ends a sentence only outside parentheses and when followed by a capital letter
    (or the end); line breaks always end one; a finding glued to the previous one after `)` or `,`
    ("…(SUVmax: 4,1) Hình ảnh …") is split off too.
    """
    pairs = _closing_parens(text)
    cuts: list[int] = []
    skip_to = -1
    for i, ch in enumerate(text):
        if i < skip_to:
            continue
        if ch == "(" and i in pairs:
            skip_to = pairs[i]
            continue
        if ch == "\n":
            cuts.append(i + 1)
        elif ch in _SENTENCE_END:
            rest = text[i + 1 :]
            stripped = rest.lstrip(" \t")
            if not stripped or stripped[0] == "\n":
                cuts.append(i + 1)
            elif stripped[0].isupper() and (rest[:1].isspace() or (i > 0 and text[i - 1].isalpha())):
                cuts.append(i + 1)
    for m in _UNPUNCTUATED_START.finditer(text):
        inside = any(o < m.start() < c for o, c in pairs.items())
        if not inside:
            cuts.append(m.start() + 1)
    sentences: list[str] = []
    last = 0
    for cut in sorted(set(cuts)) + [len(text)]:
        piece = text[last:cut].strip()
        if piece:
            sentences.append(piece)
        last = cut
    return sentences


def parse_report(obj: Any, path: str | Path | None = None) -> Report:
    """A `Report` from ViMed JSON, a `{"text"}` record, a `Report`, or plain text (sections recovered).

    Text is normalised (`normalize_text`) in every case, so downstream tools see one spelling.
    """
    from vipet.reports.sections import recover_sections

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
    raise ReportError(f"cannot read a report from a {type(obj).__name__}", path)


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
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            if path.suffix.lower() == ".json":
                raise ReportError(f"not valid JSON ({exc})", path) from None
            obj = raw
        return parse_report(obj, path)
    if not stripped:
        raise ReportError("report file is empty", path)
    return parse_report(raw, path)
