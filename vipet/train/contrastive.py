"""Stage 1: contrastive image-report pretraining of the vision encoder (symmetric InfoNCE, as CLIP).

The paper fine-tunes CT-ViT against a Vietnamese text encoder so that image features already
separate what reports separate before any LM sees them. Output: the encoder weights, which the
alignment stage loads through `model.encoder.pretrained`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vipet.models.encoders import VisionEncoder, build_encoder
from vipet.models.text_encoder import TextEncoder
from vipet.train.config import ModelConfig
from vipet.typed_config import to_mapping

ENCODER_WEIGHTS = "encoder.safetensors"


def info_nce(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropies over the in-batch similarity matrix.

    Row i's positive is column i; embeddings are L2-normalised here, `logit_scale` is 1/temperature.
    """
    image = F.normalize(image_embeddings.float(), dim=-1)
    text = F.normalize(text_embeddings.float(), dim=-1)
    logits = logit_scale * image @ text.t()
    targets = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))


class ContrastiveModel(nn.Module):
    """Image encoder and text encoder, each followed by a linear map into a shared space."""

    def __init__(self, encoder: VisionEncoder, text_encoder: TextEncoder, embed_dim: int, temperature: float):
        super().__init__()
        self.encoder = encoder
        self.text_encoder = text_encoder
        self.image_proj = nn.Linear(2 * encoder.out_dim, embed_dim, bias=False)
        self.text_proj = nn.Linear(text_encoder.out_dim, embed_dim, bias=False)
        # Learned temperature, stored as log(1/T) and clamped as CLIP does (scale <= 100).
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.encoder(images)
        return self.image_proj(torch.cat([tokens.mean(dim=1), tokens.amax(dim=1)], dim=-1))

    def embed_texts(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.text_proj(self.text_encoder(input_ids, attention_mask))

    def forward(self, image: torch.Tensor, text_ids: torch.Tensor, text_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        image_emb = self.embed_images(image)
        text_emb = self.embed_texts(text_ids, text_mask)
        scale = self.log_scale.clamp(max=math.log(100.0)).exp()
        loss = info_nce(image_emb, text_emb, scale)
        with torch.no_grad():
            sims = F.normalize(image_emb.float(), dim=-1) @ F.normalize(text_emb.float(), dim=-1).t()
            accuracy = (sims.argmax(dim=1) == torch.arange(sims.shape[0], device=sims.device)).float().mean()
        return {"loss": loss, "metric_i2t_acc": accuracy, "metric_scale": scale.detach()}


def build_contrastive_model(model_cfg: ModelConfig, text_encoder_path: str | Path) -> ContrastiveModel:
    encoder = build_encoder(model_cfg.vlm.encoder)
    text_encoder = TextEncoder(text_encoder_path, model_cfg.text_encoder)
    return ContrastiveModel(encoder, text_encoder, model_cfg.embed_dim, model_cfg.temperature)


def contrastive_loss_fn(model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    return model(batch["image"], batch["text_ids"], batch["text_mask"])


@torch.no_grad()
def retrieval_scores(model: ContrastiveModel, batches) -> dict[str, float]:
    """Validation image->report retrieval over the whole split: top-1 and top-5 accuracy, mean loss."""
    images, texts, losses = [], [], []
    for batch in batches:
        out = model(batch["image"], batch["text_ids"], batch["text_mask"])
        losses.append(float(out["loss"]))
        images.append(F.normalize(model.embed_images(batch["image"]).float(), dim=-1))
        texts.append(F.normalize(model.embed_texts(batch["text_ids"], batch["text_mask"]).float(), dim=-1))
    if not images:
        return {}
    sims = torch.cat(images) @ torch.cat(texts).t()
    rank = (sims > sims.diag()[:, None]).sum(dim=1)  # how many reports beat the true one
    return {"loss": sum(losses) / len(losses), "i2t_top1": float((rank < 1).float().mean()),
            "i2t_top5": float((rank < 5).float().mean())}


def save_contrastive(model: ContrastiveModel, folder: str | Path) -> Path:
    """Encoder weights + config (what stage 2 loads) and the tuned text encoder as a HF folder."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.encoder.state_dict().items()}, str(folder / ENCODER_WEIGHTS))
    config = to_mapping(model.encoder.config)
    config["pretrained"] = None
    (folder / "encoder_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    model.text_encoder.model.save_pretrained(folder / "text_encoder")
    model.text_encoder.tokenizer.save_pretrained(folder / "text_encoder")
    return folder
