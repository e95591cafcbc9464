"""The vision-language model: 3D encoder -> projector -> any Hugging Face causal LM.

Shaped like LLaVA: a config object separate from the model, every part loadable by path, and
the projected visual tokens spliced into the LM's input embeddings at the positions the prompt
reserved for them. The LM is whatever `AutoModelForCausalLM` loads (GPT-2, LLaMA, Mistral, Qwen2,
or our small GPT-2 trained from scratch), so swapping the LM is a one-line config change.

A saved model folder holds `vlm_config.json`, `vision.safetensors` (encoder, projector, auxiliary
head), `tokenizer/`, and the LM only as far as it changed: nothing when it was frozen (the config
points at the base), a LoRA adapter in `lm_adapter/`, or the whole LM in `lm/` after full tuning.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vipet.errors import TrainError
from vipet.models.encoders import EncoderConfig, VisionEncoder, build_encoder, encoder_config_from_dict
from vipet.models.projector import Projector, ProjectorConfig
from vipet.models.prompts import IGNORE_INDEX, PromptEncoder

LM_MODES = ("frozen", "lora", "full")
CONFIG_NAME = "vlm_config.json"
VISION_WEIGHTS = "vision.safetensors"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class VLMConfig:
    """What to assemble. `lm` is a local folder (absolute, or relative to the saved model folder) or a hub name."""

    lm: str
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    lm_mode: str = "frozen"  # how the LM is trained: frozen | lora | full
    lm_adapter: str | None = None  # LoRA adapter folder inside the saved model folder
    lm_dtype: str = "float32"
    use_chat_template: bool | None = None  # None: use it when the tokenizer has one
    max_length: int = 512
    aux_bow_weight: float = 0.0  # weight of the image -> bag-of-answer-tokens auxiliary loss

    def __post_init__(self) -> None:
        if isinstance(self.encoder, dict):
            self.encoder = encoder_config_from_dict(self.encoder)
        if isinstance(self.projector, dict):
            self.projector = ProjectorConfig(**self.projector)
        if self.lm_mode not in LM_MODES:
            raise TrainError(f"lm_mode must be one of {LM_MODES}, got {self.lm_mode!r}")
        if self.lm_dtype not in DTYPES:
            raise TrainError(f"lm_dtype must be one of {sorted(DTYPES)}, got {self.lm_dtype!r}")
        if self.aux_bow_weight < 0:
            raise TrainError("aux_bow_weight must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["encoder"] = self.encoder.to_dict()
        out["projector"] = self.projector.to_dict()
        return out


def quiet_transformers() -> None:
    """Weight-loading progress bars would flood logs and test output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def resolve_lm_path(lm: str, base_dir: str | Path | None) -> str:
    """A relative `lm` is looked up beside the saved model first; a missing folder is taken as a hub name."""
    if base_dir is not None and not os.path.isabs(lm) and (Path(base_dir) / lm).exists():
        return str(Path(base_dir) / lm)
    return lm


