"""Report encoders for the contrastive stage: any Hugging Face encoder by path, or a small built-in one.

The paper pairs CT-ViT with a Vietnamese text encoder. Offline we cannot fetch PhoBERT, so the
built-in option is a 2-layer BERT with a byte-level BPE trained on the training reports, saved
as an ordinary HF folder and then loaded by path like any other encoder: a user with a local
PhoBERT or multilingual-E5 checkout just points `path` at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from vipet.errors import TrainError


@dataclass
class TextEncoderConfig:
    path: str | None = None  # HF encoder folder or hub name; None -> build the small one
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    vocab_size: int = 4000
    max_length: int = 256
    pooling: str = "mean"  # mean | cls
    freeze: bool = False

    def __post_init__(self) -> None:
        if self.pooling not in ("mean", "cls"):
            raise TrainError(f"text encoder pooling must be 'mean' or 'cls', got {self.pooling!r}")
        if self.hidden_size % self.num_heads:
            raise TrainError("text encoder hidden_size must be divisible by num_heads")


def create_small_text_encoder(texts: Iterable[str], out_dir: str | Path, config: TextEncoderConfig, seed: int = 0) -> Path:
    """Train a BPE on `texts`, build a random small BERT with that vocabulary, save both to `out_dir`."""
    from transformers import BertConfig, BertModel

    from vipet.models.small_lm import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(texts, config.vocab_size)
    bert_config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        intermediate_size=4 * config.hidden_size,
        max_position_embeddings=max(512, config.max_length),
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertModel(bert_config, add_pooling_layer=False)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


class TextEncoder(nn.Module):
    """Texts -> one vector each (masked mean or first-token pooling of the last hidden states)."""

    def __init__(self, path: str | Path, config: TextEncoderConfig):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        from vipet.models.hf_logging import quiet_transformers

        quiet_transformers()
        try:
            self.model = AutoModel.from_pretrained(str(path))
            self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        except (OSError, ValueError) as exc:
            raise TrainError(f"cannot load a text encoder ({str(exc).splitlines()[0]})", path) from None
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.config = config
        self.out_dim = int(self.model.config.hidden_size)
        if config.freeze:
            for param in self.model.parameters():
                param.requires_grad_(False)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.config.max_length, return_tensors="pt"
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.config.pooling == "cls":
            return hidden[:, 0]
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
