"""Predictions files: resumable generation, baseline records, and the CLI on a real (tiny) build."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from vipet.cli import app
from vipet.models.encoders import EncoderConfig
from vipet.models.vlm import VisionLanguageModel, VLMConfig
from vipet.train.config import GenerationConfig
from vipet.train.generate import baseline_records, generate_to_file, read_jsonl
from vipet.models.baselines import MajorityVQABaseline

ENCODER = {"input_size": [8, 16, 16], "token_grid": [1, 2, 2], "channels": [8, 16], "out_dim": 32}


@pytest.fixture(scope="module")
def tiny_vlm(tiny_lms):
    torch.manual_seed(0)
    return VisionLanguageModel.from_config(VLMConfig(lm=tiny_lms["gpt2"], encoder=EncoderConfig(**ENCODER))).eval()


def test_generation_resumes_from_the_partial_file(tiny_vlm, make_items, tmp_path):
    items = make_items(5, 2)
    settings = GenerationConfig(max_new_tokens=4, batch_size=2)
    full = read_jsonl(generate_to_file(tiny_vlm, items, settings, "m", tmp_path / "a.jsonl", progress=False))
    # A killed run left two finished records (one marked so we can see it is reused) and a cut line.
    kept = [dict(full[0], prediction="FROM-PARTIAL"), full[1]]
    partial = tmp_path / "b.jsonl.partial"
    partial.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept) + '{"id": "cut', encoding="utf-8")
    resumed = read_jsonl(generate_to_file(tiny_vlm, items, settings, "m", tmp_path / "b.jsonl", progress=False))
    assert resumed[0]["prediction"] == "FROM-PARTIAL" and resumed[1:] == full[1:]
    assert [r["id"] for r in resumed] == [item["sample_id"] for item in items] and not partial.exists()


def test_baseline_records_follow_the_shared_format(make_items):
    items = make_items(6, 0)
    records = baseline_records(MajorityVQABaseline(), items, items, ("vqa",))
    assert {r["task"] for r in records} == {"vqa"} and len(records) == 3
    assert all(r["model"] == "majority-vqa" and r["question"] and r["prediction"] in ("có", "không") for r in records)
    assert [r["study"] for r in records] == [r["id"].split(":", 1)[0] for r in records]
    renamed = baseline_records(MajorityVQABaseline(), items, items, ("vqa",), model_name="row-name")
    assert [dict(r, model="majority-vqa") for r in renamed] == records and {r["model"] for r in renamed} == {"row-name"}


def test_a_record_is_written_once_with_its_study_key():
    from vipet.train.generate import make_record

    item = {"sample_id": "2017_12_13_patient_4:chest:q7", "task": "vqa", "text": "Có.", "question": "Có hạch không?"}
    assert make_record(item, "Không.", "small-vlm") == {
        "id": "2017_12_13_patient_4:chest:q7", "task": "vqa", "prediction": "Không.", "reference": "Có.",
        "model": "small-vlm", "study": "2017_12_13_patient_4", "question": "Có hạch không?"}


def test_cli_train_then_generate_on_a_build(tiny_build, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "stage: finetune\nname: tiny-cli\n"
        "data: {tasks: [report, vqa], regions: [chest], max_questions: 2, max_val_samples: 4}\n"
        "model:\n  small_lm: {vocab_size: 400, n_layer: 1, n_embd: 32, n_head: 2}\n"
        f"  encoder: {json.dumps(ENCODER)}\n"
        "train: {max_steps: 2, batch_size: 2, log_every: 1, save_every: 0, progress: false}\n"
        "generation: {max_new_tokens: 4}\n", encoding="utf-8")
    runner = CliRunner()
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(config), "--data", str(tiny_build), "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "2 steps" in result.output and (run_dir / "training_curve.png").stat().st_size > 1000
    info = json.loads((run_dir / "run_info.json").read_text(encoding="utf-8"))
    assert info["seed"] == 0 and info["git_revision"] and "torch" in info["versions"]
    result = runner.invoke(app, ["generate", str(run_dir), str(tiny_build), "--split", "test"])
    assert result.exit_code == 0, result.output
    records = read_jsonl(run_dir / "predictions" / "test.jsonl")
    assert {r["task"] for r in records} == {"report", "vqa"}
    assert all(r["model"] == "tiny-cli" and r["study"] == r["id"].split(":")[0] for r in records)
    for baseline in ("template", "retrieval", "majority-vqa"):
        out = tmp_path / f"{baseline}.jsonl"
        result = runner.invoke(app, ["generate", baseline, str(tiny_build), "--region", "chest", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert read_jsonl(out) and all(r["model"] == baseline and r["study"] == r["id"].split(":")[0] for r in read_jsonl(out))
        # The one format: sorted keys, UTF-8 kept, one record a line, written once.
        assert out.read_text(encoding="utf-8") == "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n"
                                                          for r in read_jsonl(out))
    from vipet.train.predict import predict

    named = predict("template", tiny_build, "test", tmp_path / "named.jsonl", regions=["chest"], model_name="row")
    assert [dict(r, model="template") for r in read_jsonl(named)] == read_jsonl(tmp_path / "template.jsonl")


def test_cli_errors_are_one_line(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {max_step: 3}\n", encoding="utf-8")
    result = runner.invoke(app, ["train", str(bad)])
    assert result.exit_code == 1 and "train.max_step" in result.output and str(bad) in result.output
    result = runner.invoke(app, ["generate", str(tmp_path), str(tmp_path)])
    assert result.exit_code == 1 and "not a run folder" in result.output
