"""PET <-> CT grid mapping and resampling, from the spacing and affine each `Volume` carries.

Two grids are related by an index map `src_index = A @ dst_index + b`. With affines on both
volumes it comes from patient geometry (exact for DICOM and NIfTI, and for ViMed studies whose
reader attached the same-field-of-view default affine); without them the two arrays are taken to
span the same field of view edge to edge, the ViMed-PET assumption (a 256-wide PET voxel covers
exactly two 512-wide CT voxels). When the map is axis-aligned, which is every real PET/CT pair
after the readers' canonicalisation, sampling is the separable antialiased `resize_box` on the
right source box: PET and CT cut by one box in one grid land voxel for voxel on each other. An
oblique map (gantry tilt, different orientations) falls back to `scipy.ndimage.affine_transform`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from vipet.errors import ImagingError
from vipet.imaging.resize import Box, resize_box
from vipet.study import Volume

_AXIS_ALIGNED_TOL = 1e-6


@dataclass(frozen=True)
class Grid:
    """A voxel grid: shape, spacing (z, y, x) mm and the optional index -> LPS affine."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    affine: np.ndarray | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, volume: Volume) -> "Grid":
        return cls(volume.shape, tuple(float(s) for s in volume.spacing), volume.affine)  # type: ignore[arg-type]

    def describe(self) -> dict:
        return {
            "shape": list(self.shape),
            "spacing_mm": [round(float(s), 6) for s in self.spacing],
            "affine": None if self.affine is None else np.round(self.affine, 6).tolist(),
        }


def index_map(src: Grid, dst: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) with src_index = A @ dst_index + b, indices at voxel centres."""
    if src.affine is not None and dst.affine is not None:
        src_aff = np.asarray(src.affine, dtype=np.float64)
        dst_aff = np.asarray(dst.affine, dtype=np.float64)
        inv = np.linalg.inv(src_aff[:3, :3])
        return inv @ dst_aff[:3, :3], inv @ (dst_aff[:3, 3] - src_aff[:3, 3])
    scale = np.array([s / d for s, d in zip(src.shape, dst.shape)], dtype=np.float64)
    return np.diag(scale), 0.5 * scale - 0.5


def same_field_of_view(src: Grid, dst: Grid) -> bool:
    """Whether the index map ignores affines (one grid has none): the edge-to-edge assumption."""
    return src.affine is None or dst.affine is None


def sample_box(
    volume: np.ndarray,
    src: Grid,
    dst: Grid,
    box: Box,
    out_shape: tuple[int, int, int],
    *,
    fill: float | None = None,
    antialias: bool = True,
    kernel: str = "triangle",
) -> np.ndarray:
    """The part of `volume` (on grid `src`) under `box` (edge coordinates on grid `dst`), float32.

    `fill` is what lies outside the source (air -1000 HU for CT, 0 for PET); None extends edges.
    `kernel` is "triangle" or "area" (see resize.axis_matrix; the oblique fallback is always linear).
    """
    if tuple(volume.shape) != tuple(src.shape):
        raise ImagingError(f"volume shape {volume.shape} does not match its grid {src.shape}")
    a_matrix, offset = index_map(src, dst)
    off_diagonal = np.abs(a_matrix - np.diag(np.diag(a_matrix))).max()
    if off_diagonal <= _AXIS_ALIGNED_TOL * max(1.0, np.abs(a_matrix).max()):
        return _sample_separable(volume, np.diag(a_matrix), offset, box, out_shape, fill, antialias, kernel)
    return _sample_affine(volume, a_matrix, offset, box, out_shape, fill, antialias)


def resample_to_grid(
    volume: Volume, dst: Grid, *, fill: float | None = None, antialias: bool = True, kernel: str = "area"
) -> np.ndarray:
    """`volume` resampled onto the whole grid `dst` (e.g. PET onto CT, or CT onto PET), float32.

    Area averaging by default: a coarse voxel takes the mean of the fine voxels it covers.
    """
    box = tuple((0.0, float(n)) for n in dst.shape)
    return sample_box(volume.array, Grid.of(volume), dst, box, dst.shape, fill=fill, antialias=antialias,  # type: ignore[arg-type]
                      kernel=kernel)


def map_point(src: Grid, dst: Grid, dst_index: tuple[float, float, float]) -> np.ndarray:
    """A voxel-centre index on `dst` expressed on `src` (float); used to carry landmarks across."""
    a_matrix, offset = index_map(src, dst)
    return a_matrix @ np.asarray(dst_index, dtype=np.float64) + offset


def _sample_separable(
    volume: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    box: Box,
    out_shape: tuple[int, int, int],
    fill: float | None,
    antialias: bool,
    kernel: str = "triangle",
) -> np.ndarray:
    """Axis-aligned map: turn the dst box into a src box (flipping axes that run backwards)."""
    src_box = []
    flips = []
    for axis in range(3):
        # edge e on dst -> centre index (e - 0.5) -> src centre -> src edge (+ 0.5)
        e0, e1 = (scale[axis] * (e - 0.5) + offset[axis] + 0.5 for e in box[axis])
        if scale[axis] < 0:
            n = volume.shape[axis]
            e0, e1 = n - e0, n - e1
            flips.append(axis)
        src_box.append((float(e0), float(e1)))
    view = volume
    for axis in flips:
        view = np.flip(view, axis=axis)
    return resize_box(view, out_shape, tuple(src_box), antialias=antialias, fill=fill, kernel=kernel)  # type: ignore[arg-type]


def _sample_affine(
    volume: np.ndarray,
    a_matrix: np.ndarray,
    offset: np.ndarray,
    box: Box,
    out_shape: tuple[int, int, int],
    fill: float | None,
    antialias: bool,
) -> np.ndarray:
    """Oblique map: trilinear `affine_transform`, after a Gaussian prefilter when it shrinks."""
    step = np.array([(b1 - b0) / n for (b0, b1), n in zip(box, out_shape)], dtype=np.float64)
    start = np.array([b0 for b0, _ in box], dtype=np.float64) + 0.5 * step - 0.5
    # out index o -> dst index start + step * o -> src index A @ (...) + offset
    matrix = a_matrix @ np.diag(step)
    shift = a_matrix @ start + offset
    source = np.asarray(volume, dtype=np.float32)
    if antialias:
        footprint = np.abs(matrix).max(axis=1)  # source voxels per output step, per source axis
        sigma = [0.5 * max(0.0, f * f - 1.0) ** 0.5 for f in footprint]
        if max(sigma) > 0:
            source = ndimage.gaussian_filter(source, sigma=sigma, mode="nearest")
    mode = "nearest" if fill is None else "constant"
    return ndimage.affine_transform(
        source, matrix, offset=shift, output_shape=tuple(out_shape), order=1, mode=mode, cval=float(fill or 0.0)
    ).astype(np.float32)