def load_lm(lm: str, dtype: str = "float32"):
    """`AutoModelForCausalLM` and its tokenizer by path or hub name, with a one-line error when absent."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    try:
        model = AutoModelForCausalLM.from_pretrained(lm, dtype=DTYPES[dtype])
        tokenizer = AutoTokenizer.from_pretrained(lm)
    except (OSError, ValueError) as exc:
        raise TrainError(f"cannot load a causal LM and tokenizer ({str(exc).splitlines()[0]})", lm) from None
    return model, tokenizer


class VisionLanguageModel(nn.Module):
    """encoder -> projector -> LM; `forward` returns the answer-token loss (plus the auxiliary loss)."""

    def __init__(self, config: VLMConfig, lm: nn.Module, tokenizer, encoder: VisionEncoder | None = None):
        super().__init__()
        self.config = config
        self.lm = lm
        self.tokenizer = tokenizer
        self.encoder = encoder if encoder is not None else build_encoder(config.encoder)
        lm_dim = lm.get_input_embeddings().embedding_dim
        self.projector = Projector(config.projector, self.encoder.out_dim, lm_dim)
        self.bow_head = nn.Linear(2 * self.encoder.out_dim, len(tokenizer)) if config.aux_bow_weight > 0 else None
        self.prompts = PromptEncoder(tokenizer, self.encoder.num_tokens, config.use_chat_template, config.max_length)

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: VLMConfig, base_dir: str | Path | None = None) -> "VisionLanguageModel":
        lm, tokenizer = load_lm(resolve_lm_path(config.lm, base_dir), config.lm_dtype)
        return cls(config, lm, tokenizer)

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, trainable_adapter: bool = False) -> "VisionLanguageModel":
        """Rebuild a model saved by `save_pretrained` (base LM, adapter or full LM, vision weights, tokenizer)."""
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        folder = Path(folder)
        config_path = folder / CONFIG_NAME
        if not config_path.is_file():
            raise TrainError(f"not a saved VLM folder (no {CONFIG_NAME})", folder)
        config = VLMConfig(**json.loads(config_path.read_text(encoding="utf-8")))
        config.encoder.pretrained = None  # the saved vision weights below replace any original init
        lm, _ = load_lm(resolve_lm_path(config.lm, folder), config.lm_dtype)
        if config.lm_adapter:
            from peft import PeftModel

            lm = PeftModel.from_pretrained(lm, str(folder / config.lm_adapter), is_trainable=trainable_adapter)
        tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
        model = cls(config, lm, tokenizer)
        vision = load_file(str(folder / VISION_WEIGHTS))
        missing, unexpected = model.load_state_dict(vision, strict=False)
        vision_missing = [k for k in missing if not k.startswith("lm.")]
        if vision_missing or unexpected:
            raise TrainError(f"vision weights do not fit the config: missing {vision_missing[:3]}, unexpected {unexpected[:3]}", folder)
        return model

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write the folder `from_pretrained` reads; the LM only as far as training changed it."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = VLMConfig(**self.config.to_dict())
        config.encoder.pretrained = None
        if self.config.lm_mode == "full":
            self.lm.save_pretrained(folder / "lm")
            config.lm = "lm"
        elif self.config.lm_mode == "lora":
            self.lm.save_pretrained(folder / "lm_adapter")
            config.lm_adapter = "lm_adapter"
            config.lm = _portable_path(self.config.lm, folder)
        else:
            config.lm = _portable_path(self.config.lm, folder)
        vision = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items() if not k.startswith("lm.")}
        save_file(vision, str(folder / VISION_WEIGHTS))
        self.tokenizer.save_pretrained(folder / "tokenizer")
        (folder / CONFIG_NAME).write_text(json.dumps(config.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
        return folder

    # ---- forward ------------------------------------------------------------------------------
    def embed(self, images: torch.Tensor, input_ids: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
        """Token embeddings with the projected visual tokens written into the `image_mask` positions."""
        visual = self.encoder(images)
        return self._splice(self.projector(visual), input_ids, image_mask), visual

    def _splice(self, projected: torch.Tensor, input_ids: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
        embeds = self.lm.get_input_embeddings()(input_ids)
        counts = image_mask.sum(dim=1)
        if not bool((counts == projected.shape[1]).all()):
            raise TrainError(f"each row must reserve {projected.shape[1]} visual positions, got {counts.tolist()}")
        mask = image_mask.unsqueeze(-1).expand_as(embeds)
        return embeds.masked_scatter(mask, projected.to(embeds.dtype))

    def forward(
        self,
        images: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        image_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        embeds, visual = self.embed(images, input_ids, image_mask)
        out = self.lm(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels)
        result: dict[str, torch.Tensor] = {"logits": out.logits}
        if labels is None:
            return result
        result["lm_loss"] = out.loss
        loss = out.loss
        if self.bow_head is not None:
            result["aux_loss"] = self.bag_of_words_loss(visual, labels)
            loss = loss + self.config.aux_bow_weight * result["aux_loss"]
        result["loss"] = loss
        return result

    def bag_of_words_loss(self, visual: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Predict from the image alone which tokens the answer contains (multi-label BCE).

        Teaching a freshly initialised encoder through the LM loss alone is slow: the LM first learns
        the text prior and the gradient reaching the image is weak. This direct signal ("the report
        mentions `phổi`, `hạch`, `5,2`") makes the encoder find lesions early.
        """
        pooled = torch.cat([visual.mean(dim=1), visual.amax(dim=1)], dim=-1)
        logits = self.bow_head(pooled.float())
        targets = torch.zeros_like(logits)
        answer = labels.clamp(min=0)
        weight = (labels != IGNORE_INDEX) & (labels != self.prompts.eos_id) & (labels != self.prompts.pad_id)
        targets.scatter_(1, answer, weight.to(targets.dtype))
        return F.binary_cross_entropy_with_logits(logits, targets.clamp(max=1.0))

    # ---- generation ---------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        images: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        image_mask: torch.Tensor,
        **generation: Any,
    ) -> list[str]:
        """Answers for left-padded prompts; `generation` goes to `lm.generate` (beams, sampling, penalties)."""
        embeds, _ = self.embed(images, input_ids, image_mask)
        settings = {"pad_token_id": self.prompts.pad_id, "eos_token_id": self.prompts.eos_id, **generation}
        with warnings.catch_warnings():
            # Penalties on generated tokens only is what we want: the prompt is an instruction.
            warnings.filterwarnings("ignore", message=".*with `inputs_embeds` and without `input_ids`.*")
            new_tokens = self.lm.generate(inputs_embeds=embeds, attention_mask=attention_mask, **settings)
        return [text.strip() for text in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def _portable_path(lm: str, folder: Path) -> str:
    """Relative to the saved folder when the LM lives nearby (inside the same run), else as given."""
    if not os.path.exists(lm):
        return lm  # a hub name
    absolute = Path(lm).resolve()
    run_root = folder.resolve().parent
    if absolute.is_relative_to(run_root):
        return os.path.relpath(absolute, folder.resolve())
    return str(absolute)
