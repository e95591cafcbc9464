"""The paper's three stages end to end on tiny random GPT-2, LLaMA and Qwen2 LMs, plus exact resume."""

from __future__ import annotations

import copy

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from vipet.models.vlm import VisionLanguageModel
from vipet.train.config import config_from_dict
from vipet.train.contrastive import ENCODER_WEIGHTS
from vipet.train.generate import generate_to_file, read_jsonl
from vipet.train.loop import list_checkpoints
from vipet.train.run import train as run_train
from vipet.train.runlog import read_metrics

ENCODER = {"input_size": [8, 16, 16], "token_grid": [1, 2, 2], "channels": [8, 16], "out_dim": 32}


def tiny_config(stage: str, **model):
    values = {
        "stage": stage, "name": f"tiny-{stage}", "seed": 3,
        "data": {"tasks": ["report"] if stage == "contrastive" else ["report", "vqa"]},
        "model": {"encoder": dict(ENCODER), "small_lm": {"vocab_size": 400, "n_layer": 2, "n_embd": 32, "n_head": 2,
                                                         "min_frequency": 1},
                  "text_encoder": {"vocab_size": 400, "hidden_size": 32, "num_heads": 2},
                  "embed_dim": 16, "lora": {"r": 4, "alpha": 8, "dropout": 0.0}, **model},
        "train": {"max_steps": 2, "batch_size": 4, "warmup_steps": 1, "log_every": 1, "save_every": 0,
                  "eval_every": 0, "progress": False, "lr": 1e-2},
        "generation": {"max_new_tokens": 5, "batch_size": 4},
        "eval": {"clinical": False},
    }
    return config_from_dict(values)


def train(*args, **kwargs):
    """Stage runs without the curve PNG (matplotlib is slow to start; test_runlog covers the plot)."""
    return run_train(*args, plot=False, **kwargs)


def reports_only(items):
    return [item for item in items if item["task"] == "report"]


@pytest.fixture(scope="module")
def encoder_weights(tmp_path_factory, make_items):
    """Stage 1 once: contrastive pretraining with the built-in small text encoder."""
    run_dir = tmp_path_factory.mktemp("stage1")
    summary = train(tiny_config("contrastive"), run_dir, reports_only(make_items(16, 0)), reports_only(make_items(8, 1)))
    assert summary["steps"] == 2 and {"val_i2t_top1", "val_i2t_top5", "val_loss"} <= set(summary["last"])
    assert (run_dir / "final" / "text_encoder" / "config.json").exists()
    return run_dir / "final" / ENCODER_WEIGHTS


@pytest.mark.parametrize("family", ["gpt2", "llama", "qwen2"])
def test_three_stages_then_generation(family, tiny_lms, make_items, encoder_weights, tmp_path):
    train_items, val_items = make_items(16, 0), make_items(6, 1)
    # Stage 2: encoder from stage 1 (frozen), LM frozen, projector learns.
    align = tiny_config("alignment", lm=tiny_lms[family], train_encoder=False,
                        encoder={**ENCODER, "pretrained": str(encoder_weights)})
    train(align, tmp_path / "stage2", train_items, val_items)
    stage2 = tmp_path / "stage2" / "final"
    aligned = VisionLanguageModel.from_pretrained(stage2)
    base = AutoModelForCausalLM.from_pretrained(tiny_lms[family])  # the frozen LM is untouched
    assert all(torch.equal(a, b) for a, b in zip(aligned.lm.state_dict().values(), base.state_dict().values()))
    stage1 = load_file(str(encoder_weights))
    assert all(torch.equal(aligned.encoder.state_dict()[k], v) for k, v in stage1.items())
    assert not (stage2 / "lm").exists() and not (stage2 / "lm_adapter").exists()
    # Stage 3: LoRA on all linear layers + projector, from the stage-2 model.
    finetune = tiny_config("finetune", init_from=str(stage2), lm_mode="lora")
    summary = train(finetune, tmp_path / "stage3", train_items, val_items)
    assert summary["steps"] == 2 and summary["last"]["val_loss"] > 0
    stage3 = tmp_path / "stage3" / "final"
    assert (stage3 / "lm_adapter" / "adapter_config.json").exists()
    tuned = VisionLanguageModel.from_pretrained(stage3)
    assert not torch.equal(tuned.projector.net[0].weight, aligned.projector.net[0].weight)
    out = generate_to_file(tuned, val_items, finetune.generation, "tiny", tmp_path / "preds.jsonl", progress=False)
    records = read_jsonl(out)
    assert [r["id"] for r in records] == [item["sample_id"] for item in val_items]
    assert {r["task"] for r in records} == {"report", "vqa"}
    assert all(set(r) >= {"id", "task", "prediction", "reference", "model"} for r in records)
    assert all(("question" in r) == (r["task"] == "vqa") for r in records)


