"""Body mask and in-plane body crop: spend model voxels on the patient, not on air and the couch.

Whole-body CT is mostly air: a 512x512 slice holds a torso about 350 mm wide in a 500-700 mm
field of view. The mask is found on a strided copy (every 4th voxel in-plane), because a crop box
needs millimetre accuracy, not voxel accuracy, and that keeps it a few milliseconds per study.
The scanner couch is dense enough to pass the HU threshold, so only the largest connected body
component is kept; the couch is a separate, thin object under the patient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from vipet.errors import ImagingError

BODY_HU = -500.0
PLANE_SAMPLES = 64  # landmark searches look at about this many samples across a slice (~8 mm)


def plane_stride(volume_shape: tuple[int, ...], samples: int = PLANE_SAMPLES) -> int:
    """In-plane step that leaves about `samples` voxels across: 8 for 512-wide CT, 4 for 256 PET."""
    return max(1, int(max(volume_shape[1], volume_shape[2])) // samples)


def body_mask(
    volume: np.ndarray, threshold: float = BODY_HU, stride: tuple[int, int, int] | None = None
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Largest connected component above `threshold`, on the strided grid; returns (mask, stride).

    Works on CT (HU threshold) and on PET (pass a low uptake threshold) alike.
    """
    if stride is None:
        step = plane_stride(volume.shape)
        stride = (2 if volume.shape[0] >= 64 else 1, step, step)
    sampled = np.asarray(volume[:: stride[0], :: stride[1], :: stride[2]])
    above = sampled > threshold
    if not above.any():
        return above, stride
    # Open in-plane so a couch touching the skin on a few voxels does not merge with the body.
    opened = ndimage.binary_opening(above, structure=np.ones((1, 3, 3), bool))
    labels, count = ndimage.label(opened if opened.any() else above)
    if count == 0:
        return above, stride
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes)), stride


def mask_bbox(mask: np.ndarray) -> tuple[tuple[int, int], ...]:
    """Tight [start, stop) per axis of a non-empty mask."""
    if not mask.any():
        raise ImagingError("empty mask: no body found above the threshold")
    bounds = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(mask.any(axis=other))
        bounds.append((int(hit[0]), int(hit[-1]) + 1))
    return tuple(bounds)


@dataclass(frozen=True)
class BodyCrop:
    """In-plane crop box (y, x) around the body, widened by `margin_mm`, optionally made square.

    `square` keeps the aspect ratio when the box is resized to a square target: the shorter side
    grows about its centre (the box may then reach outside the image; resampling fills with air).
    """

    threshold: float = BODY_HU
    margin_mm: float = 10.0
    square: bool = True

    def box(self, volume: np.ndarray, spacing: tuple[float, float, float]) -> tuple[tuple[float, float], tuple[float, float]]:
        """((y0, y1), (x0, x1)) in voxel-edge coordinates of `volume`; the whole plane when no body."""
        mask, stride = body_mask(volume, self.threshold)
        ny, nx = volume.shape[1], volume.shape[2]
        if not mask.any():
            return (0.0, float(ny)), (0.0, float(nx))
        _, (y0, y1), (x0, x1) = mask_bbox(mask)
        y0, y1 = y0 * stride[1], min(ny, y1 * stride[1])
        x0, x1 = x0 * stride[2], min(nx, x1 * stride[2])
        my = self.margin_mm / float(spacing[1]) + stride[1]
        mx = self.margin_mm / float(spacing[2]) + stride[2]
        box_y = [max(0.0, y0 - my), min(float(ny), y1 + my)]
        box_x = [max(0.0, x0 - mx), min(float(nx), x1 + mx)]
        if self.square:
            height_mm = (box_y[1] - box_y[0]) * spacing[1]
            width_mm = (box_x[1] - box_x[0]) * spacing[2]
            side_mm = max(height_mm, width_mm)
            box_y = _grow(box_y, side_mm / spacing[1])
            box_x = _grow(box_x, side_mm / spacing[2])
        return (float(box_y[0]), float(box_y[1])), (float(box_x[0]), float(box_x[1]))


def _grow(span: list[float], length: float) -> list[float]:
    centre = 0.5 * (span[0] + span[1])
    return [centre - length / 2.0, centre + length / 2.0]
