"""Analytic solids painted onto voxel grids, touching only each solid's bounding box.

Every synthetic organ and lesion is an (optionally rotated) super-ellipsoid in millimetres. Working
on the solid's bounding box keeps painting cost proportional to the solid, not to the whole
512 x 512 x 300 volume, which is what makes a full-size phantom take seconds instead of minutes.

Coordinates: a `Grid` maps voxel (i, j, k) along (z, y, x) to the position of its centre
`((i + 0.5) * dz, (j + 0.5) * dy, (k + 0.5) * dx)` mm, so grids of different resolution over the
same field of view (CT and PET) share one millimetre frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Grid:
    """A voxel grid over the phantom frame: `shape` and `spacing` are (z, y, x), spacing in mm."""

    shape: tuple[int, int, int]
    spacing: Vec3

    def centres(self, axis: int) -> np.ndarray:
        """Millimetre positions of the voxel centres along one axis (float32 to halve memory)."""
        return ((np.arange(self.shape[axis], dtype=np.float32) + 0.5) * np.float32(self.spacing[axis]))

    def to_index(self, point_mm: Sequence[float]) -> np.ndarray:
        """Continuous voxel index of a point (inverse of the voxel-centre rule)."""
        return np.asarray(point_mm, dtype=np.float64) / np.asarray(self.spacing) - 0.5

    def nearest_index(self, point_mm: Sequence[float]) -> tuple[int, int, int]:
        idx = np.rint(self.to_index(point_mm)).astype(int)
        idx = np.clip(idx, 0, np.asarray(self.shape) - 1)
        return int(idx[0]), int(idx[1]), int(idx[2])


def bbox_slices(grid: Grid, center: Sequence[float], reach: Sequence[float]) -> tuple[slice, slice, slice] | None:
    """Index slices covering `center +- reach` mm, clipped to the grid; None when fully outside."""
    out = []
    for axis in range(3):
        lo = int(np.floor((center[axis] - reach[axis]) / grid.spacing[axis] - 0.5))
        hi = int(np.ceil((center[axis] + reach[axis]) / grid.spacing[axis] - 0.5)) + 1
        lo, hi = max(lo, 0), min(hi, grid.shape[axis])
        if hi <= lo:
            return None
        out.append(slice(lo, hi))
    return out[0], out[1], out[2]


def _box_coords(grid: Grid, box: tuple[slice, slice, slice], center: Sequence[float]) -> list[np.ndarray]:
    """Broadcastable offsets (mm) from `center` of the voxel centres inside `box`."""
    offsets = []
    for axis, sl in enumerate(box):
        pos = (np.arange(sl.start, sl.stop, dtype=np.float32) + 0.5) * np.float32(grid.spacing[axis])
        shape = [1, 1, 1]
        shape[axis] = pos.size
        offsets.append((pos - np.float32(center[axis])).reshape(shape))
    return offsets


def rotation_zyx(direction: Sequence[float]) -> np.ndarray:
    """A rotation whose first row is the unit `direction` (z, y, x): used to orient thin spicules."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(d, helper)
    u /= np.linalg.norm(u)
    v = np.cross(d, u)
    return np.stack([d, u, v])


