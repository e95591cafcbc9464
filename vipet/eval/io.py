"""Reading prediction files: a JSON list or JSON Lines, one record per sample, strict and clear.

Record: `{"id", "task" ("report"|"vqa", default "report"), "prediction", "reference",
"question"?, "model"?, "study"?, "closed"?}`; the prediction and reference keys can be renamed
(`pred_key`, `ref_key`) for files written by other tools (the prior work used "generated" and
"ground_truth"). A reference may be a string or a list of strings (several references).

What is an error and what is not (the CLI prints the one-line reason and exits 1):
- not UTF-8, not JSON, a record that is not an object, a missing id, a duplicate (model, task,
  id), a missing or empty reference, an unknown task: `EvalError` naming the file and the line
  (JSONL) or item (JSON list);
- a field of the wrong JSON type: `prediction`, `question`, `task`, `model` and `study` must be
  text (or absent/null), the reference text or a list of texts, the id text or an integer (files
  of other tools number their samples). A list, object, boolean, number or NaN is never turned
  into text with `str()` and scored: that would give a number for something that is not a
  prediction. `EvalError` naming the file, the line or item and the field;
- a missing, null or empty prediction is NOT an error: it is scored as the empty string (0 on
  every metric) and counted in the metrics JSON, unless no record at all has the prediction key,
  which means the key is wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from vipet.errors import EvalError
from vipet.io.jsonbounds import loads_bounded
from vipet.hashing import sha256_file

TASKS: tuple[str, ...] = ("report", "vqa")


@dataclass(frozen=True)
class PredictionRecord:
    """One scored sample; `where` is "line N" or "item N" for error messages."""

    id: str
    task: str
    prediction: str
    references: tuple[str, ...]
    model: str = "unknown"
    question: str | None = None
    study: str | None = None
    closed: bool | None = None
    where: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def cluster(self) -> str:
        """The bootstrap unit: the study the sample belongs to (its id when not given)."""
        return self.study or self.id


file_sha256 = sha256_file  # the package's one sha256 (vipet.hashing), under the name the CLI imports


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise EvalError("predictions file not found", path) from None
    except IsADirectoryError:
        raise EvalError("expected a predictions file, got a folder", path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise EvalError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})", path) from None


def _raw_records(path: Path, text: str) -> list[tuple[str, Any]]:
    stripped = text.lstrip()
    if not stripped:
        raise EvalError("empty predictions file", path)
    if stripped.startswith("["):
        try:
            items = loads_bounded(text)
        except json.JSONDecodeError as exc:
            raise EvalError(f"not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})", path) from None
        if not isinstance(items, list):
            raise EvalError("expected a JSON list of records", path)
        return [(f"item {i + 1}", item) for i, item in enumerate(items)]
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", loads_bounded(line)))
        except json.JSONDecodeError as exc:
            raise EvalError(f"line {number}: not valid JSON ({exc.msg})", path) from None
    return records


def _json_kind(value: Any) -> str:
    """How a JSON value that is not text reads in an error message."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"a non-finite number ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    return {list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _text_field(obj: dict, key: str, where: str, record: str, path: str | Path) -> str | None:
    """The field as text, None when absent or null; anything else is an error naming the field."""
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise EvalError(f"{where}: {record}field {key!r} must be text, got {_json_kind(value)}", path)


def _record_id(obj: dict, where: str, path: str | Path) -> str:
    value = obj.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is not None and not isinstance(value, str):
        raise EvalError(f"{where}: field 'id' must be text or an integer, got {_json_kind(value)}", path)
    if value is None or value.strip() == "":
        raise EvalError(f"{where}: record has no 'id'", path)
    return value


def _reference(value: Any, where: str, rid: str, ref_key: str, path: str | Path) -> tuple[str, ...]:
    if value is not None and not isinstance(value, (str, list)):
        raise EvalError(f"{where}: record {rid!r} field {ref_key!r} must be text or a list of texts, "
                        f"got {_json_kind(value)}", path)
    bad = [r for r in value if not isinstance(r, str)] if isinstance(value, list) else []
    if bad:
        raise EvalError(f"{where}: record {rid!r} field {ref_key!r} must be text or a list of texts, "
                        f"got a list holding {_json_kind(bad[0])}", path)
    refs = [value] if isinstance(value, str) else value if isinstance(value, list) else None
    if refs is None or not refs or not all(r.strip() for r in refs):
        raise EvalError(f"{where}: record {rid!r} has no reference (key {ref_key!r} missing, empty or not text)", path)
    return tuple(refs)


def load_predictions(path: str | Path, pred_key: str = "prediction", ref_key: str = "reference") -> list[PredictionRecord]:
    """Load and validate a predictions file (JSON list or JSONL)."""
    path = Path(path)
    return validate_records(_raw_records(path, _read_text(path)), path, pred_key, ref_key)


def records_from_dicts(items: Sequence[Any], pred_key: str = "prediction", ref_key: str = "reference") -> list[PredictionRecord]:
    """Validate in-memory record dicts exactly like the records of a file."""
    return validate_records([(f"item {i + 1}", obj) for i, obj in enumerate(items)], "<records>", pred_key, ref_key)


def validate_records(
    raw: Sequence[tuple[str, Any]], path: str | Path, pred_key: str = "prediction", ref_key: str = "reference"
) -> list[PredictionRecord]:
    """Check (where, object) pairs and turn them into records (see the module docstring)."""
    if not raw:
        raise EvalError("no records in the predictions file", path)
    strays = [(where, obj) for where, obj in raw if not isinstance(obj, dict)]
    if strays and len(strays) == len(raw):  # no record at all: say so rather than blame --pred-key
        where, obj = strays[0]
        raise EvalError(f"{where}: expected a JSON object (a record), got {type(obj).__name__}", path)
    if not any(isinstance(obj, dict) and pred_key in obj for _, obj in raw):
        raise EvalError(f"no record has the prediction key {pred_key!r} (use --pred-key)", path)
    records: list[PredictionRecord] = []
    seen: dict[tuple[str, str, str], str] = {}
    known = {"id", "task", "question", "model", "study", "closed", pred_key, ref_key}
    for where, obj in raw:
        if not isinstance(obj, dict):
            raise EvalError(f"{where}: expected a JSON object, got {type(obj).__name__}", path)
        rid = _record_id(obj, where, path)
        record = f"record {rid!r} "
        task = _text_field(obj, "task", where, record, path) or "report"
        if task not in TASKS:
            raise EvalError(f"{where}: record {rid!r} has unknown task {task!r} (expected {' or '.join(TASKS)})", path)
        prediction = _text_field(obj, pred_key, where, record, path) or ""
        references = _reference(obj.get(ref_key), where, rid, ref_key, path)
        model = _text_field(obj, "model", where, record, path) or "unknown"
        question = _text_field(obj, "question", where, record, path)
        study = _text_field(obj, "study", where, record, path)
        key = (model, task, rid)
        if key in seen:
            raise EvalError(f"{where}: duplicate id {rid!r} for model {model!r} and task {task!r} (first at {seen[key]})", path)
        seen[key] = where
        closed = obj.get("closed")
        records.append(
            PredictionRecord(
                id=rid,
                task=task,
                prediction=prediction,
                references=references,
                model=model,
                question=question,
                study=study,
                closed=closed if isinstance(closed, bool) else None,
                where=where,
                extra={k: v for k, v in obj.items() if k not in known},
            )
        )
    return records


def align_records(
    first: Sequence[PredictionRecord], second: Sequence[PredictionRecord], first_path: str | Path, second_path: str | Path
) -> list[tuple[PredictionRecord, PredictionRecord]]:
    """Pair the records of two files by (task, id) for a paired comparison; mismatched ids are an error."""
    def index(records: Sequence[PredictionRecord], path: str | Path) -> dict[tuple[str, str], PredictionRecord]:
        out: dict[tuple[str, str], PredictionRecord] = {}
        for record in records:
            key = (record.task, record.id)
            if key in out:
                raise EvalError(f"{record.where}: id {record.id!r} appears for several models; compare one model per file", path)
            out[key] = record
        return out

    a, b = index(first, first_path), index(second, second_path)
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        def show(keys: list[tuple[str, str]]) -> str:
            return ", ".join(repr(i) for _, i in keys[:3]) + (" ..." if len(keys) > 3 else "")

        parts = []
        if only_a:
            parts.append(f"{len(only_a)} ids only in {first_path} ({show(only_a)})")
        if only_b:
            parts.append(f"{len(only_b)} ids only in {second_path} ({show(only_b)})")
        raise EvalError("prediction files do not have the same ids: " + "; ".join(parts), second_path)
    for key in a:
        if a[key].references != b[key].references:
            raise EvalError(f"{b[key].where}: id {key[1]!r} has a different reference than in {first_path}", second_path)
    return [(a[key], b[key]) for key in sorted(a)]
