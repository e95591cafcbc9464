"""YAML configs: every example validates; typos and wrong types stop the run naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vipet.errors import TrainError
from vipet.train.config import RunConfig, config_from_dict, dump_config, load_config

SHIPPED = sorted((Path(__file__).resolve().parents[2] / "vipet" / "configs").glob("**/*.yaml"))
# Stage configs say their `stage`; the others are a bench config and the bench's `kind: lm` rows.
CONFIGS = [p for p in SHIPPED if "stage" in (yaml.safe_load(p.read_text(encoding="utf-8")) or {})]
OTHERS = [p for p in SHIPPED if p not in CONFIGS]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_example_config_validates_and_round_trips(path, tmp_path):
    config = load_config(path)
    assert isinstance(config, RunConfig)
    again = tmp_path / "resolved.yaml"
    again.write_text(dump_config(config), encoding="utf-8")
    assert load_config(again) == config


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: p.name)
def test_every_shipped_non_stage_config_is_a_valid_bench_or_lm_config(path):
    from vipet.bench import resolve_config, validate_config
    from vipet.models.fewshot_lm import load_fewshot_config

    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "models" in values:  # a bench config: every field and every model entry's config checked
        validate_config(resolve_config(path))
    else:
        assert load_fewshot_config(path).lm


def test_examples_cover_the_three_stages():
    assert {load_config(p).stage for p in CONFIGS} == {"contrastive", "alignment", "finetune"}


def test_values_are_typed_and_defaults_filled():
    config = config_from_dict({"model": {"encoder": {"input_size": [16, 32, 32]}}, "train": {"lr": 1}})
    assert config.model.vlm.encoder.input_size == (16, 32, 32)
    assert config.train.lr == 1.0 and isinstance(config.train.lr, float)
    assert config.train.betas == (0.9, 0.95) and config.model.lora.r == 64


@pytest.mark.parametrize("values,message", [
    ({"train": {"max_step": 10}}, r"unknown key\(s\) train\.max_step; known: max_steps, max_minutes, batch_size"),
    ({"model": {"encoder": {"chanels": [8]}}}, r"model\.encoder\.chanels"),
    ({"train": {"batch_size": "eight"}}, r"train\.batch_size: expected an integer"),
    ({"train": {"progress": "yes"}}, r"train\.progress: expected true/false"),
    ({"stage": "pretrain"}, "stage must be one of"),
    ({"data": {"tasks": ["caption"]}}, "data.tasks"),
    ({"model": {"encoder": {"kind": "resnet"}}}, "encoder kind must be one of"),
    ({"train": {"mixed_precision": "fp8"}}, "mixed_precision"),
    ({"stage": "contrastive", "data": {"tasks": ["vqa"]}}, "contrastive stage pairs images with reports"),
    ({"train": {"betas": [0.9]}}, r"train\.betas: expected 2 values"),
])
def test_bad_configs_name_the_problem(values, message):
    with pytest.raises(TrainError, match=message):
        config_from_dict(values)


def test_file_errors_and_overrides(tmp_path):
    with pytest.raises(TrainError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n", encoding="utf-8")
    with pytest.raises(TrainError, match="not valid YAML") as info:
        load_config(bad)
    assert str(bad) in str(info.value)
    typo = tmp_path / "typo.yaml"
    typo.write_text("train:\n  lr_sched: cosine\n", encoding="utf-8")
    with pytest.raises(TrainError, match="train.lr_sched") as info:
        load_config(typo)
    assert str(typo) in str(info.value)
    good = tmp_path / "good.yaml"
    good.write_text("train:\n  max_steps: 5\n", encoding="utf-8")
    config = load_config(good, {"train.max_steps": 7, "data.build": "somewhere"})
    assert config.train.max_steps == 7 and config.data.build == "somewhere"


def test_the_model_section_holds_the_vlm_config_inline():
    """`model.lm`, `model.encoder`, `model.aux_weight` ... fill the `VLMConfig` the stages hand to the model."""
    from vipet.models.vlm import VLMConfig

    config = config_from_dict({"model": {"lm": "some/lm", "aux_weight": 0.5, "encoder": {"out_dim": 64},
                                         "image_token_id": 7, "train_encoder": False}})
    assert isinstance(config.model.vlm, VLMConfig)
    assert (config.model.vlm.lm, config.model.vlm.aux_weight, config.model.vlm.image_token_id) == ("some/lm", 0.5, 7)
    assert config.model.vlm.encoder.out_dim == 64 and config.model.train_encoder is False
    assert config.model.vlm.lm_mode == "full"  # the training default kept when other VLM keys are given
    assert config_from_dict({}).model.vlm == VLMConfig(lm="small-gpt2", lm_mode="full")
    dumped = yaml.safe_load(dump_config(config))["model"]
    assert "vlm" not in dumped and dumped["lm"] == "some/lm" and dumped["encoder"]["out_dim"] == 64
    with pytest.raises(TrainError, match="lm_mode must be one of"):
        config_from_dict({"model": {"lm_mode": "half"}})
    with pytest.raises(TrainError, match="model.lm_adapter is written by a saved model"):
        config_from_dict({"model": {"lm_adapter": "lm_adapter"}})
    with pytest.raises(TrainError, match=r"unknown key\(s\) model\.vlm;"):
        config_from_dict({"model": {"vlm": {"lm": "x"}}})


def test_overrides_create_missing_sections_and_refuse_a_scalar_parent(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  deepspeed: null\n  lr: 0.1\n", encoding="utf-8")
    config = load_config(path, {"train.deepspeed.zero_stage": 3, "model.encoder.out_dim": 64})
    assert config.train.deepspeed.zero_stage == 3 and config.model.vlm.encoder.out_dim == 64
    with pytest.raises(TrainError, match=r"override train\.lr\.x: lr is not a mapping") as info:
        load_config(path, {"train.lr.x": 1})
    assert str(path) in str(info.value)
