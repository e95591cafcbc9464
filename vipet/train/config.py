"""Experiment configs: one YAML file per stage, validated into typed dataclasses before anything runs.

A typo in a YAML key must stop the run with the file and the key named, not silently fall back to
a default after an hour of training; so every mapping is checked against its dataclass fields and
every value against its annotated type. The resolved config (defaults filled in) is written into
the run folder, which is what makes a run reproducible from its folder alone.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vipet.errors import TrainError
from vipet.models.encoders import EncoderConfig
from vipet.models.projector import ProjectorConfig
from vipet.models.small_lm import SmallLMConfig
from vipet.models.text_encoder import TextEncoderConfig
from vipet.schema import SAMPLE_REGIONS

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


@dataclass
class ModelConfig:
    lm: str = "small-gpt2"  # "small-gpt2" (built here) or a local HF folder / hub name
    small_lm: SmallLMConfig = field(default_factory=SmallLMConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    init_from: str | None = None  # a saved VLM folder (an earlier run's `final/`) to start from
    lm_mode: str = "full"  # finetune: "lora" or "full"; alignment always freezes the LM
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    train_encoder: bool = True
    lm_dtype: str = "float32"
    use_chat_template: bool | None = None
    max_length: int = 512
    aux_weight: float = 0.0  # auxiliary image -> findings loss (see vipet.models.findings)
    aux_targets: str = "findings"  # findings | tokens
    aux_tag_token: bool = False
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


def _convert(value: Any, annotation: Any, where: str) -> Any:
    """Check/convert one YAML value against a type annotation; `where` names it in errors."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, where)
            except TrainError as exc:
                errors.append(exc.reason)
        raise TrainError(errors[-1] if errors else f"{where}: bad value {value!r}")
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, dict):
            raise TrainError(f"{where}: expected a mapping, got {type(value).__name__}")
        return build_dataclass(annotation, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TrainError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(annotation)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise TrainError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise TrainError(f"{where}: expected true/false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TrainError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TrainError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise TrainError(f"{where}: expected text, got {value!r}")
        return value
    raise TrainError(f"{where}: unsupported config type {annotation!r}")


def build_dataclass(cls: type, values: dict[str, Any], where: str = "") -> Any:
    """`cls(**values)` with unknown keys and wrong types reported by their dotted name."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise TrainError(f"unknown key(s) {', '.join(f'{where}.{k}'.lstrip('.') for k in unknown)}; allowed: {sorted(names)}")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}".lstrip(".")) for k, v in values.items()}
    try:
        return cls(**kwargs)
    except TrainError as exc:
        raise TrainError(f"{where or cls.__name__}: {exc.reason}") from None


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
    if config.model.lm_mode not in ("lora", "full", "frozen"):
        raise TrainError(f"model.lm_mode must be lora, full or frozen, got {config.model.lm_mode!r}")
    if config.stage == "finetune" and config.model.lm_mode == "frozen" and not config.model.train_encoder:
        raise TrainError("finetune with a frozen LM and a frozen encoder trains only the projector: use stage alignment")
    train = config.train
    for name in ("max_steps", "batch_size", "grad_accum"):
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
        return validate(build_dataclass(RunConfig, values or {}))
    except TrainError as exc:
        raise TrainError(exc.reason, source) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a YAML config; `overrides` ({"train.max_steps": 10}) win over the file."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise TrainError("config file not found", path) from None
    except yaml.YAMLError as exc:
        raise TrainError(f"not valid YAML ({str(exc).splitlines()[0]})", path) from None
    if not isinstance(values, dict):
        raise TrainError("a config must be a YAML mapping", path)
    for dotted, value in (overrides or {}).items():
        node = values
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return config_from_dict(values, path)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain dict (lists, not tuples) for YAML/JSON, the form written into the run folder."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(config)


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(config), allow_unicode=True, sort_keys=False)
