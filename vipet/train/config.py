"""Experiment configs: one YAML file per stage, validated into typed dataclasses before anything runs.

A typo in a YAML key must stop the run with the file and the key named, not silently fall back to
a default after an hour of training: the mappings go through `vipet.typed_config`, the one loader of
the package, which checks every key against its dataclass fields and every value against its type.
The resolved config (defaults filled in) is written into the run folder, which is what makes a run
reproducible from its folder alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vipet.errors import TrainError
from vipet.models.hf_vlm import HFVLMConfig
from vipet.models.registry import BUILTIN_LMS
from vipet.models.small_lm import SmallLMConfig
from vipet.models.text_encoder import TextEncoderConfig
from vipet.models.vlm import VLMConfig
from vipet.schema import SAMPLE_REGIONS
from vipet.typed_config import INLINE, from_mapping, load_yaml, to_mapping

STAGES = ("contrastive", "alignment", "finetune")
TASKS = ("report", "vqa")


@dataclass
class DataConfig:
    build: str = ""  # output folder of `vipet build` (holds manifest.parquet)
    tasks: list[str] = field(default_factory=lambda: ["report"])
    regions: list[str] | None = None  # None: every region the build has
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"
    max_train_samples: int | None = None
    max_val_samples: int | None = 32
    max_questions: int | None = None  # VQA pairs kept per sample (None: all the toolkit writes)
    augment_text: float = 0.0  # probability of rewriting a training report (facts kept)
    augment_image: bool = False
    num_workers: int = 0


@dataclass
class LoRAConfig:
    r: int = 64
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"


def _default_vlm() -> VLMConfig:
    """The built-in small GPT-2, fully trained (finetune: "lora" or "full"; alignment always freezes the LM)."""
    return VLMConfig(lm=BUILTIN_LMS[0], lm_mode="full")


@dataclass
class ModelConfig:
    """The VLM to assemble and how to train it.

    `vlm` is the model's own config (`lm`, `encoder`, `projector`, `lm_mode`, `aux_weight`, ...),
    written inline in YAML (`model.lm`, not `model.vlm.lm`); `lm` is "small-gpt2" (built here from
    `small_lm`) or a local HF folder / hub name. The other fields only matter while training.

    `hf_vlm` set instead selects a Hugging Face image-text-to-text VLM (`vipet.models.hf_vlm`:
    `path` a local model folder, `render` the pictures each region volume becomes, `dtype`,
    `max_length`): it replaces the 3D encoder, projector and `lm`, trains LoRA adapters on its
    language model (`lora`, `init_from`, `gradient_checkpointing` apply) and, with
    `train.max_steps: 0`, is the zero-shot row. Null by default, so earlier run folders resume.
    """

    vlm: VLMConfig = field(default_factory=_default_vlm, metadata=INLINE)
    hf_vlm: HFVLMConfig | None = None
    small_lm: SmallLMConfig = field(default_factory=SmallLMConfig)
    init_from: str | None = None  # a saved VLM folder (an earlier run's `final/`) to start from
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    train_encoder: bool = True
    gradient_checkpointing: bool = False
    # contrastive stage
    text_encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    embed_dim: int = 256
    temperature: float = 0.07


@dataclass
class DeepSpeedConfig:
    zero_stage: int = 2
    offload_optimizer: bool = False


@dataclass
class TrainConfig:
    max_steps: int = 1000
    max_minutes: float | None = None  # wall-clock budget; the run stops cleanly and checkpoints
    # The global batch: with N processes (accelerate launch) each takes batch_size / N items, so the
    # same config trains on the same batches whatever the process count (it must divide evenly).
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 1e-3
    lr_projector: float | None = None
    lr_encoder: float | None = None
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    max_grad_norm: float = 1.0
    log_every: int = 10
    eval_every: int = 0  # 0: only at the end
    save_every: int = 200
    keep_checkpoints: int = 2
    mixed_precision: str = "no"  # no | bf16 | fp16
    deepspeed: DeepSpeedConfig | None = None
    cpu: bool = False  # force CPU even when a GPU is visible
    threads: int | None = None  # torch intra-op threads (CPU); None: torch's default
    progress: bool = True


@dataclass
class GenerationConfig:
    max_new_tokens: int = 256
    num_beams: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    batch_size: int = 8

    def to_generate_kwargs(self) -> dict[str, Any]:
        """Only the settings that differ from plain greedy, so any LM's generation config stays valid."""
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams, "do_sample": self.do_sample}
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        if self.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = self.repetition_penalty
        if self.no_repeat_ngram_size:
            kwargs["no_repeat_ngram_size"] = self.no_repeat_ngram_size
        return kwargs


