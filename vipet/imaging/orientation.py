"""Head at slice 0, always: detect the slice direction from the images when the source is silent.

ViMed-PET npz files do not say which way slices run and at least one study runs feet -> head, so
`head_first` is detected from two anatomical cues that do not depend on units:

- uptake (PET): the brain is a large hot organ that fills most of the head's cross-section, the
  bladder a small hot organ inside the wide pelvis; the end whose slices have the larger fraction
  of hot body voxels is the head. "Hot" is relative to the body's median uptake, so SUV, Bq/mL
  and raw scanner units behave alike.
- air (CT): the lungs sit in the upper half of any whole-body field of view (vertex or eyes to
  mid-thigh), so the centroid of air inside the body says where the head is, even when the scan
  starts below the brain and the PET cue has only the bladder to go on.

Each cue gives a signed confidence in [-1, 1] (positive: head at index 0); the decision is their
sum and every number goes into the provenance, so a wrong call can be traced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from vipet.imaging.crop import plane_stride
from vipet.imaging.landmarks import lung_profile, pet_body_and_hot
from vipet.study import Volume

HOT_FACTOR = 3.0  # "hot" = above this multiple of the body's median uptake
END_FRACTION = 0.3  # the part of the scan at each end searched for brain / bladder
LUNG_WEIGHT = 1.0
PET_WEIGHT = 1.0


@dataclass(frozen=True)
class Orientation:
    """Result of detection: the decision and the evidence behind it (JSON-ready)."""

    head_first: bool
    source: str  # "study" (the reader knew), "detected", or "default" (no usable cue)
    evidence: dict[str, Any]


def pet_cue(pet: np.ndarray) -> tuple[float, dict[str, Any]]:
    """Signed confidence from uptake: + when the hotter-by-fraction end (brain) is at index 0."""
    step = plane_stride(pet.shape)
    sampled = np.asarray(pet[:, ::step, ::step], dtype=np.float32)
    body, hot, median = pet_body_and_hot(sampled, HOT_FACTOR)
    if not body.any():
        return 0.0, {"pet": "no body found on PET"}
    body_area = body.sum(axis=(1, 2)).astype(np.float64)
    hot_area = hot.sum(axis=(1, 2)).astype(np.float64)
    big = body_area >= 0.05 * body_area.max()
    fraction = np.where(big, hot_area / np.maximum(body_area, 1.0), 0.0)
    fraction = ndimage.uniform_filter1d(fraction, size=max(1, len(fraction) // 60))
    n_end = max(1, int(round(END_FRACTION * len(fraction))))
    top, bottom = float(fraction[:n_end].max()), float(fraction[-n_end:].max())
    scale = max(top, bottom)
    score = 0.0 if scale <= 0 else (top - bottom) / scale
    return score, {"pet_hot_fraction_index0_end": round(top, 4), "pet_hot_fraction_last_end": round(bottom, 4),
                   "pet_median_uptake": round(median, 6), "pet_score": round(score, 4)}


def lung_cue(ct_hu: np.ndarray | None, profile: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, dict[str, Any]]:
    """Signed confidence from the lungs' centroid: + when it lies in the first half of the slices."""
    area, body_area = profile if profile is not None else lung_profile(ct_hu)
    if area.sum() <= 0 or area.max() < 0.05 * max(body_area.max(), 1.0):
        return 0.0, {"lung": "no lung fields found"}
    z = np.arange(len(area), dtype=np.float64)
    centroid = float((area * z).sum() / area.sum()) / max(len(area) - 1, 1)
    score = float(np.clip((0.5 - centroid) * 4.0, -1.0, 1.0))
    return score, {"lung_centroid_fraction": round(centroid, 4), "lung_score": round(score, 4)}


def detect_head_first(pet: np.ndarray | None, ct_hu: np.ndarray | None = None,
                      lung: tuple[np.ndarray, np.ndarray] | None = None) -> Orientation:
    """Decide the slice direction from whichever of PET and CT is present (arrays indexed z, y, x).

    `lung` is the CT's `landmarks.lung_profile` when the caller already has it (it is reused for
    the region split, so a build computes it once).
    """
    evidence: dict[str, Any] = {}
    total = 0.0
    if ct_hu is not None or lung is not None:
        score, info = lung_cue(ct_hu, lung)
        total += LUNG_WEIGHT * score
        evidence.update(info)
    if pet is not None:
        score, info = pet_cue(pet)
        total += PET_WEIGHT * score
        evidence.update(info)
    evidence["total_score"] = round(total, 4)
    if abs(total) < 0.05:
        evidence["warning"] = "no clear brain/bladder or lung cue; assumed head first"
        return Orientation(True, "default", evidence)
    return Orientation(bool(total > 0), "detected", evidence)


def resolve_orientation(head_first: bool | None, pet: np.ndarray | None, ct_hu: np.ndarray | None,
                        lung: tuple[np.ndarray, np.ndarray] | None = None) -> Orientation:
    """The study's own `head_first` when it has one, else the detected direction."""
    if head_first is not None:
        return Orientation(bool(head_first), "study", {})
    return detect_head_first(pet, ct_hu, lung)


def flip_z(volume: Volume) -> Volume:
    """The same volume with slices reversed (a view) and its affine updated to match."""
    affine = None
    if volume.affine is not None:
        affine = np.array(volume.affine, dtype=np.float64, copy=True)
        n = volume.array.shape[0]
        affine[:3, 3] = affine[:3, 3] + affine[:3, 0] * (n - 1)
        affine[:3, 0] = -affine[:3, 0]
    return Volume(volume.array[::-1], volume.spacing, volume.unit, affine)


@dataclass(frozen=True)
class OrientHeadFirst:
    """Flip a volume so slice 0 is the head end when `head_first` is False; no-op otherwise."""

    head_first: bool

    def __call__(self, volume: Volume) -> Volume:
        return volume if self.head_first else flip_z(volume)
