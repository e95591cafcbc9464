"""Prediction files: JSON list and JSONL, and a clear one-line error for each kind of bad input."""

from __future__ import annotations

import json

import pytest

from vipet.errors import EvalError
from vipet.eval.io import align_records, load_predictions


def _jsonl(tmp_path, rows, name="p.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


ROW = {"id": "a", "task": "report", "prediction": "Hình ảnh nốt mờ", "reference": "Hình ảnh khối mờ", "model": "m"}


def test_jsonl_and_json_list_read_the_same(tmp_path):
    rows = [ROW, {**ROW, "id": "b", "reference": ["r1", "r2"]}]
    from_lines = load_predictions(_jsonl(tmp_path, rows))
    path = tmp_path / "p.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    from_list = load_predictions(path)
    assert [r.id for r in from_lines] == [r.id for r in from_list] == ["a", "b"]
    assert from_lines[1].references == ("r1", "r2")
    assert from_lines[0].where == "line 1" and from_list[0].where == "item 1"


def test_blank_lines_bom_and_renamed_keys(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("\ufeff" + json.dumps({"id": 1, "generated": "x", "ground_truth": "y"}) + "\n\n", encoding="utf-8")
    [record] = load_predictions(path, pred_key="generated", ref_key="ground_truth")
    assert (record.id, record.prediction, record.references, record.task, record.model) == ("1", "x", ("y",), "report", "unknown")


def test_missing_or_null_prediction_is_empty_not_an_error(tmp_path):
    rows = [ROW, {"id": "b", "reference": "r"}, {"id": "c", "prediction": None, "reference": "r"}]
    assert [r.prediction for r in load_predictions(_jsonl(tmp_path, rows))] == ["Hình ảnh nốt mờ", "", ""]


@pytest.mark.parametrize(
    "rows,message",
    [
        ([ROW, {"id": "b", "prediction": "x"}], r"line 2: record 'b' has no reference"),
        ([ROW, {"id": "b", "prediction": "x", "reference": "  "}], r"line 2: record 'b' has no reference"),
        ([ROW, {"prediction": "x", "reference": "y"}], r"line 2: record has no 'id'"),
        ([ROW, ROW], r"line 2: duplicate id 'a'"),
        ([ROW, {**ROW, "id": "b", "task": "caption"}], r"unknown task 'caption'"),
        ([ROW, ["not", "an", "object"]], r"line 2: expected a JSON object"),
        ([{"id": "a", "output": "x", "reference": "y"}], r"no record has the prediction key 'prediction'"),
        ([3, [1, 2]], r"line 1: expected a JSON object \(a record\), got int"),
    ],
)
def test_bad_records(tmp_path, rows, message):
    path = _jsonl(tmp_path, rows)
    with pytest.raises(EvalError, match=message) as info:
        load_predictions(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_bad_files(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(ROW).encode() + b"\n" + '{"id": "b", "prediction": "h\xecnh"}'.encode("latin-1"))
    with pytest.raises(EvalError, match=r"latin1.jsonl: not UTF-8 text \(byte 0xec on line 2\)"):
        load_predictions(path)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(ROW) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(EvalError, match=r"line 2: not valid JSON"):
        load_predictions(broken)
    with pytest.raises(EvalError, match="predictions file not found"):
        load_predictions(tmp_path / "missing.jsonl")
    no_records = tmp_path / "none.json"
    no_records.write_text("[]", encoding="utf-8")
    with pytest.raises(EvalError, match=r"none.json: no records in the predictions file"):
        load_predictions(no_records)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(EvalError, match="empty predictions file"):
        load_predictions(empty)


def test_align_records(tmp_path):
    a = load_predictions(_jsonl(tmp_path, [ROW, {**ROW, "id": "b"}], "a.jsonl"))
    b = load_predictions(_jsonl(tmp_path, [{**ROW, "id": "b"}, {**ROW, "prediction": "other"}], "b.jsonl"))
    pairs = align_records(a, b, "a.jsonl", "b.jsonl")
    assert [(x.id, y.id) for x, y in pairs] == [("a", "a"), ("b", "b")]
    c = load_predictions(_jsonl(tmp_path, [ROW, {**ROW, "id": "z"}], "c.jsonl"))
    with pytest.raises(EvalError, match=r"1 ids only in a.jsonl \('b'\); 1 ids only in c.jsonl \('z'\)"):
        align_records(a, c, "a.jsonl", "c.jsonl")
    d = load_predictions(_jsonl(tmp_path, [{**ROW, "reference": "different"}, {**ROW, "id": "b"}], "d.jsonl"))
    with pytest.raises(EvalError, match="different reference"):
        align_records(a, d, "a.jsonl", "d.jsonl")
