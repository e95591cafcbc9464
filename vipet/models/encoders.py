"""3D vision encoders over a (PET, CT) region volume that emit a fixed number of visual tokens.

The language model sees the image only through these tokens, so they must keep *where* things
are: both encoders end on a fixed grid of tokens (e.g. 2x4x4 = 32), each token summarising one
block of the body, with a learned position embedding. The CNN pools each block with mean and
max together because a small hot lesion is a peak, and a mean over a block would dilute it.

External weights (a CT-ViT / CT-CLIP checkpoint, or our own contrastive stage) are loaded by
path with explicit shape checks: a silently skipped tensor would leave a "pretrained" encoder
random, which is the worst kind of bug to find after a week of training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vipet.errors import TrainError
from vipet.imaging.resize import resize_box


@dataclass
class EncoderConfig:
    """Everything needed to rebuild an encoder; saved beside its weights."""

    kind: str = "cnn3d"
    in_channels: int = 2  # PET, CT
    input_size: tuple[int, int, int] = (32, 64, 64)  # (D, H, W) of the volumes it reads (the build's target_shape)
    # Another input size is an error unless this is set: then each volume is resized to input_size
    # with the build's antialiased resampler (vipet.imaging.resize), on the CPU, at every forward pass.
    resize_input: bool = False
    token_grid: tuple[int, int, int] = (2, 4, 4)  # tokens along (z, y, x): fixed count D*H*W
    out_dim: int = 256  # width of each visual token
    # cnn3d
    channels: tuple[int, ...] = (16, 32, 64, 128)
    stem_stride: tuple[int, int, int] = (1, 2, 2)  # (2, 2, 2) quarters the cost of the first stage
    # vit3d
    patch_size: tuple[int, int, int] = (4, 8, 8)
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    dropout: float = 0.0
    # i3resnet152 (vipet.models.pretrained_encoders): which channel holds CT, in which cached window
    # (the build's meta.json `channels`, ct_<window>), the HU range the backbone maps onto [0, 1]
    # (None: the named weights' own, astra -1000..200), and which modalities go through it.
    ct_channel: int = 1
    ct_window: str = "wide"
    hu_range: tuple[float, float] | None = None
    modalities: tuple[str, ...] = ("ct",)
    # loading / freezing
    pretrained: str | None = None  # path to .safetensors/.pt/.bin weights, or a kind's named weights (i3resnet152: astra)
    pretrained_prefix: str = ""  # key prefix to strip from the checkpoint (e.g. "visual.")
    freeze: bool = False

    def __post_init__(self) -> None:
        self.input_size = tuple(int(v) for v in self.input_size)  # type: ignore[assignment]
        self.token_grid = tuple(int(v) for v in self.token_grid)  # type: ignore[assignment]
        self.channels = tuple(int(v) for v in self.channels)  # type: ignore[assignment]
        self.patch_size = tuple(int(v) for v in self.patch_size)  # type: ignore[assignment]
        self.stem_stride = tuple(int(v) for v in self.stem_stride)  # type: ignore[assignment]
        self.modalities = tuple(str(v) for v in self.modalities)  # type: ignore[assignment]
        if self.hu_range is not None:
            self.hu_range = tuple(float(v) for v in self.hu_range)  # type: ignore[assignment]
        if self.kind not in ENCODER_CLASSES:
            raise TrainError(f"encoder kind must be one of {sorted(ENCODER_CLASSES)}, got {self.kind!r}")
        if len(self.input_size) != 3 or len(self.token_grid) != 3 or min(self.input_size + self.token_grid) < 1:
            raise TrainError("encoder input_size and token_grid need three positive sizes (z, y, x)")
        if self.kind == "vit3d":
            grid = [s // p for s, p in zip(self.input_size, self.patch_size)]
            if any(s % p for s, p in zip(self.input_size, self.patch_size)):
                raise TrainError(f"vit3d input_size {self.input_size} is not divisible by patch_size {self.patch_size}")
            if any(t > g for t, g in zip(self.token_grid, grid)):
                raise TrainError(f"vit3d token_grid {self.token_grid} is finer than the patch grid {tuple(grid)}")
            if self.out_dim % self.heads:
                raise TrainError(f"vit3d out_dim {self.out_dim} must be divisible by heads {self.heads}")

    @property
    def num_tokens(self) -> int:
        gz, gy, gx = self.token_grid
        return gz * gy * gx



class _ResBlock3d(nn.Module):
    """Two 3x3x3 convolutions with a skip; GroupNorm because CPU batches are tiny."""

    def __init__(self, channels: int):
        super().__init__()
        groups = min(8, channels)
        self.conv1 = nn.Conv3d(channels, channels, 3, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(groups, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm1(self.conv1(x)))
        return F.silu(x + self.norm2(self.conv2(h)))


class _Downsample3d(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: tuple[int, int, int]):
        super().__init__()
        self.conv = nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.norm = nn.GroupNorm(min(8, c_out), c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.norm(self.conv(x)))


class VisionEncoder(nn.Module):
    """Common part: input shape check (or resize), token position embeddings, freezing, weight loading."""

    config: EncoderConfig

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.position = nn.Parameter(torch.zeros(1, config.num_tokens, config.out_dim))
        nn.init.normal_(self.position, std=0.02)

    @property
    def num_tokens(self) -> int:
        return self.config.num_tokens

    @property
    def out_dim(self) -> int:
        return self.config.out_dim

    def _fit_input(self, volume: torch.Tensor) -> torch.Tensor:
        if volume.ndim != 5 or volume.shape[1] != self.config.in_channels:
            raise TrainError(
                f"encoder expects (B, {self.config.in_channels}, D, H, W) volumes, got {tuple(volume.shape)}"
            )
        shape = tuple(volume.shape[2:])
        if shape == self.config.input_size:
            return volume
        if not self.config.resize_input:
            d, h, w = self.config.input_size
            raise TrainError(
                f"encoder input_size is {self.config.input_size} but the volumes are {shape}: build with "
                f"--target-shape {d},{h},{w}, set encoder.input_size to the build's shape, or set encoder.resize_input"
            )
        return resize_volumes(volume, self.config.input_size)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        """(B, C, D, H, W) -> (B, num_tokens, out_dim)."""
        tokens = self.encode_tokens(self._fit_input(volume))
        return tokens + self.position.to(tokens.dtype)

    def encode_tokens(self, volume: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define encode_tokens")

    def load_pretrained(self, pretrained: str | Path) -> dict[str, list[str]]:
        """`config.pretrained` into this encoder: a whole-encoder checkpoint here; kinds with named weights override."""
        return load_encoder_weights(self, pretrained, prefix=self.config.pretrained_prefix)

    def freeze(self) -> None:
        """Stop gradients into the encoder (stages that train only the projector or the LM)."""
        for param in self.parameters():
            param.requires_grad_(False)


class CNN3DEncoder(VisionEncoder):
    """Residual 3D CNN: stride-2 stages until the volume is small, then pooled onto the token grid.

    By default the first stage keeps full depth (stride 1 in z) because region volumes are thin in
    z compared with their in-plane size; `stem_stride` (2, 2, 2) trades that for speed. Later
    stages halve every axis.
    """

    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        chans = config.channels
        self.stem = nn.Sequential(
            nn.Conv3d(config.in_channels, chans[0], 3, stride=config.stem_stride, padding=1, bias=False),
            nn.GroupNorm(min(8, chans[0]), chans[0]),
            nn.SiLU(),
        )
        stages: list[nn.Module] = [_ResBlock3d(chans[0])]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            stages += [_Downsample3d(c_in, c_out, (2, 2, 2)), _ResBlock3d(c_out)]
        self.stages = nn.Sequential(*stages)
        self.to_tokens = nn.Linear(2 * chans[-1], config.out_dim)

    def encode_tokens(self, volume: torch.Tensor) -> torch.Tensor:
        features = self.stages(self.stem(volume))
        grid = self.config.token_grid
        pooled = torch.cat([F.adaptive_avg_pool3d(features, grid), F.adaptive_max_pool3d(features, grid)], dim=1)
        return self.to_tokens(pooled.flatten(2).transpose(1, 2))


class ViT3DEncoder(VisionEncoder):
    """Small 3D ViT: non-overlapping patches, pre-norm transformer, patch grid pooled to the token grid."""

    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        self.patch_grid = tuple(s // p for s, p in zip(config.input_size, config.patch_size))
        n_patches = self.patch_grid[0] * self.patch_grid[1] * self.patch_grid[2]
        self.patch_embed = nn.Conv3d(config.in_channels, config.out_dim, config.patch_size, stride=config.patch_size)
        self.patch_position = nn.Parameter(torch.zeros(1, n_patches, config.out_dim))
        nn.init.normal_(self.patch_position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            config.out_dim,
            config.heads,
            int(config.out_dim * config.mlp_ratio),
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, config.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.out_dim)

    def encode_tokens(self, volume: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embed(volume)  # (B, C, gz, gy, gx)
        batch, dim = patches.shape[:2]
        seq = patches.flatten(2).transpose(1, 2) + self.patch_position.to(patches.dtype)
        seq = self.norm(self.blocks(seq))
        grid = seq.transpose(1, 2).reshape(batch, dim, *self.patch_grid)
        if self.patch_grid != self.config.token_grid:
            grid = F.adaptive_avg_pool3d(grid, self.config.token_grid)
        return grid.flatten(2).transpose(1, 2)


@torch.no_grad()
def resize_volumes(volume: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """(B, C, D, H, W) -> (B, C, *size), each channel resized by `vipet.imaging.resize` (antialiased)."""
    source = volume.detach().float().cpu().numpy()
    resized = np.stack([np.stack([resize_box(channel, size) for channel in item]) for item in source])
    return torch.from_numpy(resized).to(device=volume.device, dtype=volume.dtype)


# kind -> class; `vipet.models.registry.register_encoder` adds more (i3resnet152, vipet.models.pretrained_encoders).
ENCODER_CLASSES: dict[str, type[VisionEncoder]] = {"cnn3d": CNN3DEncoder, "vit3d": ViT3DEncoder}


def build_encoder(config: EncoderConfig) -> VisionEncoder:
    """Encoder from its config; loads `pretrained` weights and freezes when the config says so."""
    encoder = ENCODER_CLASSES[config.kind](config)
    if config.pretrained:
        encoder.load_pretrained(config.pretrained)
    if config.freeze:
        encoder.freeze()
    return encoder


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors, .pt/.pth/.bin or .ckpt file (a `state_dict` entry is unwrapped)."""
    path = Path(path)
    if not path.is_file():
        raise TrainError("weights file not found", path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any loader failure is reported with the file name
        raise TrainError(f"cannot read weights ({exc.__class__.__name__}: {exc})", path) from None
    for key in ("state_dict", "model", "module"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise TrainError("weights file does not hold a flat name -> tensor mapping", path)
    return obj


def load_encoder_weights(
    encoder: nn.Module, path: str | Path, *, prefix: str = "", allow_partial: bool = False
) -> dict[str, list[str]]:
    """Copy matching tensors from `path` into `encoder`, refusing any shape mismatch.

    `prefix` is stripped from checkpoint keys (e.g. "visual_transformer." in a CLIP checkpoint);
    keys without it are ignored. Unless `allow_partial`, every encoder tensor must be found, so a
    renamed layer cannot leave part of a "pretrained" encoder random without anyone noticing.
    Returns the loaded, missing and unexpected key lists for the run log.
    """
    source = read_state_dict(path)
    if prefix:
        source = {k[len(prefix) :]: v for k, v in source.items() if k.startswith(prefix)}
    target = encoder.state_dict()
    mismatched = [
        f"{k}: checkpoint {tuple(source[k].shape)} vs encoder {tuple(v.shape)}"
        for k, v in target.items()
        if k in source and tuple(source[k].shape) != tuple(v.shape)
    ]
    if mismatched:
        raise TrainError(f"shape mismatch for {len(mismatched)} tensor(s): {'; '.join(mismatched[:3])}", path)
    loaded = sorted(k for k in target if k in source)
    missing = sorted(k for k in target if k not in source)
    unexpected = sorted(k for k in source if k not in target)
    if not loaded:
        raise TrainError(f"no tensor name matches the encoder (prefix {prefix!r}); first keys: {list(source)[:3]}", path)
    if missing and not allow_partial:
        raise TrainError(f"{len(missing)} encoder tensor(s) missing from the checkpoint, e.g. {missing[:3]}", path)
    encoder.load_state_dict({k: source[k] for k in loaded}, strict=False)
    return {"loaded": loaded, "missing": missing, "unexpected": unexpected}


__all__ = [
    "ENCODER_CLASSES",
    "CNN3DEncoder",
    "EncoderConfig",
    "ViT3DEncoder",
    "VisionEncoder",
    "build_encoder",
    "load_encoder_weights",
    "read_state_dict",
    "resize_volumes",
]
