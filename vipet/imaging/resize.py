"""Separable, antialiased resampling of a box of a 3-D volume to a target shape.

Why not `scipy.ndimage.zoom` or torch trilinear: both sample the source at the output voxel
centres only, so shrinking a 512-wide CT to 128 skips three of every four voxels and aliases
noise and edges into the result. Here each axis is one sparse matrix whose rows are a triangle
(linear) kernel stretched by the shrink factor (the PIL / torch `antialias=True` rule), so every
source voxel contributes and the cost grows with the voxels actually read, not with a prefilter
over the whole volume. The same matrices express "crop then resize" exactly: a box in source
voxel-edge coordinates (voxel i spans [i, i+1)) maps each output voxel centre to a source
position, so PET and CT cut by the same physical box stay aligned voxel for voxel.

Only the slab of the source that the box touches is read, which is what lets a build resize one
region of a memory-mapped whole-body volume without loading the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from vipet.errors import ImagingError

Box = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
KERNELS = ("triangle", "area")
_BAND_ELEMENTS = 1 << 21  # samples per chunk of a pass (8 MB of float32): big enough to amortise, small enough to stay hot


def axis_matrix(
    n_in: int,
    n_out: int,
    start: float = 0.0,
    stop: float | None = None,
    *,
    antialias: bool = True,
    renormalise: bool = True,
    kernel: str = "triangle",
) -> tuple[sp.csr_matrix, np.ndarray, int]:
    """Sparse (n_out, n_used) weights mapping source samples [lo, lo + n_used) to output samples.

    Output sample i has centre `start + (i + 0.5) * scale` in edge coordinates, scale =
    (stop - start) / n_out. Taps outside [0, n_in) are dropped. With `renormalise` the remaining
    taps are rescaled to sum to one (PIL's border rule; a row with no tap inside takes the nearest
    edge voxel); otherwise the dropped share is returned per row in `outside` so the caller can
    fill it with a constant (air, zero uptake). Returns (matrix, outside_weight, lo).

    `kernel` "triangle" is linear interpolation widened by the shrink factor; "area" averages the
    source voxels under each output voxel's footprint by their overlap (the physically right way
    to put fine CT onto a coarse PET grid) and is linear when enlarging.
    """
    if kernel not in KERNELS:
        raise ImagingError(f"unknown resample kernel {kernel!r}; use one of {KERNELS}")
    stop = float(n_in) if stop is None else float(stop)
    if n_in < 1 or n_out < 1 or stop <= start:
        raise ImagingError(f"bad resample axis: n_in={n_in}, n_out={n_out}, box=({start}, {stop})")
    scale = (stop - start) / n_out
    support = max(scale, 1.0) if antialias else 1.0
    centres = start + (np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5  # index coordinates
    first = np.floor(centres - support).astype(np.int64) + 1
    taps = int(np.ceil(2.0 * support)) + 1
    index = first[:, None] + np.arange(taps, dtype=np.int64)[None, :]
    if kernel == "area" and antialias and scale > 1.0:
        low, high = centres[:, None] - scale / 2.0, centres[:, None] + scale / 2.0
        weight = np.clip(np.minimum(index + 0.5, high) - np.maximum(index - 0.5, low), 0.0, None)
    else:
        weight = np.clip(1.0 - np.abs(index - centres[:, None]) / support, 0.0, None)
    total = weight.sum(axis=1, keepdims=True)
    weight = weight / np.where(total > 0, total, 1.0)
    inside = (index >= 0) & (index < n_in)
    outside = np.where(inside, 0.0, weight).sum(axis=1)
    weight = np.where(inside, weight, 0.0)
    if renormalise:
        empty = weight.sum(axis=1) <= 0
        if empty.any():  # output centre far outside the volume: nearest edge voxel
            index[empty, 0] = np.clip(np.rint(centres[empty]), 0, n_in - 1).astype(np.int64)
            weight[empty, 0] = 1.0
        weight = weight / weight.sum(axis=1, keepdims=True)
        outside = np.zeros(n_out)
    keep = weight > 0
    if not keep.any():  # the whole box lies outside the volume: everything is fill
        matrix = sp.csr_matrix((n_out, 1), dtype=np.float32)
        return matrix, np.ones(n_out), 0
    lo = int(index[keep].min())
    hi = int(index[keep].max()) + 1
    rows = np.repeat(np.arange(n_out), taps)[keep.ravel()]
    cols = (index[keep] - lo).ravel()
    matrix = sp.csr_matrix((weight[keep].astype(np.float32), (rows, cols)), shape=(n_out, hi - lo))
    matrix.sum_duplicates()
    return matrix, outside, lo


def resize_box(
    volume: np.ndarray,
    out_shape: tuple[int, int, int],
    box: Box | None = None,
    *,
    antialias: bool = True,
    fill: float | None = None,
    kernel: str = "triangle",
) -> np.ndarray:
    """Resample `box` of `volume` (whole volume when None) to `out_shape`, float32.

    `fill` is the value outside the volume (e.g. -1000 HU, SUV 0); None renormalises the kernel
    over the taps that exist, i.e. the edge voxels extend outward.
    """
    if volume.ndim != 3:
        raise ImagingError(f"expected a 3-D volume, got shape {volume.shape}")
    if len(out_shape) != 3 or min(out_shape) < 1:
        raise ImagingError(f"bad target shape {out_shape}")
    if box is None:
        box = tuple((0.0, float(n)) for n in volume.shape)  # type: ignore[assignment]
    plans = []
    slab = []
    for axis in range(3):
        matrix, outside, lo = axis_matrix(
            volume.shape[axis], out_shape[axis], *box[axis], antialias=antialias, renormalise=fill is None,
            kernel=kernel,
        )
        plans.append((matrix, outside.astype(np.float32)))
        slab.append(slice(lo, lo + matrix.shape[1]))
    result = volume[tuple(slab)]
    fill_value = 0.0 if fill is None else float(fill)
    # Shrink first along the axis that removes the most samples: later passes then touch less data.
    order = sorted(range(3), key=lambda a: plans[a][0].shape[0] / max(plans[a][0].shape[1], 1))
    for axis in order:
        matrix, outside = plans[axis]
        if _is_identity(matrix) and not outside.any():
            continue  # e.g. the slice axis when only the plane is resampled
        result = _apply_axis(result, matrix, axis)
        if fill_value and outside.any():
            shape = [1, 1, 1]
            shape[axis] = -1
            result += (fill_value * outside).reshape(shape)
    return np.ascontiguousarray(result, dtype=np.float32)


def _is_identity(matrix: sp.csr_matrix) -> bool:
    n = matrix.shape[0]
    return (matrix.shape[1] == n and matrix.nnz == n and bool(np.all(matrix.data == 1.0))
            and bool(np.array_equal(matrix.indices, np.arange(n))))


def _apply_axis(volume: np.ndarray, matrix: sp.csr_matrix, axis: int) -> np.ndarray:
    """Multiply `matrix` along one axis with a memory walk that keeps every copy contiguous.

    Axis 0: one sparse product over flattened planes. Axis 1: move it first with row-sized copies,
    multiply, move it back. Axis 2 (the contiguous one): a weighted sum of a few column gathers,
    one per kernel tap, which beats any transpose of the volume.
    """
    n_in = volume.shape[axis]
    if matrix.shape[1] != n_in:
        raise ImagingError(f"internal: axis {axis} has {n_in} samples, matrix expects {matrix.shape[1]}")
    d, h, w = volume.shape
    factor = _block_factor(matrix)
    if factor:  # area average over whole blocks of `factor` samples: a sum of strided views
        picks = [slice(None)] * 3
        picks[axis] = slice(0, None, factor)
        out = np.array(volume[tuple(picks)], dtype=np.float32)
        for offset in range(1, factor):
            picks[axis] = slice(offset, None, factor)
            out += volume[tuple(picks)]
        out *= np.float32(1.0 / factor)
        return out
    if axis == 0:
        # in bands of rows: each band is converted to float32 once and stays cache-sized
        out = np.empty((matrix.shape[0], h, w), dtype=np.float32)
        rows = max(1, _BAND_ELEMENTS // max(d * w, 1))
        for y0 in range(0, h, rows):
            band = np.ascontiguousarray(volume[:, y0:y0 + rows], dtype=np.float32).reshape(d, -1)
            out[:, y0:y0 + rows] = (matrix @ band).reshape(matrix.shape[0], -1, w)
        return out
    if axis == 1:
        out = np.empty((d, matrix.shape[0], w), dtype=np.float32)
        slices = max(1, _BAND_ELEMENTS // max(h * w, 1))
        for z0 in range(0, d, slices):
            moved = np.ascontiguousarray(np.swapaxes(volume[z0:z0 + slices], 0, 1), dtype=np.float32)
            product = (matrix @ moved.reshape(h, -1)).reshape(matrix.shape[0], -1, w)
            out[z0:z0 + slices] = np.swapaxes(product, 0, 1)
        return out
    index, weight = _taps(matrix)
    flat = np.ascontiguousarray(volume).reshape(d * h, w)
    out = np.zeros((d * h, matrix.shape[0]), dtype=np.float32)
    for k in range(index.shape[1]):
        out += np.take(flat, index[:, k], axis=1) * weight[:, k]
    return out.reshape(d, h, matrix.shape[0])


def _block_factor(matrix: sp.csr_matrix) -> int:
    """f when the matrix averages consecutive, non-overlapping blocks of f samples, else 0."""
    n_out, n_in = matrix.shape
    if n_out == 0 or n_in % n_out or n_in == n_out:
        return 0
    factor = n_in // n_out
    if matrix.nnz != n_in or not np.array_equal(matrix.indices, np.arange(n_in)):
        return 0
    if not np.array_equal(matrix.indptr, np.arange(0, n_in + 1, factor)):
        return 0
    return factor if np.allclose(matrix.data, 1.0 / factor, rtol=1e-6, atol=0) else 0


def _taps(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(n_out, K) column indices and weights of a CSR matrix, rows padded with zero-weight taps."""
    counts = np.diff(matrix.indptr)
    taps = max(int(counts.max()) if counts.size else 1, 1)
    index = np.zeros((matrix.shape[0], taps), dtype=np.intp)
    weight = np.zeros((matrix.shape[0], taps), dtype=np.float32)
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    slot = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], counts)
    index[rows, slot] = matrix.indices
    weight[rows, slot] = matrix.data
    return index, weight


@dataclass(frozen=True)
class Resize:
    """Resize a whole volume (or a box of it) to `shape`, antialiased when shrinking."""

    shape: tuple[int, int, int]
    antialias: bool = True
    kernel: str = "triangle"

    def __call__(self, volume: np.ndarray, box: Box | None = None, fill: float | None = None) -> np.ndarray:
        return resize_box(volume, self.shape, box, antialias=self.antialias, fill=fill, kernel=self.kernel)
