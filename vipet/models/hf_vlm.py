"""Any Hugging Face image-text-to-text VLM (Qwen2-VL / Qwen2.5-VL, LLaVA, Gemma 3 / MedGemma, Idefics)
on vipet's region volumes, for zero-shot generation and LoRA fine-tuning.

Such models read 2-D pictures, not (C, D, H, W) volumes, so each region volume is rendered into
the pictures a reader looks at (`RenderConfig`): the coronal PET MIP in inverted grey, fused
PET/CT axial slices at chosen heights, and the same slices as multi-window CT (one HU window per
colour channel). The renders reuse `vipet.imaging.render` and `vipet.imaging.windows`, so they
are the pictures `vipet serve` and the HTML report show. The prompt is the toolkit's own
(`vipet.models.prompts.task_prompt`) written as the user turn of the processor's chat template,
with one image entry per picture; only answer tokens carry the loss, as in the built-in VLM.

The adapter exposes what the training loop and generation need: `collate(items)` -> a batch,
`forward(**batch)` -> {"loss"}, `generate_texts(items)` -> answers (records are then made by
`vipet.train.generate.make_record`, so files and metrics are those of every other model), and
`add_lora` to train adapters on the language model only. Nothing is downloaded: `from_pretrained`
takes a local folder (or a name already in the local Hugging Face cache).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from vipet.errors import TrainError
from vipet.fsutil import atomic_write_json
from vipet.imaging.render import fused_slice_rgb, mip_image
from vipet.imaging.windows import WINDOWS, HUWindow, window_bounds
from vipet.models.prompts import IGNORE_INDEX, IMAGE_MARKER, task_prompt
from vipet.typed_config import from_mapping, to_mapping

VIEWS = ("mip", "fused", "ct_windows")
CONFIG_NAME = "hf_vlm_config.json"
# The processor outputs with one column per token (the rest, pixels and grids, are per picture).
TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids")
ADAPTER_DIR = "adapter"
# LoRA on the language model's projections only (the vision tower keeps its pretrained features);
# `model.language_model` is where transformers 5 keeps the LM of Qwen2-VL, LLaVA and Gemma 3,
# `text_model` that of Idefics.
LM_LORA_TARGETS = (r".*(language_model|text_model)\..*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)")


@dataclass
class RenderConfig:
    """Which pictures a region volume becomes, and what the cached channels mean.

    `pet_channel_suv`: the SUV that 1.0 in the PET channel stands for (the build's `suv_max`,
    recorded as the `SUVScale` transform; `channel_calibration` reads it from a study's meta).
    None means the PET channel is not in SUV (raw or percentile scaling): it is then shown on
    its own 0..`relative_pet_max` range and never labelled as SUV. `ct_channel_window`: the HU
    window the build stored as the first CT channel (`wide` = -1000..1000 HU by default).
    `levels`: axial heights as fractions of the region (0 = its first slice, 1 = its last).
    """

    views: list[str] = field(default_factory=lambda: ["mip", "fused"])
    levels: list[float] = field(default_factory=lambda: [0.5])
    ct_windows: list[str] = field(default_factory=lambda: ["soft_tissue", "lung", "bone"])
    size: int = 224
    suv_display_max: float = 5.0
    pet_channel_suv: float | None = 10.0
    relative_pet_max: float = 0.5
    ct_channel_window: str = "wide"

    def __post_init__(self) -> None:
        bad = [v for v in self.views if v not in VIEWS]
        if bad or not self.views:
            raise TrainError(f"render views must be a non-empty subset of {VIEWS}, got {self.views}")
        if any(not 0.0 <= level <= 1.0 for level in self.levels) or not self.levels:
            raise TrainError(f"render levels are fractions in [0, 1], got {self.levels}")
        unknown = [w for w in [*self.ct_windows, self.ct_channel_window] if w not in WINDOWS]
        if unknown or len(self.ct_windows) != 3:
            raise TrainError(f"ct_windows must be 3 known windows (one per colour), got {self.ct_windows}; known: {sorted(WINDOWS)}")
        if self.size < 8 or self.suv_display_max <= 0 or (self.pet_channel_suv is not None and self.pet_channel_suv <= 0):
            raise TrainError("render size must be >= 8 and the SUV scales positive")

    @property
    def images_per_sample(self) -> int:
        return sum(1 if view == "mip" else len(self.levels) for view in self.views)


def channel_calibration(meta: dict[str, Any]) -> dict[str, Any]:
    """`pet_channel_suv` and `ct_channel_window` as a build recorded them in a study's meta.json."""
    transforms = {t.get("name"): t for t in meta.get("transforms", [])}
    channels = meta.get("channels") or []
    if len(channels) < 2 or channels[0] != "pet" or not str(channels[1]).startswith("ct_"):
        raise TrainError(f"expected channels [pet, ct_<window>, ...], got {channels}")
    suv = transforms.get("SUVScale")
    if suv is not None and float(suv.get("suv_min", 0.0)) != 0.0:
        raise TrainError("the PET channel starts above SUV 0 (suv_min); render from the whole-body arrays instead")
    return {"pet_channel_suv": float(suv["suv_max"]) if suv is not None else None,
            "ct_channel_window": str(channels[1])[3:]}


def build_calibration(build: str | Path, study_keys: Iterable[str]) -> dict[str, Any]:
    """The one channel calibration the cached studies `study_keys` of a build share.

    Every study of a build is cached with one recipe, but `--pet-norm auto` keeps the PET channel in
    SUV only for studies whose PET is in SUV: pictures of a mixed build would show one SUV scale for
    two meanings, so a build whose studies disagree is refused with two of them named.
    """
    from vipet.data.cache import read_meta, study_dir

    seen: dict[tuple[tuple[str, Any], ...], str] = {}
    for key in sorted(set(study_keys)):
        calibration = channel_calibration(read_meta(study_dir(build, key)))
        seen.setdefault(tuple(sorted(calibration.items())), key)
        if len(seen) > 1:
            (first, first_key), (second, second_key) = list(seen.items())[:2]
            raise TrainError(f"studies {first_key} ({dict(first)}) and {second_key} ({dict(second)}) store their channels "
                             "on different scales; rebuild with one --pet-norm (suv or raw)", build)
    if not seen:
        raise TrainError("no cached study to read the channel calibration from", build)
    return dict(next(iter(seen)))


def calibrated_render(render: RenderConfig, calibration: dict[str, Any], *, configured: bool = False,
                      source: str | Path | None = None) -> RenderConfig:
    """`render` with the channel meaning a build recorded (`build_calibration`).

    With `configured`, `render` is what a stage config wrote: a calibration field set there to
    something else than its default and than the build's is an error, not silently replaced.
    """
    if configured:
        defaults = RenderConfig()
        for name, value in calibration.items():
            given = getattr(render, name)
            if given != getattr(defaults, name) and given != value:
                raise TrainError(f"render.{name} is {given!r} but the build's channels say {value!r}: leave it out, "
                                 "it is read from the build", source)
    return dataclasses.replace(render, **calibration)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))


