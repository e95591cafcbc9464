"""Anatomical landmarks found in the images: lung fields on CT, the bladder on PET.

Lung fields are air inside the body: below -400 HU, enclosed by the body outline on their axial
slice (air outside the patient and in the couch is excluded by filling the body outline slice by
slice and keeping only what the fill added). Their first and last slices and the level where
their area falls below half its peak (the diaphragm domes) bound the chest. All of it runs on
about 64 samples across a slice (8 mm steps): region boundaries need slice accuracy, not voxel
accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from vipet.imaging.crop import BODY_HU, plane_stride

LUNG_HU = -400.0
LUNG_MIN_FRACTION = 0.08  # a slice is "lung" when air-in-body covers this share of the peak lung area
DOME_FRACTION = 0.5


def lung_profile(ct_hu: np.ndarray, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-slice (air-inside-body area, body area), in strided voxels, index 0 = first slice."""
    stride = plane_stride(ct_hu.shape) if stride is None else stride
    sampled = np.asarray(ct_hu[:, ::stride, ::stride])
    tissue = sampled > BODY_HU
    # Fill holes slice by slice: label the non-tissue voxels with in-plane connectivity only; the
    # components touching a slice's border are outside air, every other one is enclosed by the body.
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    labels, count = ndimage.label(~tissue, structure=in_plane)
    outside = np.zeros(count + 1, dtype=bool)
    outside[0] = True  # label 0 is tissue itself
    for edge in (labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]):
        outside[edge] = True
    enclosed = ~outside[labels]
    air_inside = enclosed & (sampled < LUNG_HU)
    filled = tissue | enclosed
    return air_inside.sum(axis=(1, 2)).astype(np.float64), filled.sum(axis=(1, 2)).astype(np.float64)


@dataclass(frozen=True)
class LungLandmarks:
    """Slices (head-first indexing) of the lung apex, the diaphragm dome level and the lung base."""

    apex: int
    dome: int
    base: int
    peak: int
    peak_area_fraction: float


def find_lungs(ct_hu: np.ndarray | None, profile: tuple[np.ndarray, np.ndarray] | None = None) -> LungLandmarks | None:
    """Lung landmarks of a head-first CT (or of its precomputed `lung_profile`), None without lungs."""
    if profile is None:
        if ct_hu is None:
            return None
        profile = lung_profile(ct_hu)
    area, body_area = profile
    if area.size == 0 or area.max() <= 0:
        return None
    peak_area = float(area.max())
    if peak_area < 0.05 * float(body_area.max()):
        return None
    is_lung = area >= LUNG_MIN_FRACTION * peak_area
    is_lung = ndimage.binary_closing(is_lung, structure=np.ones(3, bool)) | is_lung
    runs, count = ndimage.label(is_lung)
    if count == 0:
        return None
    # The lung run is the one holding the most air (stomach or bowel gas makes short runs).
    air_per_run = ndimage.sum(area, runs, index=np.arange(1, count + 1))
    lung_run = int(np.argmax(air_per_run)) + 1
    slices = np.flatnonzero(runs == lung_run)
    apex, base = int(slices[0]), int(slices[-1])
    peak = int(apex + np.argmax(area[apex : base + 1]))
    below = np.flatnonzero(area[peak : base + 1] < DOME_FRACTION * peak_area)
    dome = int(peak + below[0]) if below.size else base
    return LungLandmarks(apex, dome, base, peak, round(peak_area / max(float(body_area.max()), 1.0), 4))


def pet_body_and_hot(sampled: np.ndarray, hot_factor: float = 3.0) -> tuple[np.ndarray, np.ndarray, float]:
    """(body mask, hot mask, body median uptake) of a PET array, in any unit.

    Air dominates the field of view, so voxels above the overall mean are mostly the body, and a
    quarter of their mean separates fat from air noise whether the unit is SUV, Bq/mL or raw.
    "Hot" is `hot_factor` times the body's median uptake.
    """
    overall = float(sampled.mean())
    above = sampled[sampled > overall]
    if above.size == 0 or overall <= 0:
        empty = np.zeros(sampled.shape, bool)
        return empty, empty, 0.0
    body = sampled > 0.25 * float(above.mean())
    median = float(np.median(sampled[body])) if body.any() else 0.0
    return body, (sampled > hot_factor * median) & body, median


def find_bladder(pet: np.ndarray, start: int = 0) -> int | None:
    """Slice of the most hot voxels at or after `start` (the bladder, below the lungs, head first)."""
    if start >= pet.shape[0]:
        return None
    step = plane_stride(pet.shape)
    body, hot, _ = pet_body_and_hot(np.asarray(pet[:, ::step, ::step], dtype=np.float32))
    per_slice = hot[start:].sum(axis=(1, 2))
    if per_slice.size == 0 or per_slice.max() == 0:
        return None
    return int(start + np.argmax(per_slice))
