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

import dataclasses
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
from vipet.models.encoders import EncoderConfig, VisionEncoder, build_encoder
from vipet.models.findings import finding_labels
from vipet.models.hf_logging import quiet_transformers
from vipet.models.gemma import (answer_logits_only, default_image_token_id, embedding_scale, names_gguf_lm,
                                resolve_gguf_lm)
from vipet.models.projector import Projector, ProjectorConfig
from vipet.models.registry import encoder_kinds  # importing it registers every kind a saved VLM may name
from vipet.models.prompts import IGNORE_INDEX, IMAGE_MARKER, PromptEncoder
from vipet.typed_config import from_mapping, to_mapping

LM_MODES = ("frozen", "lora", "full")
AUX_TARGETS = ("findings", "tokens")
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
    aux_weight: float = 0.0  # weight of the auxiliary image -> findings loss (0: no auxiliary head)
    aux_targets: str = "findings"  # "findings": clinical categories of the report; "tokens": its bag of tokens
    aux_tag_token: bool = False  # also hand the predicted findings to the LM as one more visual token
    # Token id that marks the visual positions in `input_ids` (their embeddings are replaced by the
    # visual tokens). None: the tokenizer's `<image>` token, else a spare embedding row past the
    # tokenizer's vocabulary; the model records the id it resolved here, and saves it.
    image_token_id: int | None = None

    def __post_init__(self) -> None:
        if self.lm_mode not in LM_MODES:
            raise TrainError(f"lm_mode must be one of {LM_MODES}, got {self.lm_mode!r}")
        if self.lm_dtype not in DTYPES:
            raise TrainError(f"lm_dtype must be one of {sorted(DTYPES)}, got {self.lm_dtype!r}")
        if self.aux_weight < 0:
            raise TrainError("aux_weight must be >= 0")
        if self.aux_targets not in AUX_TARGETS:
            raise TrainError(f"aux_targets must be one of {AUX_TARGETS}, got {self.aux_targets!r}")
        if self.aux_tag_token and self.aux_weight <= 0:
            raise TrainError("aux_tag_token needs aux_weight > 0 (the tags are the auxiliary head's predictions)")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form saved as `vlm_config.json` (lists, not tuples)."""
        return to_mapping(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | Path | None = None) -> "VLMConfig":
        """Rebuild from `to_dict`'s form; unknown keys and wrong types are a one-line error naming `source`."""
        return from_mapping(cls, values, source, error=TrainError)


def resolve_lm_path(lm: str, base_dir: str | Path | None) -> str:
    """A relative `lm` is looked up beside the saved model first; a missing folder is taken as a hub name."""
    if base_dir is not None and not os.path.isabs(lm) and (Path(base_dir) / lm).exists():
        return str(Path(base_dir) / lm)
    return lm


