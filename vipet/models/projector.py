"""The bridge from visual tokens to the language model's embedding space.

Kept deliberately small (LLaVA: linear in v1, a two-layer GELU MLP in v1.5): the alignment stage
trains only this module with the LM frozen, so it is what teaches a fixed LM to read the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vipet.errors import TrainError

PROJECTOR_KINDS = ("linear", "mlp")


@dataclass
class ProjectorConfig:
    kind: str = "mlp"
    hidden_dim: int | None = None  # MLP width; None -> the LM hidden size

    def __post_init__(self) -> None:
        if self.kind not in PROJECTOR_KINDS:
            raise TrainError(f"projector kind must be one of {PROJECTOR_KINDS}, got {self.kind!r}")
        if self.hidden_dim is not None and int(self.hidden_dim) < 1:
            raise TrainError(f"projector hidden_dim must be positive, got {self.hidden_dim}")


class Projector(nn.Module):
    """(B, N, vision_dim) -> (B, N, lm_dim)."""

    def __init__(self, config: ProjectorConfig, vision_dim: int, lm_dim: int):
        super().__init__()
        self.config = config
        if config.kind == "linear":
            self.net: nn.Module = nn.Linear(vision_dim, lm_dim)
        else:
            hidden = config.hidden_dim or lm_dim
            self.net = nn.Sequential(nn.Linear(vision_dim, hidden), nn.GELU(), nn.Linear(hidden, lm_dim))

    def forward(self, visual_tokens: torch.Tensor) -> torch.Tensor:
        return self.net(visual_tokens)