def region_images(volume: np.ndarray | torch.Tensor, render: RenderConfig) -> list[np.ndarray]:
    """uint8 RGB (size, size, 3) pictures of one (C, D, H, W) region volume, in `render.views` order.

    Channel 0 is PET, channel 1 CT in `ct_channel_window` (both 0..1, as `vipet build` caches them);
    the CT in HU is read back from that window, so HU outside it stay clipped at its edges.
    """
    values = volume.detach().cpu().float().numpy() if torch.is_tensor(volume) else np.asarray(volume, dtype=np.float32)
    if values.ndim != 4 or values.shape[0] < 2:
        raise TrainError(f"a region volume is (C>=2, D, H, W) with PET then CT, got shape {values.shape}")
    low, high = window_bounds(*WINDOWS[render.ct_channel_window])
    ct_hu = values[1] * np.float32(high - low) + np.float32(low)
    if render.pet_channel_suv is not None:
        pet, pet_max = values[0] * np.float32(render.pet_channel_suv), render.suv_display_max
    else:
        pet, pet_max = values[0], render.relative_pet_max
    depth = values.shape[1]
    slices = [int(round(level * (depth - 1))) for level in render.levels]
    images: list[np.ndarray] = []
    for view in render.views:
        if view == "mip":
            grey = mip_image(pet, None, suv_max=pet_max)
            images.append(_resize(np.repeat(grey[..., None], 3, axis=-1), render.size))
        elif view == "fused":
            images += [_resize(fused_slice_rgb(ct_hu[z], pet[z], suv_max=pet_max), render.size) for z in slices]
        else:
            for z in slices:
                stacked = np.stack([HUWindow.named(name)(ct_hu[z]) for name in render.ct_windows], axis=-1)
                images.append(_resize(np.rint(stacked * 255.0).astype(np.uint8), render.size))
    return images