def resolve_image_token_id(tokenizer, embedding_rows: int, configured: int | None = None) -> int:
    """The id written at visual positions: configured, else the tokenizer's `<image>`, else a spare row.

    The id must never occur in text (the VLM finds the visual positions by it) and must not be the
    padding or end id. An id is only a row to look up before the splice overwrites it, so no token
    is added to the vocabulary and no embedding is resized (which would change weights and draws).
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    reserved = {pad, tokenizer.eos_token_id, tokenizer.bos_token_id} - {None}
    if configured is None:
        marker = tokenizer.get_vocab().get(IMAGE_MARKER)
        if marker is not None:
            configured = int(marker)
        elif embedding_rows > len(tokenizer):
            configured = embedding_rows - 1  # a row no text maps to
        else:
            raise TrainError(f"the LM tokenizer has no {IMAGE_MARKER} token and no spare embedding row: set "
                             "image_token_id (model.image_token_id) to a reserved token id that never occurs in text")
    if not 0 <= configured < embedding_rows or configured in reserved:
        raise TrainError(f"image_token_id {configured} must be an embedding row in [0, {embedding_rows}) other than "
                         f"the padding, begin and end ids {sorted(reserved)}")
    return int(configured)


def load_lm(lm: str, dtype: str = "float32"):
    """`AutoModelForCausalLM` and its tokenizer by path or hub name, with a one-line error when absent.

    `gemma3-270m` and `.gguf` files are converted once into a cached HF folder (vipet.models.gemma).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    if names_gguf_lm(lm):
        lm = resolve_gguf_lm(lm)
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
        embeddings = lm.get_input_embeddings()
        configured = config.image_token_id if config.image_token_id is not None else default_image_token_id(lm, tokenizer)
        image_token_id = resolve_image_token_id(tokenizer, embeddings.num_embeddings, configured)
        self.config = dataclasses.replace(config, image_token_id=image_token_id)
        config = self.config
        self.lm = lm
        self.tokenizer = tokenizer
        if encoder is None and config.encoder.kind not in encoder_kinds():
            raise TrainError(f"unknown encoder kind {config.encoder.kind!r}; known: {', '.join(encoder_kinds())}")
        self.encoder = encoder if encoder is not None else build_encoder(config.encoder)
        lm_dim = embeddings.embedding_dim
        self.projector = Projector(config.projector, self.encoder.out_dim, lm_dim)
        self.aux_size = len(finding_labels()) if config.aux_targets == "findings" else len(tokenizer)
        self.aux_head = nn.Linear(2 * self.encoder.out_dim, self.aux_size) if config.aux_weight > 0 else None
        self.tag_proj = nn.Linear(self.aux_size, lm_dim) if config.aux_tag_token else None
        # Gemma-style LMs scale text embeddings inside the embedding module, which spliced visual
        # tokens bypass, and their 262k-row vocabulary makes full logits the memory cost: both
        # are handled only for such LMs, so every other LM runs exactly the code it always ran.
        self.visual_scale = embedding_scale(lm)
        self.answer_logits_only = answer_logits_only(lm)
        self.prompts = PromptEncoder(tokenizer, self.num_visual_tokens, config.use_chat_template, config.max_length,
                                     image_token_id=image_token_id)

    @property
    def num_visual_tokens(self) -> int:
        """Positions the prompt reserves: the encoder's tokens, plus the tag token when enabled."""
        return self.encoder.num_tokens + (1 if self.config.aux_tag_token else 0)

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
        try:
            values = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise TrainError(f"not valid JSON ({exc})", config_path) from None
        config = VLMConfig.from_dict(values, config_path)
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
        config = VLMConfig.from_dict(self.config.to_dict())
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
    def visual_inputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Projected visual tokens (B, N, lm_dim) and, with the auxiliary head, its logits.

        With `aux_tag_token` the predicted findings become one more visual token: the LM then
        reads "what the report should mention" directly, the tag-guided design of Jing et al.
        (2018) for radiology reports, instead of having to discover it in the raw features.
        """
        visual = self.encoder(images)
        tokens = self.projector(visual)
        if self.aux_head is None:
            return tokens, None
        pooled = torch.cat([visual.mean(dim=1), visual.amax(dim=1)], dim=-1)
        aux_logits = self.aux_head(pooled.float())
        if self.tag_proj is not None:
            tag = self.tag_proj(torch.sigmoid(aux_logits)).to(tokens.dtype)
            tokens = torch.cat([tokens, tag[:, None]], dim=1)
        return tokens, aux_logits

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, T) bool: where the prompt reserved the visual tokens (the `image_token_id` slots)."""
        return input_ids == self.config.image_token_id

    def embed(self, images: torch.Tensor, input_ids: torch.Tensor):
        """Token embeddings with the visual tokens written into the image-token positions (and the aux logits)."""
        tokens, aux_logits = self.visual_inputs(images)
        return self._splice(tokens, input_ids), aux_logits

    def _splice(self, projected: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        embeds = self.lm.get_input_embeddings()(input_ids)
        image_mask = self.image_positions(input_ids)
        counts = image_mask.sum(dim=1)
        if not bool((counts == projected.shape[1]).all()):
            raise TrainError(f"each row must reserve {projected.shape[1]} visual positions (image_token_id "
                             f"{self.config.image_token_id}), got {counts.tolist()}: does a text hold the image token?")
        mask = image_mask.unsqueeze(-1).expand_as(embeds)
        if self.visual_scale != 1.0:
            projected = projected * self.visual_scale
        return embeds.masked_scatter(mask, projected.to(embeds.dtype))

    def forward(
        self,
        images: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        aux_targets: torch.Tensor | None = None,
        aux_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """LM loss on answer tokens; with the auxiliary head also `aux_loss` (rows where `aux_mask`)."""
        embeds, aux_logits = self.embed(images, input_ids)
        if labels is not None and self.answer_logits_only:
            result, loss = self._answer_loss(embeds, attention_mask, labels)
        else:
            out = self.lm(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels)
            result = {"logits": out.logits}
            if labels is None:
                return result
            result["lm_loss"] = loss = out.loss
        if aux_logits is not None:
            if aux_targets is None:
                if self.config.aux_targets == "findings":
                    raise TrainError("the findings head needs aux_targets from the collator (VLMCollator)")
                aux_targets = self.bag_targets(labels, aux_logits.shape[1])
            result["aux_loss"] = self.auxiliary_loss(aux_logits, aux_targets.to(aux_logits.device), aux_mask)
            loss = loss + self.config.aux_weight * result["aux_loss"]
        result["loss"] = loss
        return result

    def _answer_loss(self, embeds: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor):
        """The answer-token loss with logits computed only where a next token is scored.

        Position t predicts label t+1, so only positions whose next label is an answer token get
        logits: (answer tokens, vocabulary) instead of (batch, length, vocabulary), which for a
        262k vocabulary is most of the memory. Same mean cross-entropy as the LM's own loss;
        `logits` then holds those rows only.
        """
        scored = torch.zeros_like(labels, dtype=torch.bool)
        scored[:, :-1] = labels[:, 1:] != IGNORE_INDEX
        out = self.lm(inputs_embeds=embeds, attention_mask=attention_mask, logits_to_keep=scored)
        logits = out.logits.reshape(-1, out.logits.shape[-1])
        loss = F.cross_entropy(logits.float(), labels[:, 1:][scored[:, :-1]])
        return {"logits": logits, "lm_loss": loss}, loss

    def bag_targets(self, labels: torch.Tensor, vocab_size: int) -> torch.Tensor:
        """Multi-hot (B, V): which tokens each answer contains (eos and padding excluded)."""
        targets = torch.zeros(labels.shape[0], vocab_size, device=labels.device)
        present = (labels != IGNORE_INDEX) & (labels != self.prompts.eos_id) & (labels != self.prompts.pad_id)
        targets.scatter_add_(1, labels.clamp(min=0), present.to(targets.dtype))
        return targets.clamp(max=1.0)

    @staticmethod
    def auxiliary_loss(aux_logits: torch.Tensor, targets: torch.Tensor, row_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Multi-label BCE predicting from the image alone what the report mentions.

        Teaching a freshly initialised encoder through the LM loss alone is slow: the LM first learns
        the text prior and the gradient reaching the image is weak. This direct signal makes the
        encoder find lesions early. The summed BCE is divided by the number of rows (a mean over
        many absent labels would shrink the signal to nothing); rows outside `row_mask` (VQA
        answers, which do not list the findings) do not count.
        """
        losses = F.binary_cross_entropy_with_logits(aux_logits, targets, reduction="none").sum(dim=1)
        if row_mask is not None:
            weights = row_mask.to(losses.dtype)
            return (losses * weights).sum() / weights.sum().clamp(min=1.0)
        return losses.mean()

    # ---- generation ---------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        images: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        **generation: Any,
    ) -> list[str]:
        """Answers for left-padded prompts; `generation` goes to `lm.generate` (beams, sampling, penalties)."""
        embeds, _ = self.embed(images, input_ids)
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
