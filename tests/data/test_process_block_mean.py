"""The build's integer fast path for CT on the PET grid equals the general resampler bit for bit.

`process._block_mean_int16` replaces `resample_to_grid` (area average in float32) followed by
`np.rint` when int16 CT covers the grid in whole blocks of 1, 2 or 4 voxels: the reference here is
that general path itself, on values that stress it (the int16 extremes, every rounding tie, odd
and even floors, negative sums) and on every block shape the fast path accepts.
"""

from __future__ import annotations

import numpy as np
import pytest

from vipet.data.process import _block_factors, _block_mean_int16
from vipet.imaging.resample import Grid, resample_to_grid
from vipet.study import Volume


def _general(values: np.ndarray, grid: Grid) -> np.ndarray:
    resampled = resample_to_grid(Volume(values, (2.0, 1.0, 1.0), "HU"), grid, fill=-1000.0)
    return np.clip(np.rint(resampled), -32768, 32767).astype(np.int16)


def _ties(shape: tuple[int, int, int], factors: tuple[int, int, int]) -> np.ndarray:
    """Blocks whose sums leave every remainder modulo the block size, on both signs and parities."""
    rng = np.random.default_rng(sum(factors))
    values = rng.integers(-32768, 32768, size=shape, dtype=np.int64)
    values[: factors[0], : factors[1] * 4, : factors[2] * 4] = rng.choice([-32768, 32767, -1, 0, 1, 2, 3], size=(
        factors[0], factors[1] * 4, factors[2] * 4))
    small = rng.integers(-3, 4, size=shape)  # many blocks summing to ties such as -2/4, 2/4, 6/4
    values[shape[0] // 2:] = small[shape[0] // 2:]
    return values.astype(np.int16)


@pytest.mark.parametrize("factors", [(1, 2, 2), (2, 2, 2), (1, 4, 4), (2, 1, 1), (4, 4, 4), (1, 1, 2)])
def test_block_mean_equals_area_resample_then_rint(factors):
    grid_shape = (6, 10, 12)
    shape = tuple(n * f for n, f in zip(grid_shape, factors))
    values = _ties(shape, factors)
    grid = Grid(grid_shape, (2.0 * factors[0], 1.0 * factors[1], 1.0 * factors[2]))
    assert _block_factors(Volume(values, (2.0, 1.0, 1.0), "HU"), grid) == factors
    fast = _block_mean_int16(values, factors)
    assert fast.dtype == np.int16 and np.array_equal(fast, _general(values, grid))


def test_block_mean_of_a_hand_computed_block():
    values = np.array([[[1, 2], [3, 4]], [[-1, -2], [-2, -2]]], dtype=np.int16).reshape(1, 4, 2)
    # blocks of 2 rows x 2 columns: (1+2+3+4)/4 = 2.5 -> 2 (tie to even); (-1-2-2-2)/4 = -1.75 -> -2
    assert _block_mean_int16(values, (1, 2, 2)).tolist() == [[[2], [-2]]]


def test_slabs_cover_the_whole_volume():
    """More output slices than one slab holds: every slab is written (np.empty leaves garbage)."""
    values = np.random.default_rng(1).integers(-1000, 1000, size=(40, 128, 128), dtype=np.int16)
    grid = Grid((40, 64, 64), (2.0, 2.0, 2.0))
    assert np.array_equal(_block_mean_int16(values, (1, 2, 2)), _general(values, grid))


@pytest.mark.parametrize("case", ["float CT", "factor 3", "not whole blocks", "same grid", "flipped affine"])
def test_other_grids_take_the_general_path(case):
    values = np.zeros((6, 24, 24), np.int16)
    grid = Grid((6, 12, 12), (2.0, 2.0, 2.0))
    volume = Volume(values, (2.0, 1.0, 1.0), "HU")
    if case == "float CT":
        volume = Volume(values.astype(np.float32), (2.0, 1.0, 1.0), "HU")
    elif case == "factor 3":
        grid = Grid((6, 8, 8), (2.0, 3.0, 3.0))
    elif case == "not whole blocks":
        grid = Grid((6, 10, 10), (2.0, 2.4, 2.4))
    elif case == "same grid":
        grid = Grid((6, 24, 24), (2.0, 1.0, 1.0))
    else:
        flip = np.diag([-2.0, 1.0, 1.0, 1.0])
        volume = Volume(values, (2.0, 1.0, 1.0), "HU", affine=flip)
        grid = Grid((6, 12, 12), (2.0, 2.0, 2.0), np.diag([2.0, 2.0, 2.0, 1.0]))
    assert _block_factors(volume, grid) is None
