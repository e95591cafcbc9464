"""Stages 2 and 3 of the paper on our VLM: which parts train, with which learning rates.

- alignment: the LM is frozen (and the encoder unless `train_encoder`); the projector learns to
  map visual tokens into the LM's embedding space (paper: lr 2e-3).
- finetune: LoRA adapters (peft) on the chosen LM modules plus the projector (paper: r=64,
  alpha=16, dropout 0.05, all linear layers, lr 2e-5), or full fine-tuning, which is what the
  small LM trained from scratch needs.

A config with `model.hf_vlm` runs a Hugging Face image-text-to-text VLM instead (LoRA on its LM,
or zero-shot with `train.max_steps: 0`); its task is built in `vipet.train.hf_stage`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from vipet.data.tasks import REGION_NAMES_VI, REPORT_INSTRUCTION
from vipet.errors import TrainError
from vipet.eval import evaluate_predictions
from vipet.models.registry import is_builtin_lm
from vipet.models.small_lm import create_small_lm
from vipet.models.hf_vlm import CONFIG_NAME as HF_VLM_CONFIG_NAME
from vipet.models.vlm import CONFIG_NAME as VLM_CONFIG_NAME, VisionLanguageModel
from vipet.train.batching import VLMCollator
from vipet.train.config import LoRAConfig, RunConfig
from vipet.train.generate import generate_records, write_jsonl
from vipet.train.loop import StageTask

SMALL_LM_DIR = "lm_init"


def tokenizer_corpus(items: Iterable[dict[str, Any]]) -> list[str]:
    """Texts the built-in tokenizer learns from: training answers, questions and the fixed prompts."""
    texts = [REPORT_INSTRUCTION.format(region=name) for name in REGION_NAMES_VI.values()]
    for item in items:
        texts += [t for t in (item.get("text"), item.get("question")) if t]
    return texts


def resolve_base_lm(config: RunConfig, run_dir: Path, train_texts: Sequence[str]) -> str:
    """The LM to start from: a path/hub name as given, or the small GPT-2 built into `run_dir/lm_init`."""
    if not is_builtin_lm(config.model.vlm.lm):
        return config.model.vlm.lm
    folder = run_dir / SMALL_LM_DIR
    if not (folder / "config.json").exists():  # a resumed run reuses the tokenizer and init it saved
        create_small_lm(train_texts, folder, config.model.small_lm, seed=config.seed)
    return str(folder)


def apply_lora(lm: nn.Module, lora: LoRAConfig) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    peft_config = LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules,
        task_type="CAUSAL_LM", bias="none",
    )
    try:
        return get_peft_model(lm, peft_config)
    except ValueError as exc:
        raise TrainError(f"LoRA cannot wrap this LM: {str(exc).splitlines()[0]}") from None


def build_stage_vlm(config: RunConfig, run_dir: Path, train_texts: Sequence[str]) -> VisionLanguageModel:
    """Assemble the VLM and set what trains for `config.stage`."""
    model_cfg = config.model
    lm_mode = "frozen" if config.stage == "alignment" else model_cfg.vlm.lm_mode
    torch.manual_seed(config.seed)
    if model_cfg.init_from:
        init = Path(model_cfg.init_from)
        model = VisionLanguageModel.from_pretrained(init, trainable_adapter=lm_mode == "lora")
        if lm_mode == "full" and model.config.lm_adapter:
            model.lm = model.lm.merge_and_unload()
            model.config.lm_adapter = None
    else:
        vlm_config = copy.deepcopy(model_cfg.vlm)
        vlm_config.lm = resolve_base_lm(config, run_dir, train_texts)
        model = VisionLanguageModel.from_config(vlm_config)
    model.config.lm_mode = lm_mode
    for param in model.lm.parameters():
        param.requires_grad_(lm_mode == "full")
    if lm_mode == "lora" and not _is_peft(model.lm):
        model.lm = apply_lora(model.lm, model_cfg.lora)
    if model_cfg.gradient_checkpointing:
        model.lm.gradient_checkpointing_enable()
    for param in model.encoder.parameters():
        param.requires_grad_(model_cfg.train_encoder and not model_cfg.vlm.encoder.freeze)
    for module in (model.projector, model.aux_head, model.tag_proj):
        if module is not None:
            for param in module.parameters():
                param.requires_grad_(True)
    return model


def _is_peft(lm: nn.Module) -> bool:
    return hasattr(lm, "peft_config")


def param_groups(model: nn.Module, lr: float, weight_decay: float, overrides: dict[str, float | None]) -> list[dict[str, Any]]:
    """Trainable parameters grouped by top-level part (encoder, projector, lm, ...) and by decay.

    Biases, norms and embeddings-like 1-D tensors get no weight decay; each part may have its own lr.
    """
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = name.split(".", 1)[0]
        part_lr = overrides.get(part) or lr
        decay = weight_decay if param.ndim >= 2 else 0.0
        groups.setdefault((part_lr, decay), []).append(param)
    if not groups:
        raise TrainError("nothing to train: every parameter is frozen")
    return [{"params": params, "lr": group_lr, "weight_decay": decay} for (group_lr, decay), params in groups.items()]


def frozen_lm_keys(model: nn.Module) -> set[str]:
    """State-dict names of LM weights that do not train (reloaded from the base, not checkpointed)."""
    return {name for name, param in model.named_parameters() if name.startswith("lm.") and not param.requires_grad}


def training_collator(model: VisionLanguageModel) -> VLMCollator:
    """The collator matching the model: auxiliary targets only when it has an auxiliary head."""
    return VLMCollator(model.prompts, model.config.aux_targets if model.aux_head is not None else None)


def vlm_loss_fn(model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    out = model(batch["image"], batch["input_ids"], batch["attention_mask"], batch["labels"],
                aux_targets=batch.get("aux_targets"), aux_mask=batch.get("aux_mask"))
    return {k: v for k, v in out.items() if k != "logits"}


def make_vlm_evaluator(config: RunConfig, val_items: Sequence[dict[str, Any]], run_dir: Path | None = None, *,
                       collate_of: Callable[[nn.Module], Callable] = training_collator,
                       loss_fn: Callable[[nn.Module, dict[str, Any]], dict[str, torch.Tensor]] = vlm_loss_fn):
    """Validation: teacher-forced loss, then generation scored by the evaluation suite.

    The generated texts are kept in `run_dir/val_predictions/step_N.jsonl` so a curve can be
    read against what the model actually wrote. `collate_of(model)` and `loss_fn` are the
    model kind's (the built-in VLM's by default; `vipet.train.hf_stage` passes the HF VLM's).
    """

    def evaluate(model: nn.Module, step: int) -> dict[str, float]:
        if not len(val_items):
            return {}
        device = next(model.parameters()).device
        collate = collate_of(model)
        losses = []
        with torch.no_grad():
            for start in range(0, len(val_items), config.generation.batch_size):
                batch = collate([val_items[i] for i in range(start, min(len(val_items), start + config.generation.batch_size))])
                batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
                losses.append(float(loss_fn(model, batch)["lm_loss"]))
        metrics = {"loss": sum(losses) / len(losses)}
        records = generate_records(model, val_items, config.generation, config.name)
        if run_dir is not None:
            write_jsonl(records, run_dir / "val_predictions" / f"step_{step:07d}.jsonl")
        metrics.update(score_records(records, config.eval.profile, config.eval.clinical))
        return metrics

    return evaluate


def score_records(records: list[dict[str, Any]], profile: str = "default", clinical: bool = True) -> dict[str, float]:
    """The evaluation suite's scores as a flat dict (`report.bleu_4`, `report.F1-T`, `vqa.closed.accuracy`).

    No bootstrap here (intervals are for the final test, not for a curve); per-type recalls are left out.
    """
    if not records:
        return {}
    metrics = evaluate_predictions(records, profile=profile, clinical=clinical, n_resamples=0)
    return flatten_scores(metrics)


def flatten_scores(metrics: dict[str, Any]) -> dict[str, float]:
    """`results.<model>.<task>.<part>.scores.<name>.value` -> `<task>.<name>` (`<task>.<part>.<name>` for VQA)."""
    out: dict[str, float] = {}
    for by_task in metrics.get("results", {}).values():
        for task, parts in by_task.items():
            for part, section in parts.items():
                for name, score in section.get("scores", {}).items():
                    if "[" in name or not isinstance(score, dict) or score.get("value") is None:
                        continue
                    key = f"{task}.{name}" if task == "report" else f"{task}.{part}.{name}"
                    out[key] = float(score["value"])
    return out


def build_vlm_task(config: RunConfig, run_dir: Path, train_data, val_items) -> StageTask:
    """The stage task of the built-in VLM (a Hugging Face VLM's is `vipet.train.hf_stage`'s, which uses this module)."""
    model = build_stage_vlm(config, run_dir, tokenizer_corpus(text_items_of(train_data)))
    overrides = {"encoder": config.train.lr_encoder, "projector": config.train.lr_projector,
                 "aux_head": config.train.lr_projector, "tag_proj": config.train.lr_projector}
    return StageTask(
        model=model,
        train_data=train_data,
        collate=training_collator(model),
        loss_fn=vlm_loss_fn,
        param_groups=param_groups(model, config.train.lr, config.train.weight_decay, overrides),
        evaluate=make_vlm_evaluator(config, val_items, run_dir),
        frozen_state_keys=frozen_lm_keys(model),
        num_workers=config.data.num_workers,
    )


def final_model_file(config: RunConfig) -> str:
    """The file a finished run's `final/` folder holds for `config`'s model kind (what `vipet
    generate` loads and a cache checks for): `vlm_config.json`, or `hf_vlm_config.json`."""
    return HF_VLM_CONFIG_NAME if config.model.hf_vlm is not None else VLM_CONFIG_NAME


def text_items_of(dataset) -> Iterable[dict[str, Any]]:
    """Text fields of every item, without loading images when the dataset can avoid it."""
    texts = getattr(dataset, "text_items", None)
    if callable(texts):
        return texts()
    return (dataset[i] for i in range(len(dataset)))