def norm_field(
    grid: Grid,
    center: Sequence[float],
    semi: Sequence[float],
    power: float = 2.0,
    rotation: np.ndarray | None = None,
    pad: float = 0.0,
) -> tuple[tuple[slice, slice, slice], np.ndarray] | None:
    """(box, r) with r <= 1 inside the solid, evaluated on the solid's bounding box only.

    power 2 is an ellipsoid; other powers keep an elliptical axial cross-section and use the power
    along z only, r = (|dz/sz|^p + ((dy/sy)^2 + (dx/sx)^2)^(p/2))^(1/p). `rotation` rows are the solid's axes expressed in (z, y, x); `pad` widens the
    box (mm) so callers can build shells or blurred footprints around the solid.
    """
    reach = [s + pad for s in semi] if rotation is None else [max(semi) + pad] * 3
    box = bbox_slices(grid, center, reach)
    if box is None:
        return None
    dz, dy, dx = _box_coords(grid, box, center)
    if rotation is None:
        comps = (dz / np.float32(semi[0]), dy / np.float32(semi[1]), dx / np.float32(semi[2]))
    else:
        rot = rotation.astype(np.float32)
        comps = tuple((rot[i, 0] * dz + rot[i, 1] * dy + rot[i, 2] * dx) / np.float32(semi[i]) for i in range(3))
    if power == 2.0:
        acc = comps[0] * comps[0] + comps[1] * comps[1] + comps[2] * comps[2]
        return box, np.sqrt(acc)
    # Round axial cross-section, flattened ends along z: power 8 is a capped cylinder (vessels,
    # airway), 2.6 a lung with a broad base.
    radial = comps[1] * comps[1] + comps[2] * comps[2]
    acc = np.abs(comps[0]) ** np.float32(power) + radial ** np.float32(power / 2.0)
    return box, acc ** np.float32(1.0 / power)


def label_mask(labels: np.ndarray, allowed: Sequence[int]) -> np.ndarray:
    """labels in `allowed` for uint8 label arrays, by table lookup (several times faster than isin)."""
    table = np.zeros(256, dtype=bool)
    table[np.asarray(allowed, dtype=np.intp)] = True
    return table[labels]


def paint(
    labels: np.ndarray,
    grid: Grid,
    center: Sequence[float],
    semi: Sequence[float],
    value: int,
    power: float = 2.0,
    only_on: Sequence[int] | None = None,
    rotation: np.ndarray | None = None,
) -> None:
    """Set voxels inside the solid to `value`; with `only_on`, only where the current label is listed
    (how organs are clipped to the cavity they live in, e.g. lungs to the thorax)."""
    field = norm_field(grid, center, semi, power, rotation)
    if field is None:
        return
    box, r = field
    inside = r <= 1.0
    view = labels[box]
    if only_on is not None:
        inside &= label_mask(view, only_on)
    view[inside] = value


def occupancy(
    grid: Grid,
    center: Sequence[float],
    semi: Sequence[float],
    supersample: int = 3,
    rotation: np.ndarray | None = None,
) -> tuple[tuple[slice, slice, slice], np.ndarray] | None:
    """Fraction (0..1, float32) of each voxel inside an ellipsoid, by sub-voxel sampling.

    Lesions are often only a few voxels wide; painting them with fractional occupancy gives the
    partial-volume values a real scanner records, so a 6 mm nodule does not vanish or double in
    size depending on where it falls on the grid.
    """
    base = norm_field(grid, center, semi, 2.0, rotation, pad=max(grid.spacing))
    if base is None:
        return None
    box, _ = base
    shape = tuple(sl.stop - sl.start for sl in box)
    acc = np.zeros(shape, dtype=np.float32)
    steps = (np.arange(supersample, dtype=np.float32) + 0.5) / supersample - 0.5
    for oz in steps:
        for oy in steps:
            for ox in steps:
                shifted = (
                    center[0] - oz * grid.spacing[0],
                    center[1] - oy * grid.spacing[1],
                    center[2] - ox * grid.spacing[2],
                )
                dz, dy, dx = _box_coords(grid, box, shifted)
                if rotation is None:
                    r2 = (dz / semi[0]) ** 2 + (dy / semi[1]) ** 2 + (dx / semi[2]) ** 2
                else:
                    rot = rotation.astype(np.float32)
                    r2 = sum(((rot[i, 0] * dz + rot[i, 1] * dy + rot[i, 2] * dx) / semi[i]) ** 2 for i in range(3))
                acc += r2 <= 1.0
    acc /= np.float32(supersample**3)
    return box, acc


def gaussian_sigma_vox(fwhm_mm: float, spacing: Sequence[float]) -> tuple[float, float, float]:
    """Gaussian sigma per axis, in voxels, of an isotropic point-spread function of `fwhm_mm`."""
    sigma_mm = fwhm_mm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    return tuple(float(sigma_mm / s) for s in spacing)  # type: ignore[return-value]
