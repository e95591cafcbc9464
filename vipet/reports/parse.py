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


_PAREN = re.compile(r"[()]")
_CANDIDATE = re.compile(r"[.!?\n]")


def _paren_pairs(text: str) -> list[tuple[int, int]]:
    """Spans of the closed parentheses (an unclosed '(' must not swallow the rest of the text)."""
    pairs: list[tuple[int, int]] = []
    stack: list[int] = []
    for m in _PAREN.finditer(text):
        if m.group(0) == "(":
            stack.append(m.start())
        elif stack:
            pairs.append((stack.pop(), m.start()))
    return pairs


def split_sentences(text: str) -> list[str]:
    """Sentences of a report text, keeping decimals (`5.2`, `5,2`) and parentheses whole.

    A full stop ends a sentence only outside parentheses and when followed by a capital letter
    (or the end); line breaks always end one; a finding glued to the previous one after `)` or `,`
    ("…(SUVmax: 4,1) Hình ảnh …") is split off too.
    """
    pairs = _paren_pairs(text)

    def inside(pos: int) -> bool:
        return any(o < pos < c for o, c in pairs)

    cuts: list[int] = []
    for m in _CANDIDATE.finditer(text):
        i = m.start()
        if m.group(0) == "\n":
            cuts.append(i + 1)
            continue
        rest = text[i + 1 : i + 40]
        stripped = rest.lstrip(" \t")
        ends = not stripped or stripped[0] == "\n"
        starts_sentence = bool(stripped) and stripped[0].isupper() and (rest[:1].isspace() or (i > 0 and text[i - 1].isalpha()))
        if (ends or starts_sentence) and not inside(i):
            cuts.append(i + 1)
    for m in _UNPUNCTUATED_START.finditer(text):
        if not inside(m.start()):
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
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            if path.suffix.lower() == ".json":
                raise ReportError(f"not valid JSON ({exc})", path) from None
            obj = raw
        return parse_report(obj, path)
    if not stripped:
        raise ReportError("report file is empty", path)
    return parse_report(raw, path)
