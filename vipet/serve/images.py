"""The pictures of the viewer as PNG bytes: coronal MIP and fused axial / coronal / sagittal planes.

All drawing is `vipet.imaging.render` (inverted-grey MIP, SUV 0-5; hot PET over a CT window at
50% opacity) and `vipet.imaging.windows` (the named HU windows); this module only cuts the plane
out of the memory-mapped volumes, stretches it to square millimetres and encodes it. A PET that is
not in SUV is shown with `render`'s rule (99.9th percentile reads as 10) and flagged by the
caller, never labelled SUV.
"""

from __future__ import annotations

import io

import numpy as np

from vipet.errors import ImagingError
from vipet.imaging.render import fused_slice_rgb, mip_image
from vipet.imaging.windows import WINDOWS
from vipet.serve.sources import StudyVolumes
from vipet.study import SUV_BW

PLANES = ("axial", "coronal", "sagittal")
# The presets the viewer offers, by the names of vipet.imaging.windows.
WINDOW_PRESETS = ("soft_tissue", "lung", "bone", "brain")
SUV_DISPLAY_MAX = 5.0


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of a uint8 grey or RGB image (fast compression: the viewer redraws on every slider step)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def display_scale(volumes: StudyVolumes) -> float:
    """Factor turning stored PET into display units: 1 for SUV, else render's percentile rule."""
    if volumes.pet_unit == SUV_BW:
        return 1.0
    cached = volumes.display.get("pet_scale")
    if cached is None:
        step = max(1, volumes.pet.size // 2_000_000)  # a strided sample is plenty for a percentile
        sample = np.asarray(volumes.pet.reshape(-1)[::step], dtype=np.float32)
        cached = 10.0 / max(float(np.percentile(sample, 99.9)), 1e-6)
        volumes.display["pet_scale"] = cached
    return float(cached)


def mip_png(volumes: StudyVolumes, suv_max: float = SUV_DISPLAY_MAX) -> bytes:
    """The coronal MIP (head on top: cached arrays are head first), true proportions; made once per study."""
    cache_key = f"mip_png_{suv_max:g}"
    if cache_key not in volumes.display:
        pet = np.asarray(volumes.pet, dtype=np.float32) * np.float32(display_scale(volumes))
        volumes.display[cache_key] = png_bytes(mip_image(pet, volumes.spacing, suv_max, head_first=True))
    return volumes.display[cache_key]


def plane_size(volumes: StudyVolumes, plane: str) -> int:
    """How many slices the plane's slider runs over."""
    return int(volumes.ct_hu.shape[PLANES.index(_check_plane(plane))])


def _check_plane(plane: str) -> str:
    if plane not in PLANES:
        raise ImagingError(f"unknown plane {plane!r}; expected one of {', '.join(PLANES)}")
    return plane


def _cut(array: np.ndarray, plane: str, index: int) -> np.ndarray:
    if plane == "axial":
        return np.asarray(array[index])
    if plane == "coronal":
        return np.asarray(array[:, index, :])
    return np.asarray(array[:, :, index])


def plane_rgb(volumes: StudyVolumes, plane: str, index: int, window: str = "soft_tissue",
              suv_max: float = SUV_DISPLAY_MAX) -> np.ndarray:
    """uint8 RGB of one fused plane, rows stretched so pixels are square in millimetres."""
    _check_plane(plane)
    if window not in WINDOW_PRESETS:
        raise ImagingError(f"unknown window {window!r}; expected one of {', '.join(WINDOW_PRESETS)}")
    size = plane_size(volumes, plane)
    if not 0 <= index < size:
        raise ImagingError(f"{plane} slice {index} outside 0..{size - 1}")
    ct = _cut(volumes.ct_hu, plane, index)
    pet = _cut(volumes.pet, plane, index).astype(np.float32) * np.float32(display_scale(volumes))
    rgb = fused_slice_rgb(ct, pet, window=WINDOWS[window], suv_max=suv_max)
    row_mm = volumes.spacing[1] if plane == "axial" else volumes.spacing[0]
    col_mm = volumes.spacing[1] if plane == "sagittal" else volumes.spacing[2]
    ratio = row_mm / col_mm
    if abs(ratio - 1.0) > 1e-3:
        from PIL import Image

        height = max(1, int(round(rgb.shape[0] * ratio)))
        rgb = np.asarray(Image.fromarray(rgb).resize((rgb.shape[1], height), Image.NEAREST))
    return rgb


def plane_png(volumes: StudyVolumes, plane: str, index: int, window: str = "soft_tissue") -> bytes:
    return png_bytes(plane_rgb(volumes, plane, index, window))


def value_at(volumes: StudyVolumes, z: int, y: int, x: int) -> dict[str, object]:
    """PET and CT at one voxel of the common grid, with the PET unit (SUV only when it is SUV)."""
    shape = volumes.pet.shape
    if not all(0 <= v < n for v, n in zip((z, y, x), shape)):
        raise ImagingError(f"voxel ({z}, {y}, {x}) outside the volume {tuple(shape)}")
    return {"z": z, "y": y, "x": x, "pet": round(float(volumes.pet[z, y, x]), 3), "pet_unit": volumes.pet_unit,
            "is_suv": volumes.pet_unit == SUV_BW, "ct_hu": int(volumes.ct_hu[z, y, x])}
