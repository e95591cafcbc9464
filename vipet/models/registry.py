"""Names the configs and the CLI use for models, so a YAML file can say `kind: cnn3d` or `lm: small-gpt2`.

Encoders are looked up by kind, the built-in LMs and text encoders by name (anything else is a
local path or a hub name handed to Hugging Face), and baselines by name for `vipet generate`.
"""

from __future__ import annotations

from vipet.errors import TrainError
from vipet.models.baselines import BASELINES
from vipet.models.encoders import ENCODER_CLASSES, VisionEncoder
from vipet.models.gemma import GEMMA_NAME
from vipet.models.pretrained_encoders import KIND as I3RESNET_KIND, I3ResNetEncoder

BUILTIN_LMS = ("small-gpt2",)
# What a bench `models:` entry can be (`kind:`), and the leaderboard group it lands in by default.
# vlm: a stage config trained by `vipet train` (the small VLM or any LM it names); api: an
# OpenAI-compatible endpoint shown k training examples (`vipet.models.api_chat`; k = 0 is zero-shot);
# lm: a local causal LM shown the same examples as a text prompt (`vipet.models.fewshot_lm`).
MODEL_KINDS: dict[str, str] = {"vlm": "fine-tuned", "api": "few-shot", "lm": "few-shot"}
LEADERBOARD_GROUPS = ("zero-shot", "few-shot", "fine-tuned", "baseline")  # the paper's order, baselines last
BUILTIN_TEXT_ENCODERS = ("small-bert",)


def register_encoder(kind: str, cls: type[VisionEncoder]) -> None:
    """Make `kind` usable in `EncoderConfig(kind=...)`; the class takes the config and emits tokens."""
    if not (isinstance(cls, type) and issubclass(cls, VisionEncoder)):
        raise TrainError(f"encoder {kind!r} must subclass VisionEncoder")
    ENCODER_CLASSES[kind] = cls


# Pretrained CT backbones (`encoder.pretrained: astra`); registered here because their module builds
# on vipet.models.encoders, which therefore cannot list them itself.
register_encoder(I3RESNET_KIND, I3ResNetEncoder)


def encoder_kinds() -> list[str]:
    return sorted(ENCODER_CLASSES)


def is_builtin_lm(name: str) -> bool:
    return name in BUILTIN_LMS


def is_builtin_text_encoder(name: str | None) -> bool:
    return name is None or name in BUILTIN_TEXT_ENCODERS


def is_baseline(name: str) -> bool:
    return name in BASELINES


def baseline_names() -> list[str]:
    """The registered baselines, in the order the benchmark runs and lists them."""
    return list(BASELINES)


def model_kinds() -> list[str]:
    return list(MODEL_KINDS)


def is_api_spec(name: str) -> bool:
    """`api:CONFIG.yaml` or `api:URL#MODEL`, as `vipet generate` and `vipet serve --model` take them."""
    return name.startswith("api:")


def describe() -> dict[str, list[str]]:
    """Everything that can be named in a config, for `--help` texts and error messages."""
    return {
        "encoders": encoder_kinds(),
        "lms": list(BUILTIN_LMS) + [GEMMA_NAME, "<local .gguf file>", "<local path or hub name>"],
        "text_encoders": list(BUILTIN_TEXT_ENCODERS) + ["<local path or hub name>"],
        "baselines": baseline_names(),
        "model_kinds": model_kinds(),
    }
