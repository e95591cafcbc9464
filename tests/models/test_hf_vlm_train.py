"""A Hugging Face VLM as a stage config: `vipet train` (LoRA), `vipet generate` and `vipet evaluate`
end to end on a synthetic build, the zero-shot row (`--max-steps 0`), resume, and the refusals.

The model is the tiny random-weight LLaVA of test_hf_vlm saved to a folder (the smallest of the
three families whose processor saves without torchvision); nothing comes from a hub.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open
from typer.testing import CliRunner

from vipet.cli import app
from vipet.data.cache import META_FILE, study_dir
from vipet.errors import TrainError
from vipet.models.hf_vlm import HFVisionLanguageModel, RenderConfig, build_calibration
from vipet.models.prompts import IGNORE_INDEX
from vipet.train.config import DataConfig, GenerationConfig, config_from_dict
from vipet.train.data import open_split
from vipet.train.generate import generate_records, generate_to_file, read_jsonl
from vipet.train.run import train as run_train

from test_hf_vlm import BUILDERS, SIDE, build_llava, make_adapter

TASKS = dict(tasks=["report", "vqa"], regions=["chest"], max_questions=1)


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model, processor = build_llava()
    folder = tmp_path_factory.mktemp("llava") / "llava"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def write_config(path: Path, llava: Path, name: str = "tiny-hf", **render) -> Path:
    data = {**TASKS, "max_val_samples": 2}
    path.write_text(
        f"stage: finetune\nname: {name}\n"
        f"data: {json.dumps(data)}\n"
        "model:\n"
        f"  hf_vlm: {{path: {json.dumps(str(llava))}, render: {json.dumps({'views': ['mip', 'fused'], 'size': SIDE, **render})}}}\n"
        "  lora: {r: 4, alpha: 8, dropout: 0.0}\n"
        "train: {max_steps: 2, batch_size: 2, log_every: 1, save_every: 0, progress: false, warmup_steps: 1, lr: 0.01, threads: 1}\n"
        "generation: {max_new_tokens: 4, batch_size: 4}\n"
        "eval: {clinical: false}\n", encoding="utf-8")
    return path


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def split_ids(build: Path, split: str) -> list[str]:
    items = open_split(DataConfig(build=str(build), **TASKS), split, training=False, seed=0)
    return [items[i]["sample_id"] for i in range(len(items))]


def adapter_weights(folder: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(folder / "adapter" / "adapter_model.safetensors"), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}


@pytest.fixture(scope="module")
def trained_run(tiny_build, llava_dir, tmp_path_factory) -> tuple[Path, Path]:
    """`vipet train` of the config below: two LoRA steps (config path, run folder)."""
    root = tmp_path_factory.mktemp("hf_run")
    config, run = write_config(root / "hf.yaml", llava_dir), root / "run"
    output = cli("train", str(config), "--data", str(tiny_build), "--out", str(run))
    assert "2 steps (max_steps)" in output, output
    return config, run


def test_train_generate_evaluate_then_rerun_resumes(tiny_build, trained_run):
    config, run = trained_run
    final = run / "final"
    saved = json.loads((final / "hf_vlm_config.json").read_text(encoding="utf-8"))
    assert saved["adapter"] == "adapter" and Path(saved["path"]).name == "llava"
    assert saved["render"]["pet_channel_suv"] == 10.0 and saved["render"]["ct_channel_window"] == "wide"  # the build's
    trained = adapter_weights(final)
    assert trained and all("language_model" in key and "lora_" in key for key in trained)
    assert any(bool(value.abs().sum()) for key, value in trained.items() if "lora_B" in key)  # B left zero: 2 steps ran
    checkpoint = run / "checkpoints" / "step_0000002" / "model.safetensors"
    with safe_open(str(checkpoint), framework="pt") as handle:  # the base weights are never checkpointed
        assert sorted(handle.keys()) and all(".lora_" in key for key in handle.keys())

    cli("generate", str(run), str(tiny_build), "--split", "test")
    predictions = run / "predictions" / "test.jsonl"
    records = read_jsonl(predictions)
    assert [r["id"] for r in records] == split_ids(tiny_build, "test")
    assert {r["task"] for r in records} == {"report", "vqa"} and all(r["model"] == "tiny-hf" for r in records)
    assert all(r["study"] == r["id"].split(":")[0] for r in records)
    assert all("question" in r for r in records if r["task"] == "vqa")
    assert predictions.read_text(encoding="utf-8") == "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n"
                                                              for r in records)  # the one format
    metrics = json.loads(cli("evaluate", str(predictions), "--clinical", "--bootstrap", "20", "--json"))
    assert set(metrics["results"]) == {"tiny-hf"}
    report = metrics["results"]["tiny-hf"]["report"]
    assert {"bleu_4", "rouge_l", "cider_d"} <= set(report["nlg"]["scores"])
    assert {"F1-T", "F1-TPF"} <= set(report["clinical"]["scores"])
    assert metrics["results"]["tiny-hf"]["vqa"]

    before = {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()}
    output = cli("train", str(config), "--data", str(tiny_build), "--out", str(run))
    assert "resumed from step_0000002" in output and "2 steps" in output
    assert {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()} == before  # no step redone
    again = adapter_weights(final)
    assert again.keys() == trained.keys() and all(torch.equal(again[k], trained[k]) for k in trained)


def test_a_later_stage_trains_the_saved_adapter_on(tiny_build, llava_dir, trained_run, tmp_path):
    _, run = trained_run
    start = adapter_weights(run / "final")
    values = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    values.update(name="tiny-hf-more", data={**values["data"], "build": str(tiny_build)})
    values["model"]["init_from"] = str(run / "final")
    values["train"].update(max_steps=1, warmup_steps=0)  # warm-up would make the one step lr 0
    run_train(config_from_dict(values), tmp_path / "more", plot=False)
    more = adapter_weights(tmp_path / "more" / "final")
    assert more.keys() == start.keys() and any(not torch.equal(more[k], start[k]) for k in start)
    values["model"]["hf_vlm"]["path"] = str(tmp_path / "another-model")
    with pytest.raises(TrainError, match="was trained from .* not from model.hf_vlm.path"):
        run_train(config_from_dict(values), tmp_path / "other", plot=False)


def test_zero_shot_run_predicts_exactly_what_the_base_model_does(tiny_build, llava_dir, tmp_path):
    config, run = write_config(tmp_path / "hf.yaml", llava_dir, name="tiny-hf-zero"), tmp_path / "zero"
    output = cli("train", str(config), "--data", str(tiny_build), "--out", str(run), "--max-steps", "0")
    assert "0 steps" in output and not (run / "checkpoints").exists()
    cli("generate", str(run), str(tiny_build), "--split", "test")
    records = read_jsonl(run / "predictions" / "test.jsonl")
    assert any(r["prediction"] for r in records)  # the random model writes something, so equality means something

    torch.manual_seed(0)
    base = HFVisionLanguageModel.from_pretrained(llava_dir, RenderConfig(views=["mip", "fused"], size=SIDE))
    items = open_split(DataConfig(build=str(tiny_build), **TASKS), "test", training=False, seed=0)
    expected = generate_records(base, [items[i] for i in range(len(items))], GenerationConfig(max_new_tokens=4, batch_size=4),
                                "tiny-hf-zero")
    assert records == expected


def test_an_interrupted_generation_resumes_without_asking_again(tiny_build, tmp_path, make_items):
    adapter = make_adapter("llava")
    items = make_items(4, seed=6)
    settings = GenerationConfig(max_new_tokens=3, batch_size=2)
    full = read_jsonl(generate_to_file(adapter, items, settings, "m", tmp_path / "a.jsonl", progress=False))
    out = tmp_path / "b.jsonl"
    (tmp_path / "b.jsonl.partial").write_text(json.dumps(full[1]) + "\n{cut", encoding="utf-8")
    asked: list[str] = []
    generate_texts = adapter.generate_texts

    def counting(batch, **kwargs):
        asked.extend(item["sample_id"] for item in batch)
        return generate_texts(batch, **kwargs)

    adapter.generate_texts = counting
    assert read_jsonl(generate_to_file(adapter, items, settings, "m", out, progress=False)) == full
    assert asked == [items[i]["sample_id"] for i in (0, 2, 3)]


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_a_long_answer_is_cut_never_the_prompt(family, make_items):
    adapter = make_adapter(family)
    items = [item for item in make_items(4, seed=7) if item["task"] == "report"][:1]
    prompt_length = int(adapter.collate([{**items[0], "text": ""}])["attention_mask"].sum()) - 1  # minus the end token
    adapter.config.max_length = prompt_length + 3
    batch = adapter.collate(items)
    answer = adapter.tokenizer(items[0]["text"].strip(), add_special_tokens=False)["input_ids"]
    assert batch["input_ids"].shape[1] == prompt_length + 3
    assert all(batch[k].shape == batch["input_ids"].shape for k in batch if k in ("attention_mask", "token_type_ids",
                                                                                "mm_token_type_ids", "labels"))
    assert batch["labels"][0][batch["labels"][0] != IGNORE_INDEX].tolist() == answer[:3]
    assert torch.isfinite(adapter(**batch)["loss"])  # the cut batch still runs through the model
    adapter.config.max_length = prompt_length + 1
    with pytest.raises(TrainError, match="no room for an answer"):
        adapter.collate(items)


def test_refusals_name_the_problem(tiny_build, llava_dir, tmp_path):
    hf = {"path": str(llava_dir)}
    with pytest.raises(TrainError, match="only stage finetune"):
        config_from_dict({"stage": "alignment", "model": {"hf_vlm": hf}})
    with pytest.raises(TrainError, match="max_steps must be >= 1"):
        config_from_dict({"train": {"max_steps": 0}})  # zero-shot is for an HF VLM; the built-in one starts random
    with pytest.raises(TrainError, match="adapter is written by a saved model"):
        config_from_dict({"model": {"hf_vlm": {**hf, "adapter": "adapter"}}})
    config = write_config(tmp_path / "bad.yaml", llava_dir, pet_channel_suv=5.0)
    result = CliRunner().invoke(app, ["train", str(config), "--data", str(tiny_build), "--out", str(tmp_path / "bad")])
    assert result.exit_code == 1 and "pet_channel_suv is 5.0 but the build's channels say 10.0" in result.output


def test_a_build_mixing_channel_scales_is_refused(tmp_path):
    metas = {"a": {"channels": ["pet", "ct_wide"], "transforms": [{"name": "SUVScale", "suv_max": 10.0, "suv_min": 0.0}]},
             "b": {"channels": ["pet", "ct_wide"], "transforms": [{"name": "RawScale", "divisor": 32767.0}]}}
    for key, meta in metas.items():
        study_dir(tmp_path, key).mkdir(parents=True)
        (study_dir(tmp_path, key) / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    assert build_calibration(tmp_path, ["a"]) == {"pet_channel_suv": 10.0, "ct_channel_window": "wide"}
    with pytest.raises(TrainError, match="studies a .* and b .* different scales"):
        build_calibration(tmp_path, ["a", "b"])


def test_a_run_folder_written_before_hf_vlm_existed_still_resumes(tmp_path):
    from vipet.train.config import RunConfig, config_to_dict
    from vipet.train.run import prepare_run_dir

    earlier = config_to_dict(RunConfig())
    del earlier["model"]["hf_vlm"]  # the config.yaml of a run from before the key
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(earlier, allow_unicode=True, sort_keys=False), encoding="utf-8")
    prepare_run_dir(RunConfig(), tmp_path)  # the same run: resumed, not refused
    changed = config_from_dict({"model": {"hf_vlm": {"path": "somewhere"}}})
    with pytest.raises(TrainError, match="different config .*model.hf_vlm"):
        prepare_run_dir(changed, tmp_path)
