"""Fine-tuning (LoRA) and zero-shot runs of any Hugging Face image-text-to-text VLM, as a stage.

A stage config with `model.hf_vlm` set (`vipet.train.config.ModelConfig`) runs through the same
`vipet train` loop, run folder, validation and `vipet generate` as the built-in VLM; only what
the model is differs: the adapter (`vipet.models.hf_vlm`) renders each region volume into the
pictures the model reads, its collate replaces the 3D encoder path, and only LoRA adapters on its
language model train (`model.lora`; "all-linear" is every linear layer of that LM).

`train.max_steps: 0` is the zero-shot row: the adapter is created but never stepped, and LoRA
starts with B = 0, so the saved model computes exactly what the base model computes (a test pins
the predictions equal). It keeps one path for both rows: train, then predict from `final/`.

The PET and CT channels mean what the build recorded (`SUVScale`, the CT window), read from the
build's studies at training and again at generation time, so pictures always show SUV and HU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from vipet.errors import TrainError
from vipet.models.hf_vlm import HFVisionLanguageModel, HFVLMConfig, build_calibration, calibrated_render
from vipet.train.batching import vlm_loss_counts
from vipet.train.config import RunConfig
from vipet.train.loop import LossParts, StageTask
from vipet.train.stages import make_vlm_evaluator, param_groups


def build_study_keys(build: str | Path) -> list[str]:
    """Every study a build's manifest lists (the studies whose channels the pictures must read right)."""
    from vipet.data.manifest import read_manifest

    return sorted({row["study_key"] for row in read_manifest(build)})


def build_hf_vlm(config: RunConfig) -> HFVisionLanguageModel:
    """The HF VLM of `config.model.hf_vlm` (or its earlier run `model.init_from`) with LoRA adapters to train.

    With `init_from` (a `final/` folder of an earlier HF VLM run) its adapter trains on; the base
    model it names must be the one this config names.
    """
    hf = config.model.hf_vlm
    if hf is None:
        raise TrainError("model.hf_vlm is not set: this config trains the built-in VLM")
    torch.manual_seed(config.seed)
    if config.model.init_from:
        model = HFVisionLanguageModel.from_pretrained(config.model.init_from, trainable_adapter=True)
        if not _same_base(model.config.path, hf.path):
            raise TrainError(f"model.init_from was trained from {model.config.path}, not from model.hf_vlm.path "
                             f"{hf.path}", config.model.init_from)
        model.config.max_length = hf.max_length
    else:
        model = HFVisionLanguageModel.from_config(HFVLMConfig(path=hf.path, render=hf.render, dtype=hf.dtype,
                                                              max_length=hf.max_length))
    if not config.data.build:
        raise TrainError("model.hf_vlm reads what the PET and CT channels mean from the build: set data.build")
    calibration = build_calibration(config.data.build, build_study_keys(config.data.build))
    model.config.render = calibrated_render(hf.render, calibration, configured=True, source="model.hf_vlm")
    if config.model.gradient_checkpointing:  # non-reentrant: gradients reach the adapters of a frozen base
        enable = getattr(model.model, "activation_checkpointing_enable", None)  # transformers >= 5.2x's name
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if not hasattr(model.model, "peft_config"):
        lora = config.model.lora
        model.add_lora(r=lora.r, alpha=lora.alpha, dropout=lora.dropout, target_modules=lora.target_modules)
    return model


def _same_base(saved: str, configured: str) -> bool:
    return Path(saved).resolve() == Path(configured).resolve() if Path(configured).exists() else saved == configured


def hf_loss_fn(model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The answer-token loss of a batch from `HFVisionLanguageModel.collate` (only tensors in it)."""
    return model(**batch)


def frozen_keys(model: nn.Module) -> set[str]:
    """Every state-dict name but the trainable adapters: the base weights are reloaded from the base
    folder, never checkpointed (tied names included, which `named_parameters` lists only once)."""
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    return {name for name in model.state_dict() if name not in trainable}


def build_hf_vlm_task(config: RunConfig, run_dir: Path, train_data, val_items) -> StageTask:
    model = build_hf_vlm(config)
    return StageTask(
        model=model,
        train_data=train_data,
        collate=model.collate,
        loss_fn=hf_loss_fn,
        param_groups=param_groups(model, config.train.lr, config.train.weight_decay, {}),
        evaluate=make_vlm_evaluator(config, val_items, run_dir, collate_of=lambda m: m.collate, loss_fn=hf_loss_fn),
        frozen_state_keys=frozen_keys(model),
        num_workers=config.data.num_workers,
        # transformers' loss is the mean over the shifted answer labels, as the built-in VLM's lm_loss
        loss_parts=LossParts({"lm_loss": 1.0}, vlm_loss_counts),
    )


def load_hf_vlm_for(final: str | Path, build: str | Path) -> HFVisionLanguageModel:
    """A saved run's HF VLM, its pictures calibrated to the channels of `build` (the one predicted)."""
    model = HFVisionLanguageModel.from_pretrained(final)
    model.config.render = calibrated_render(model.config.render, build_calibration(build, build_study_keys(build)))
    return model
