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


@pytest.mark.parametrize("field", ["prediction", "question", "task", "model", "study"])
@pytest.mark.parametrize(
    "value,kind",
    [(["a", "b"], "a list"), ({"text": "a"}, "an object"), (True, "a boolean (true)"), (3, "a number (3)"),
     (0.5, "a number (0.5)"), (float("nan"), "a non-finite number (nan)"), (float("inf"), "a non-finite number (inf)")],
)
def test_a_text_field_of_another_json_type_is_refused_not_scored_as_text(tmp_path, field, value, kind):
    """Issue 20: `str()` turned a list, dict, bool, number or NaN into text that was scored."""
    path = _jsonl(tmp_path, [ROW, {**ROW, "id": "b", field: value}])
    with pytest.raises(EvalError) as info:
        load_predictions(path)
    assert str(info.value) == f"{path}: line 2: record 'b' field {field!r} must be text, got {kind}"


def test_a_renamed_prediction_key_is_checked_too(tmp_path):
    path = _jsonl(tmp_path, [{"id": "a", "generated": ["x"], "ground_truth": "y"}])
    with pytest.raises(EvalError) as info:
        load_predictions(path, pred_key="generated", ref_key="ground_truth")
    assert str(info.value) == f"{path}: line 1: record 'a' field 'generated' must be text, got a list"


@pytest.mark.parametrize(
    "value,kind",
    [({"text": "a"}, "an object"), (7, "a number (7)"), (False, "a boolean (false)"), (float("nan"), "a non-finite number (nan)"),
     (["ok", 3], "a list holding a number (3)"), (["ok", ["nested"]], "a list holding a list")],
)
def test_a_reference_that_is_not_text_or_a_list_of_texts_is_refused(tmp_path, value, kind):
    path = _jsonl(tmp_path, [ROW, {**ROW, "id": "b", "reference": value}])
    with pytest.raises(EvalError) as info:
        load_predictions(path)
    assert str(info.value) == f"{path}: line 2: record 'b' field 'reference' must be text or a list of texts, got {kind}"


@pytest.mark.parametrize("value,kind", [(["a"], "a list"), ({"k": 1}, "an object"), (True, "a boolean (true)"),
                                        (1.0, "a number (1.0)"), (float("nan"), "a non-finite number (nan)")])
def test_an_id_that_is_not_text_or_an_integer_is_refused(tmp_path, value, kind):
    path = tmp_path / "p.json"
    path.write_text(json.dumps([ROW, {**ROW, "id": value}]), encoding="utf-8")
    with pytest.raises(EvalError) as info:
        load_predictions(path)
    assert str(info.value) == f"{path}: item 2: field 'id' must be text or an integer, got {kind}"


def test_null_text_fields_are_absent_and_integer_ids_are_kept(tmp_path):
    rows = [{"id": 7, "prediction": None, "reference": "r", "task": None, "model": None, "question": None, "study": None}]
    [record] = load_predictions(_jsonl(tmp_path, rows))
    assert (record.id, record.prediction, record.task, record.model, record.question, record.study) == (
        "7", "", "report", "unknown", None, None)
