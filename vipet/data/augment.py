"""Training-time image augmentation that keeps image, channels and text consistent.

Every geometric change is applied to all channels at once (PET and CT stay aligned), and the one
change that alters meaning, a left/right mirror, also mirrors the words: columns run patient
right -> left (vipet.study), so after the flip a lesion of the right lung sits where the left lung
was, and the target text must say "trái" where it said "phải" (`vipet.reports.sides`). Known
limit: anatomy is not mirror-symmetric (the middle lobe exists only on the right), so a mirrored
"thùy giữa phổi trái" is anatomically odd; set `flip_lr_p=0` where that matters.

Randomness comes from a generator seeded by (seed, epoch, index), so an item is the same in any
worker, in any order, on any rerun, and different from one epoch to the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from vipet.imaging.resize import resize_box
from vipet.reports.sides import swap_left_right

def rng_for(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one item in one epoch (independent of worker and access order)."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation (all mild: a report must stay true of the image)."""

    flip_lr_p: float = 0.5
    affine_p: float = 0.5
    rotate_deg: float = 5.0  # in-plane rotation, either way
    zoom: float = 0.05  # in-plane scale 1 +- zoom
    shift_frac: float = 0.03  # in-plane translation, fraction of the size
    intensity_p: float = 0.5
    intensity_gain: float = 0.05  # per channel, 1 +- gain
    intensity_bias: float = 0.02  # per channel, +- bias
    noise_p: float = 0.3
    noise_std: float = 0.01
    crop_p: float = 0.3
    crop_min_frac: float = 0.85  # keep at least this share of the slices, resized back


def augment(image: np.ndarray, texts: list[str], rng: np.random.Generator,
            config: AugmentConfig = AugmentConfig()) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """Augment a (C, D, H, W) float image in [0, 1] and the texts that describe it; returns what was done."""
    if image.ndim != 4:
        raise ValueError(f"expected a (C, D, H, W) image, got shape {image.shape}")
    image = np.asarray(image, dtype=np.float32)
    applied: dict[str, Any] = {}
    if rng.random() < config.crop_p:
        image, applied["slice_crop"] = _slice_crop(image, rng, config.crop_min_frac)
    if rng.random() < config.affine_p:
        image, applied["affine"] = _inplane_affine(image, rng, config)
    if rng.random() < config.flip_lr_p:
        image = image[..., ::-1]
        texts = [swap_left_right(t) for t in texts]
        applied["flip_lr"] = True
    if rng.random() < config.intensity_p:
        channels = image.shape[0]
        gain = 1.0 + rng.uniform(-config.intensity_gain, config.intensity_gain, size=channels)
        bias = rng.uniform(-config.intensity_bias, config.intensity_bias, size=channels)
        image = image * gain[:, None, None, None].astype(np.float32) + bias[:, None, None, None].astype(np.float32)
        applied["intensity"] = {"gain": gain.round(4).tolist(), "bias": bias.round(4).tolist()}
    if rng.random() < config.noise_p:
        image = image + rng.normal(0.0, config.noise_std, size=image.shape).astype(np.float32)
        applied["noise_std"] = config.noise_std
    return np.clip(image, 0.0, 1.0).astype(np.float32), texts, applied


def _slice_crop(image: np.ndarray, rng: np.random.Generator, min_frac: float) -> tuple[np.ndarray, list[int]]:
    """A random contiguous slice range, resized back to the full depth (a small z zoom and shift)."""
    depth = image.shape[1]
    keep = int(round(depth * rng.uniform(min_frac, 1.0)))
    keep = min(depth, max(2, keep))
    start = int(rng.integers(0, depth - keep + 1))
    box = ((float(start), float(start + keep)), (0.0, float(image.shape[2])), (0.0, float(image.shape[3])))
    out = np.stack([resize_box(channel, channel.shape, box) for channel in image])
    return out, [start, start + keep]


def _inplane_affine(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> tuple[np.ndarray, dict]:
    """Rotate, zoom and shift every slice of every channel by the same in-plane transform."""
    angle = math.radians(rng.uniform(-config.rotate_deg, config.rotate_deg))
    zoom = 1.0 + rng.uniform(-config.zoom, config.zoom)
    _, depth, height, width = image.shape
    shift = rng.uniform(-config.shift_frac, config.shift_frac, size=2) * np.array([height, width])
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    matrix = np.array([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
    centre = np.array([(depth - 1) / 2.0, (height - 1) / 2.0, (width - 1) / 2.0])
    offset = centre - matrix @ centre - np.array([0.0, *shift])
    out = np.stack([ndimage.affine_transform(c, matrix, offset=offset, order=1, mode="constant", cval=0.0)
                    for c in image])
    return out, {"rotate_deg": round(math.degrees(angle), 3), "zoom": round(zoom, 4), "shift": shift.round(3).tolist()}