def test_checkpoints_hold_only_what_trains(tiny_lms, make_items, tmp_path):
    config = tiny_config("finetune", lm=tiny_lms["llama"], lm_mode="lora")
    config.train.save_every = 1
    config.train.keep_checkpoints = 1
    train(config, tmp_path, make_items(16, 0), make_items(4, 1))
    checkpoints = list_checkpoints(tmp_path)
    assert [step for step, _ in checkpoints] == [2]  # older ones pruned
    saved = load_file(str(checkpoints[0][1] / "model.safetensors"))
    lm_keys = [k for k in saved if k.startswith("lm.")]
    assert lm_keys and all("lora_" in k for k in lm_keys)
    assert any(k.startswith("encoder.") for k in saved) and any(k.startswith("projector.") for k in saved)


def _losses(run_dir):
    return [(r["step"], r["value"]) for r in read_metrics(run_dir / "metrics.csv") if r["split"] == "train" and r["name"] == "loss"]


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_resume_gives_the_identical_next_step_loss(mode, tiny_lms, make_items, tmp_path):
    """Pause after 3 of 5 steps, restart from the checkpoint: steps 4 and 5 match the run that never stopped.

    Accumulation over 2 micro-batches, 3 optimizer steps per epoch (so resume lands mid-epoch) and
    dropout in the small LM all have to be restored exactly for this to hold.
    """
    lm = "small-gpt2" if mode == "full" else tiny_lms["qwen2"]
    config = tiny_config("finetune", lm=lm, lm_mode=mode, aux_weight=0.5, aux_tag_token=True)
    config.train.max_steps, config.train.grad_accum, config.train.batch_size = 5, 2, 2
    config.model.small_lm.dropout = 0.2
    train_items, val_items = make_items(12, 0), make_items(2, 1)
    train(copy.deepcopy(config), tmp_path / "straight", train_items, val_items)
    paused = train(copy.deepcopy(config), tmp_path / "resumed", train_items, val_items, stop_at=3)
    assert paused["stop_reason"] == "stop_at" and not (tmp_path / "resumed" / "final").exists()
    train(copy.deepcopy(config), tmp_path / "resumed", train_items, val_items)
    straight, resumed = _losses(tmp_path / "straight"), _losses(tmp_path / "resumed")
    assert [s for s, _ in resumed] == [1, 2, 3, 4, 5]
    assert resumed == straight  # bit-identical, not approximately equal


def test_a_different_config_in_a_used_run_folder_is_refused(tiny_lms, make_items, tmp_path):
    from vipet.errors import TrainError

    config = tiny_config("finetune", lm=tiny_lms["gpt2"])
    train(copy.deepcopy(config), tmp_path, make_items(8, 0), make_items(2, 1))
    config.train.lr = 0.5
    with pytest.raises(TrainError, match=r"different config \(train\.lr\)"):
        train(config, tmp_path, make_items(8, 0), make_items(2, 1))
