"""Names the configs and the CLI use for models, so a YAML file can say `kind: cnn3d` or `lm: small-gpt2`.

Encoders are looked up by kind, the built-in LMs and text encoders by name (anything else is a
local path or a hub name handed to Hugging Face), and baselines by name for `vipet generate`.
"""

from __future__ import annotations

from vipet.errors import TrainError
from vipet.models.baselines import BASELINES
from vipet.models.encoders import ENCODER_CLASSES, VisionEncoder

BUILTIN_LMS = ("small-gpt2",)
BUILTIN_TEXT_ENCODERS = ("small-bert",)


def register_encoder(kind: str, cls: type[VisionEncoder]) -> None:
    """Make `kind` usable in `EncoderConfig(kind=...)`; the class takes the config and emits tokens."""
    if not (isinstance(cls, type) and issubclass(cls, VisionEncoder)):
        raise TrainError(f"encoder {kind!r} must subclass VisionEncoder")
    ENCODER_CLASSES[kind] = cls


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


def describe() -> dict[str, list[str]]:
    """Everything that can be named in a config, for `--help` texts and error messages."""
    return {
        "encoders": encoder_kinds(),
        "lms": list(BUILTIN_LMS) + ["<local path or hub name>"],
        "text_encoders": list(BUILTIN_TEXT_ENCODERS) + ["<local path or hub name>"],
        "baselines": baseline_names(),
    }
