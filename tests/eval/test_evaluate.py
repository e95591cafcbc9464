"""`evaluate_predictions` in process: sections per model and task, intervals, JSON rounding."""

from __future__ import annotations

import json

import pytest

from vipet.errors import EvalError
from vipet.eval import evaluate_predictions, score_nlg
from vipet.eval.report import metrics_json_text, rounded


def _records(texts, model):
    rows = [{"id": f"s{i}", "prediction": texts[(i + 1) % len(texts)], "reference": t, "model": model} for i, t in enumerate(texts)]
    rows += [{"id": f"s{i}-q", "task": "vqa", "study": f"s{i}", "question": "Có hạch trung thất không?",
              "prediction": "Có." if i % 2 else "Không.", "reference": "Có, có hạch dưới carina.", "model": model}
             for i in range(len(texts))]
    return rows


def test_sections_per_model_and_task(real_texts):
    records = _records(real_texts[:6], "a") + _records(real_texts[6:10], "b")
    metrics = evaluate_predictions(records, profile="vipet-vlm", n_resamples=100, seed=1)
    assert sorted(metrics["results"]) == ["a", "b"]
    report = metrics["results"]["a"]["report"]["nlg"]
    expected = score_nlg([r["prediction"] for r in records[:6]], [r["reference"] for r in records[:6]], "vipet-vlm")
    assert {k: v["value"] for k, v in report["scores"].items()} == pytest.approx(expected, abs=1e-12)
    closed = metrics["results"]["a"]["vqa"]["closed"]
    assert closed["n"] == 6 and closed["scores"]["accuracy"]["value"] == 50.0
    assert metrics["input"]["n_records"] == len(records) and metrics["bootstrap"]["seed"] == 1
    again = evaluate_predictions(records, profile="vipet-vlm", n_resamples=100, seed=1)
    assert metrics_json_text(again) == metrics_json_text(metrics)


def test_bad_records_and_empty_input():
    with pytest.raises(EvalError, match="item 1: record 'x' has no reference"):
        evaluate_predictions([{"id": "x", "prediction": "a"}], profile="coco")
    with pytest.raises(EvalError, match="no prediction records"):
        evaluate_predictions([], profile="coco")


def test_rounding_is_fixed_and_json_safe():
    assert rounded({"a": 1 / 3, "b": [float("nan"), -0.0], "c": (1, 2.5)}) == {"a": 0.333333, "b": [None, 0.0], "c": [1, 2.5]}
    assert json.loads(metrics_json_text({"z": 1.0, "a": float("inf")})) == {"a": None, "z": 1.0}