@dataclass
class EvalConfig:
    profile: str = "default"
    clinical: bool = True


@dataclass
class RunConfig:
    stage: str = "finetune"
    name: str = "vipet-vlm"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def validate(config: RunConfig) -> RunConfig:
    """Cross-field rules that single types cannot express."""
    if config.stage not in STAGES:
        raise TrainError(f"stage must be one of {STAGES}, got {config.stage!r}")
    bad_tasks = [t for t in config.data.tasks if t not in TASKS]
    if bad_tasks or not config.data.tasks:
        raise TrainError(f"data.tasks must be a non-empty subset of {TASKS}, got {config.data.tasks}")
    if config.data.regions is not None and any(r not in SAMPLE_REGIONS for r in config.data.regions):
        raise TrainError(f"data.regions must be a subset of {SAMPLE_REGIONS}, got {config.data.regions}")
    if not 0.0 <= config.data.augment_text <= 1.0:
        raise TrainError("data.augment_text is a probability in [0, 1]")
    if config.stage == "contrastive" and config.data.tasks != ["report"]:
        raise TrainError("the contrastive stage pairs images with reports: data.tasks must be [report]")
    if config.model.vlm.lm_adapter is not None:
        raise TrainError("model.lm_adapter is written by a saved model: start from one with model.init_from")
    if config.stage == "finetune" and config.model.vlm.lm_mode == "frozen" and not config.model.train_encoder:
        raise TrainError("finetune with a frozen LM and a frozen encoder trains only the projector: use stage alignment")
    hf_vlm = config.model.hf_vlm
    if hf_vlm is not None:
        if config.stage != "finetune":
            raise TrainError(f"model.hf_vlm is an aligned VLM: only stage finetune (LoRA or zero-shot) applies, got {config.stage!r}")
        if hf_vlm.adapter is not None:
            raise TrainError("model.hf_vlm.adapter is written by a saved model: start from one with model.init_from")
        if not hf_vlm.path:
            raise TrainError("model.hf_vlm.path must name a local model folder")
    train = config.train
    if train.max_steps < (0 if hf_vlm is not None else 1):
        raise TrainError("train.max_steps must be >= 1 (0, the zero-shot run, is for model.hf_vlm)")
    for name in ("batch_size", "grad_accum"):
        if getattr(train, name) < 1:
            raise TrainError(f"train.{name} must be >= 1")
    if train.lr <= 0 or train.warmup_steps < 0 or not 0.0 <= train.min_lr_ratio <= 1.0:
        raise TrainError("train.lr must be > 0, warmup_steps >= 0 and min_lr_ratio in [0, 1]")
    if train.mixed_precision not in ("no", "bf16", "fp16"):
        raise TrainError(f"train.mixed_precision must be no, bf16 or fp16, got {train.mixed_precision!r}")
    if train.deepspeed is not None and train.deepspeed.zero_stage not in (0, 1, 2, 3):
        raise TrainError("train.deepspeed.zero_stage must be 0..3")
    if config.generation.num_beams < 1 or config.generation.max_new_tokens < 1:
        raise TrainError("generation.num_beams and generation.max_new_tokens must be >= 1")
    if config.model.lora.r < 1 or config.model.lora.alpha < 1:
        raise TrainError("model.lora.r and model.lora.alpha must be >= 1")
    return config


def config_from_dict(values: dict[str, Any], source: str | Path | None = None) -> RunConfig:
    try:
        return validate(from_mapping(RunConfig, values, source, error=TrainError))
    except TrainError as exc:
        raise TrainError(exc.reason, source) from None


def apply_overrides(values: dict[str, Any], overrides: dict[str, Any] | None, source: str | Path | None = None) -> dict[str, Any]:
    """`values` with each dotted override ({"train.max_steps": 10}) set, creating the mappings on its way."""
    for dotted, value in (overrides or {}).items():
        node = values
        *parents, leaf = dotted.split(".")
        for key in parents:
            if node.get(key) is None:
                node[key] = {}
            node = node[key]
            if not isinstance(node, dict):
                raise TrainError(f"override {dotted}: {key} is not a mapping in the config", source)
        node[leaf] = value
    return values


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a YAML config; `overrides` ({"train.max_steps": 10}) win over the file."""
    values = load_yaml(path, error=TrainError)
    return config_from_dict(apply_overrides(values, overrides, path), path)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain dict (lists, not tuples) for YAML/JSON, the form written into the run folder."""
    return to_mapping(config)


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(config), allow_unicode=True, sort_keys=False)
