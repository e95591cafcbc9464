"""`vipet evaluate`: table and metrics JSON, byte-identical reruns, comparison, expert references, clear errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vipet.cli import app

runner = CliRunner()


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def _rows(texts, shift=1, model="m"):
    rows = [{"id": f"r{i}", "task": "report", "prediction": texts[(i + shift) % len(texts)], "reference": t, "model": model}
            for i, t in enumerate(texts)]
    rows.append({"id": "q1", "task": "vqa", "question": "Có tràn dịch màng phổi không?", "prediction": "Không.",
                 "reference": "Không, không phát hiện tràn dịch.", "model": model})
    return rows


def test_evaluate_writes_deterministic_metrics_json(tmp_path, real_texts):
    preds = _write(tmp_path / "preds.jsonl", _rows(real_texts[:8]))
    result = runner.invoke(app, ["evaluate", str(preds), "--profile", "coco", "--clinical", "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    assert "bleu_4" in result.output and "F1-TPF" in result.output
    out = tmp_path / "preds.metrics.json"
    first = out.read_bytes()
    metrics = json.loads(first)
    section = metrics["results"]["m"]["report"]
    assert section["nlg"]["n"] == 8 and set(section["nlg"]["scores"]) == {"bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider_d"}
    assert section["clinical"]["reference"] == "extracted from the reference text"
    assert metrics["results"]["m"]["vqa"]["closed"]["scores"]["accuracy"]["value"] == 100.0
    assert metrics["profile"]["name"] == "coco" and metrics["input"]["sha256"] and metrics["input"]["n_records"] == 9
    low, high = section["nlg"]["scores"]["bleu_4"]["ci95"]
    assert low <= section["nlg"]["scores"]["bleu_4"]["value"] <= high
    assert runner.invoke(app, ["evaluate", str(preds), "--profile", "coco", "--clinical", "--bootstrap", "100"]).exit_code == 0
    assert out.read_bytes() == first


def test_json_output_and_renamed_keys(tmp_path):
    rows = [{"id": "1", "generated": "Hình ảnh nốt mờ ở phổi phải.", "ground_truth": "Hình ảnh nốt mờ ở phổi phải."},
            {"id": "2", "generated": "", "ground_truth": "Không phát hiện bất thường."}]
    preds = _write(tmp_path / "p.jsonl", rows)
    result = runner.invoke(app, ["evaluate", str(preds), "--profile", "vipet-vlm", "--json", "--pred-key", "generated",
                                 "--ref-key", "ground_truth", "--out", str(tmp_path / "m.json"), "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    nlg = metrics["results"]["unknown"]["report"]["nlg"]
    assert nlg["n_empty_predictions"] == 1 and nlg["scores"]["rouge_l"]["ci95"] == [None, None]
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8")) == metrics


def test_compare_two_prediction_files(tmp_path, real_texts):
    a = _write(tmp_path / "a.jsonl", _rows(real_texts[:6], shift=0))
    b = _write(tmp_path / "b.jsonl", _rows(real_texts[:6], shift=1))
    result = runner.invoke(app, ["evaluate", str(a), "--compare", str(b), "--profile", "vipet-vlm", "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    comparison = json.loads((tmp_path / "a.vs.b.comparison.json").read_text(encoding="utf-8"))
    rouge = comparison["comparison"]["report"]["nlg"]["scores"]["rouge_l"]
    assert rouge["delta"] > 0 and 0 < rouge["p_value"] <= 1
    other = _write(tmp_path / "c.jsonl", _rows(real_texts[1:7]))
    result = runner.invoke(app, ["evaluate", str(a), "--compare", str(other), "--profile", "coco"])
    assert result.exit_code == 1 and "different reference than in a.jsonl" in result.output
    fewer = _write(tmp_path / "d.jsonl", _rows(real_texts[:5], shift=0))
    result = runner.invoke(app, ["evaluate", str(a), "--compare", str(fewer), "--profile", "coco"])
    assert result.exit_code == 1 and "1 ids only in a.jsonl ('r5')" in result.output


def test_expert_references(tmp_path, real_data, real_texts):
    paired = json.loads((real_data / "paired.json").read_text(encoding="utf-8"))
    texts = {json.loads(l)["patient_id"]: json.loads(l)["text"] for l in (real_data / "reports.jsonl").read_text(encoding="utf-8").splitlines()}
    rows = [{"id": p["patient_id"], "prediction": texts[p["patient_id"]], "reference": texts[p["patient_id"]]} for p in paired[:4]]
    rows.append({"id": "patient_999999", "prediction": "x", "reference": "y"})
    preds = _write(tmp_path / "p.jsonl", rows)
    result = runner.invoke(app, ["evaluate", str(preds), "--profile", "coco", "--expert", str(real_data / "expert"), "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    clinical = json.loads((tmp_path / "p.metrics.json").read_text(encoding="utf-8"))["results"]["unknown"]["report"]["clinical"]
    assert clinical["reference"] == "expert" and clinical["n_patients"] == 4 and clinical["n_without_expert"] == 1
    assert clinical["scores"]["F1-T"]["value"] > 40  # the offline extractor reads the true report against the experts


def test_errors_exit_1_with_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "a", "prediction": "\xff", "reference": "b"}\n')
    result = runner.invoke(app, ["evaluate", str(bad)])
    assert result.exit_code == 1 and "not UTF-8" in result.output and str(bad) in result.output
    missing = _write(tmp_path / "m.jsonl", [{"id": "a", "prediction": "x"}])
    result = runner.invoke(app, ["evaluate", str(missing), "--profile", "coco"])
    assert result.exit_code == 1 and "line 1: record 'a' has no reference" in result.output
    good = _write(tmp_path / "g.jsonl", [{"id": "a", "prediction": "x", "reference": "y"}])
    result = runner.invoke(app, ["evaluate", str(good), "--profile", "bleu"])
    assert result.exit_code == 1 and "unknown profile" in result.output
    result = runner.invoke(app, ["evaluate", str(good), "--expert", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "expert folder not found" in result.output


def test_unwritable_output_and_negative_bootstrap_exit_1_with_one_line(tmp_path):
    good = _write(tmp_path / "g.jsonl", [{"id": "a", "prediction": "x", "reference": "y"}])
    folder = tmp_path / "out_dir"
    folder.mkdir()
    result = runner.invoke(app, ["evaluate", str(good), "--out", str(folder), "--bootstrap", "0"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [f"error: {folder}: metrics output is a folder; give a file path"]
    result = runner.invoke(app, ["evaluate", str(good), "--out", str(good / "m.json"), "--bootstrap", "0"])
    assert result.exit_code == 1 and "a parent of this path is a file" in result.output
    result = runner.invoke(app, ["evaluate", str(good), "--bootstrap", "-5"])
    assert result.exit_code == 1 and "--bootstrap must be 0" in result.output
    assert not (tmp_path / "g.metrics.json").exists()
    result = runner.invoke(app, ["evaluate", str(good), "--expert", str(good), "--bootstrap", "0"])
    assert result.exit_code == 1 and f"{good}: --expert expects a folder" in result.output