@dataclass
class HFVLMConfig:
    """What to load and how to show it: `path` is a local model folder (or a locally cached hub name)."""

    path: str
    render: RenderConfig = field(default_factory=RenderConfig)
    dtype: str = "float32"
    max_length: int = 2048
    adapter: str | None = None  # LoRA adapter folder inside a saved adapter folder

    def to_dict(self) -> dict[str, Any]:
        return to_mapping(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | Path | None = None) -> "HFVLMConfig":
        return from_mapping(cls, values, source, error=TrainError)


class HFVisionLanguageModel(nn.Module):
    """A transformers image-text-to-text model and its processor behind vipet's prompts and items."""

    def __init__(self, config: HFVLMConfig, model: nn.Module, processor):
        super().__init__()
        if not getattr(processor, "chat_template", None):
            raise TrainError("the processor has no chat template: vipet writes its prompt as the user turn of it", config.path)
        self.config = config
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, render: RenderConfig | None = None, dtype: str = "float32",
                        *, trainable_adapter: bool = False) -> "HFVisionLanguageModel":
        """Load a model folder, or a folder `save_pretrained` wrote (base path + LoRA adapter)."""
        path = Path(path)
        saved = path / CONFIG_NAME
        if saved.is_file():
            config = HFVLMConfig.from_dict(json.loads(saved.read_text(encoding="utf-8")), saved)
        else:
            config = HFVLMConfig(path=str(path), render=render or RenderConfig(), dtype=dtype)
        return cls.from_config(config, path, trainable_adapter=trainable_adapter)

    @classmethod
    def from_config(cls, config: HFVLMConfig, folder: str | Path | None = None, *,
                    trainable_adapter: bool = False) -> "HFVisionLanguageModel":
        """The base model `config.path` names, plus `config.adapter` (a folder inside `folder`) when set."""
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from vipet.models.hf_logging import quiet_transformers
        from vipet.models.vlm import DTYPES

        quiet_transformers()
        if config.dtype not in DTYPES:
            raise TrainError(f"dtype must be one of {sorted(DTYPES)}, got {config.dtype!r}")
        try:
            model = AutoModelForImageTextToText.from_pretrained(config.path, dtype=DTYPES[config.dtype])
            processor = AutoProcessor.from_pretrained(config.path)
        except (OSError, ValueError, AttributeError) as exc:
            raise TrainError(f"cannot load an image-text-to-text model and processor ({str(exc).splitlines()[0]})",
                             config.path) from None
        if config.adapter:
            from peft import PeftModel

            if folder is None:
                raise TrainError("the config names an adapter but no folder holds it", config.path)
            with _peft_quiet():
                model = PeftModel.from_pretrained(model, str(Path(folder) / config.adapter), is_trainable=trainable_adapter)
        return cls(config, model, processor)

    def save_pretrained(self, folder: str | Path) -> Path:
        """The LoRA adapter (when there is one) and a config naming the base model; never the base weights."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = HFVLMConfig.from_dict(self.config.to_dict())
        config.path = str(Path(self.config.path).resolve()) if Path(self.config.path).exists() else self.config.path
        if hasattr(self.model, "peft_config"):
            self.model.save_pretrained(folder / ADAPTER_DIR)
            config.adapter = ADAPTER_DIR
        atomic_write_json(folder / CONFIG_NAME, config.to_dict())
        return folder

    def add_lora(self, r: int = 16, alpha: int = 16, dropout: float = 0.05,
                 target_modules: str | list[str] = LM_LORA_TARGETS) -> None:
        """Wrap the model in LoRA adapters (language-model projections by default); only they train.

        `"all-linear"` means every linear layer of the language model, as it does for the built-in
        VLM, whose LoRA wraps only its LM (peft's own "all-linear" would also wrap the vision tower).
        """
        from peft import LoraConfig, get_peft_model

        if target_modules == "all-linear":
            target_modules = LM_LORA_TARGETS

        lora = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules, bias="none")
        try:
            with _peft_quiet():
                self.model = get_peft_model(self.model, lora)
        except ValueError as exc:
            raise TrainError(f"LoRA cannot wrap this model: {str(exc).splitlines()[0]}", self.config.path) from None

    # ---- prompts and batches ------------------------------------------------------------------
    def prompt_text(self, item: dict[str, Any]) -> str:
        """The chat-template prompt of one item: one image entry per rendered picture, then the instruction."""
        instruction = task_prompt(item.get("task") or "report", item.get("region") or "whole", item.get("question"))
        instruction = instruction.replace(IMAGE_MARKER, "", 1).strip()
        content = [{"type": "image"} for _ in range(self.config.render.images_per_sample)]
        content.append({"type": "text", "text": instruction})
        return self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                                  tokenize=False)

    def _inputs(self, texts: list[str], images: list[list[np.ndarray]], padding_side: str,
                check_length: bool = True) -> dict[str, torch.Tensor]:
        self.tokenizer.padding_side = padding_side
        pictures = [[_pil(image) for image in row] for row in images]
        batch = self.processor(text=texts, images=pictures, return_tensors="pt", padding=True)
        if check_length and int(batch["input_ids"].shape[1]) > self.config.max_length:
            raise TrainError(f"a prompt with its images takes {int(batch['input_ids'].shape[1])} tokens, over max_length "
                             f"{self.config.max_length}: render fewer or smaller pictures", self.config.path)
        return dict(batch)

    def collate(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Prompt + answer + end token per item, right-padded; labels only on the answer and end token.

        An answer too long for `max_length` is cut (never the prompt, which holds the image
        tokens), as the built-in VLM's prompt encoder does.
        """
        images = [region_images(item["image"], self.config.render) for item in items]
        prompts = [self.prompt_text(item) for item in items]
        eos = self.tokenizer.eos_token or ""
        prompt_lengths = self._inputs(prompts, images, "right")["attention_mask"].sum(dim=1)
        limit = self.config.max_length
        if int(prompt_lengths.max()) > limit - 2:
            raise TrainError(f"a prompt with its images takes {int(prompt_lengths.max())} tokens, leaving no room for an "
                             f"answer in max_length {limit}: render fewer or smaller pictures", self.config.path)
        full = self._inputs([p + str(item.get("text") or "").strip() + eos for p, item in zip(prompts, items)], images,
                            "right", check_length=False)
        if full["input_ids"].shape[1] > limit:  # right padding: the cut columns are answer tails and padding
            full = {k: v[:, :limit] if k in TOKEN_KEYS else v for k, v in full.items()}
        labels = full["input_ids"].clone()
        positions = torch.arange(labels.shape[1])[None]
        labels[(positions < prompt_lengths[:, None]) | (full["attention_mask"] == 0)] = IGNORE_INDEX
        full["labels"] = labels
        return full

    def forward(self, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.model(**batch)
        return {"loss": out.loss, "lm_loss": out.loss}

    @torch.no_grad()
    def generate_texts(self, items: Sequence[dict[str, Any]], **generation: Any) -> list[str]:
        """Answers for `items` (greedy unless `generation` says otherwise), prompts left-padded."""
        images = [region_images(item["image"], self.config.render) for item in items]
        batch = self._inputs([self.prompt_text(item) for item in items], images, "left")
        device = next(self.model.parameters()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        was_training = self.model.training
        self.model.eval()
        settings = {"pad_token_id": self.tokenizer.pad_token_id, "max_new_tokens": 256, "do_sample": False, **generation}
        new_tokens = self.model.generate(**batch, **settings)[:, batch["input_ids"].shape[1]:]
        self.model.train(was_training)
        return [text.strip() for text in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


@contextlib.contextmanager
def _peft_quiet() -> Iterator[None]:
    """peft 0.21 reads a property transformers 5 deprecated (`is_gradient_checkpointing`) on every
    wrap; that one warning is noise to a user, any other still shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def _pil(image: np.ndarray):
    from PIL import Image

    return Image.fromarray(image)
