"""`vipet bench` with `report_language: en`: trained and scored on the English reports of the cohort."""

from __future__ import annotations

import json

import pytest

from vipet.bench import BenchConfig, ModelEntry, run_bench, validate_config
from vipet.data.manifest import read_manifest
from vipet.errors import BenchError
from vipet.reports.consistency import text_language

# The tiny model of tests/app/test_bench.py (one layer, 3 steps): the run proves the plumbing, not a score.
TINY_TRAIN = {
    "model.small_lm": {"vocab_size": 400, "n_layer": 1, "n_embd": 32, "n_head": 2, "n_positions": 512, "dropout": 0.0},
    "model.encoder.channels": [4, 8, 8, 16],
    "model.encoder.out_dim": 32,
    "model.encoder.input_size": [16, 32, 32],
    "train.max_steps": 3,
    "train.eval_every": 0,
    "train.save_every": 3,
    "train.batch_size": 4,
    "data.max_val_samples": 2,
    "generation.max_new_tokens": 12,
    "generation.batch_size": 8,
}


def english_config() -> BenchConfig:
    return BenchConfig(seed=0, cohort_n=6, workers=1, target_shape=(16, 32, 32), n_resamples=20, cases=1,
                       max_test_samples=4, models=[ModelEntry("tiny-vlm", "small_vlm.yaml", TINY_TRAIN)],
                       baselines=["template", "retrieval"], tasks=["report"], report_language="en")


@pytest.fixture(scope="module")
def english_run(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("bench_en") / "run"
    lines: list[str] = []
    run_bench(english_config(), out, log=lines.append)
    return out, lines


def test_english_bench_trains_and_scores_english_reports(english_run):
    out, lines = english_run
    assert any("build-english" in line for line in lines)
    board = (out / "leaderboard.md").read_text(encoding="utf-8")
    for model in ("tiny-vlm", "template", "retrieval"):
        assert f"| {model} |" in board
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["profile"]["language"] == "en" and "PTB" in metrics["profile"]["tokenizer"]
    assert "clinical" not in metrics["results"]["template"]["report"]  # the lesion extractor reads Vietnamese
    for name in ("tiny-vlm", "template", "retrieval"):
        records = [json.loads(x) for x in (out / "predictions" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert records and all(text_language(r["reference"]) == "en" for r in records)
    template = [json.loads(x) for x in (out / "predictions" / "template.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(text_language(r["prediction"]) == "en" for r in template)  # fitted on English training texts
    # The English view points into the build's cache: same images, English texts.
    vi_rows = {r["sample_id"]: r for r in read_manifest(out / "build")}
    en_rows = read_manifest(out / "build_en")
    assert sorted(r["sample_id"] for r in en_rows) == sorted(vi_rows)
    for row in en_rows:
        assert row["image_path"] == "../build/" + vi_rows[row["sample_id"]]["image_path"]
        assert (out / "build_en" / row["image_path"]).is_file()
        assert text_language(row["report_text"]) == "en"
    info = json.loads((out / "build_en" / "english_view.json").read_text(encoding="utf-8"))
    assert info["with_english"] == info["studies"] == 6 and not info["problems"]


def test_english_rerun_is_cached(english_run):
    out, _ = english_run
    before = (out / "metrics.json").read_bytes()
    lines: list[str] = []
    run_bench(english_config(), out, log=lines.append)
    assert all(": cached" in line for line in lines if line.startswith("[")), lines
    assert (out / "metrics.json").read_bytes() == before


def test_report_language_is_validated():
    config = english_config()
    config.report_language = "fr"
    with pytest.raises(BenchError, match="report_language 'fr'"):
        validate_config(config)
    config = english_config()
    config.tasks = ["report", "vqa"]
    with pytest.raises(BenchError, match="VQA questions are generated from the Vietnamese reports"):
        validate_config(config)
