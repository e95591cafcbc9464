"""PET/CT pictures for people: coronal MIP and fused axial slices, saved as PNG with Pillow.

Conventions follow nuclear-medicine reading rooms (DOMAIN.md): the MIP is the maximum along the
anterior-posterior axis shown in inverted grey (SUV 0 white, SUV >= `suv_max` black, 5 by default,
10 as the alternative); the fused view lays a "hot" colour map of SUV at about 50% opacity over the
CT soft-tissue window (400/40). Only numpy, scipy and Pillow: renders must work in any notebook
and inside the data build without matplotlib or torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np
from scipy import ndimage

from vipet.errors import ImagingError
from vipet.fsutil import atomic_write_bytes
from vipet.study import SUV_BW, Study

SOFT_TISSUE_WINDOW = (400.0, 40.0)  # (width, level) HU


def coronal_mip(pet: np.ndarray, axis: int = 1) -> np.ndarray:
    """Maximum-intensity projection; axis 1 (rows, anterior->posterior) gives the coronal view (z, x)."""
    volume = np.asarray(pet)
    if volume.ndim != 3:
        raise ImagingError(f"MIP needs a 3-D volume, got shape {volume.shape}")
    return volume.max(axis=axis)


def window_to_unit(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linear map of [low, high] to [0, 1], clipped (float32)."""
    if high <= low:
        raise ImagingError(f"empty display range [{low}, {high}]")
    out = (np.asarray(values, dtype=np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(out, 0.0, 1.0)


def hot_colormap(unit: np.ndarray) -> np.ndarray:
    """The classic 'hot' map (black -> red -> yellow -> white) of values in [0, 1], float RGB."""
    t = np.clip(np.asarray(unit, dtype=np.float32), 0.0, 1.0)[..., None]
    thresholds = np.array([0.0, 1.0, 2.0], dtype=np.float32) / 3.0
    return np.clip((t - thresholds) * 3.0, 0.0, 1.0)


def mip_image(pet_suv: np.ndarray, spacing: tuple[float, float, float] | None = None, suv_max: float = 5.0,
              head_first: bool | None = True) -> np.ndarray:
    """uint8 inverted-grey coronal MIP, rows stretched to true proportions when `spacing` is known
    and flipped so the head is on top when the volume runs feet->head."""
    mip = coronal_mip(pet_suv)
    if head_first is False:
        mip = mip[::-1]
    grey = 1.0 - window_to_unit(mip, 0.0, suv_max)
    if spacing is not None and spacing[0] > 0 and spacing[2] > 0:
        ratio = float(spacing[0]) / float(spacing[2])
        if abs(ratio - 1.0) > 1e-3:
            grey = ndimage.zoom(grey, (ratio, 1.0), order=1)
    return np.rint(np.clip(grey, 0.0, 1.0) * 255.0).astype(np.uint8)


def fused_slice_rgb(ct_hu_slice: np.ndarray, pet_suv_slice: np.ndarray, window: tuple[float, float] = SOFT_TISSUE_WINDOW,
                    suv_max: float = 5.0, alpha: float = 0.5) -> np.ndarray:
    """uint8 RGB of one axial slice: CT in the given (width, level) window, PET resampled onto the CT
    grid (linear) and blended in the hot map, opacity rising to `alpha` by 30% of `suv_max`."""
    ct = np.asarray(ct_hu_slice, dtype=np.float32)
    pet = np.asarray(pet_suv_slice, dtype=np.float32)
    if ct.ndim != 2 or pet.ndim != 2:
        raise ImagingError(f"fused view needs 2-D slices, got CT {ct.shape} and PET {pet.shape}")
    if pet.shape != ct.shape:
        pet = ndimage.zoom(pet, (ct.shape[0] / pet.shape[0], ct.shape[1] / pet.shape[1]), order=1)
        pet = pet[: ct.shape[0], : ct.shape[1]]
        if pet.shape != ct.shape:  # zoom rounding can leave one row or column short
            pet = np.pad(pet, [(0, ct.shape[0] - pet.shape[0]), (0, ct.shape[1] - pet.shape[1])], mode="edge")
    width, level = window
    grey = window_to_unit(ct, level - width / 2.0, level + width / 2.0)[..., None].repeat(3, axis=-1)
    heat = window_to_unit(pet, 0.0, suv_max)
    colour = hot_colormap(heat)
    weight = (np.float32(alpha) * np.clip(heat / 0.3, 0.0, 1.0))[..., None]  # faint uptake barely tints
    rgb = grey * (1.0 - weight) + colour * weight
    return np.rint(rgb * 255.0).astype(np.uint8)


def _png_bytes(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _pet_for_display(study: Study) -> tuple[np.ndarray, float]:
    """PET in SUV, or raw units rescaled so the 99.9th percentile reads as SUV 10 (flagged by callers)."""
    if study.pet is None:
        raise ImagingError("study has no PET volume", study.source or study.key)
    values = np.asarray(study.pet.array, dtype=np.float32)
    if study.pet.unit == SUV_BW:
        return values, 1.0
    scale = 10.0 / max(float(np.percentile(values, 99.9)), 1e-6)
    return values * np.float32(scale), scale


def save_mip_png(study_or_pet: Union[Study, np.ndarray], path: str | Path, suv_max: float = 5.0) -> Path:
    """Write the coronal MIP PNG of a study (or of a bare SUV volume) atomically."""
    if isinstance(study_or_pet, Study):
        pet, _ = _pet_for_display(study_or_pet)
        assert study_or_pet.pet is not None
        image = mip_image(pet, study_or_pet.pet.spacing, suv_max, study_or_pet.head_first)
    else:
        image = mip_image(np.asarray(study_or_pet, dtype=np.float32), None, suv_max)
    return atomic_write_bytes(path, _png_bytes(image))


def pet_slice_for_ct(study: Study, z: int) -> int:
    """PET slice index at the same height as CT slice `z` (same field of view assumed along z)."""
    assert study.ct is not None and study.pet is not None
    n_ct, n_pet = study.ct.shape[0], study.pet.shape[0]
    if n_ct == n_pet:
        return z
    return int(np.clip(np.floor((z + 0.5) * n_pet / n_ct), 0, n_pet - 1))


def save_fused_png(study: Study, z: int, path: str | Path, suv_max: float = 5.0, alpha: float = 0.5) -> Path:
    """Write the fused PET/CT view of CT slice `z` atomically."""
    if study.ct is None:
        raise ImagingError("study has no CT volume", study.source or study.key)
    if not 0 <= z < study.ct.shape[0]:
        raise ImagingError(f"slice {z} outside the CT volume (0..{study.ct.shape[0] - 1})", study.source or study.key)
    pet, _ = _pet_for_display(study)
    rgb = fused_slice_rgb(np.asarray(study.ct.array[z]), pet[pet_slice_for_ct(study, z)], suv_max=suv_max, alpha=alpha)
    return atomic_write_bytes(path, _png_bytes(rgb))
