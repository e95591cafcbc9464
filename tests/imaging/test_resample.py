"""PET <-> CT resampling: a planted lesion lands on the same voxel on both grids."""

from __future__ import annotations

import numpy as np
import pytest
from phantom import make_phantom

from vipet.errors import ImagingError
from vipet.imaging.resample import Grid, index_map, map_point, resample_to_grid, sample_box
from vipet.study import Volume


def _centroid(volume: np.ndarray, threshold: float) -> np.ndarray:
    weights = np.where(volume > threshold, volume, 0.0)
    grids = np.indices(volume.shape)
    return np.array([(g * weights).sum() / weights.sum() for g in grids])


def test_pet_on_ct_grid_puts_the_lesion_where_ct_has_it():
    study, truth = make_phantom()
    pet_on_ct = resample_to_grid(study.pet, Grid.of(study.ct), fill=0.0)
    assert pet_on_ct.shape == study.ct.shape
    expected = np.array(truth.lesion_mm) / np.array(study.ct.spacing) - 0.5  # CT voxel centre index
    window = tuple(slice(int(c) - 4, int(c) + 5) for c in expected)
    found = _centroid(pet_on_ct[window], 0.5 * truth.lesion_suv) + [w.start for w in window]
    np.testing.assert_allclose(found, expected, atol=0.6)
    ct_found = _centroid(study.ct.array[window].astype(np.float32) + 1000.0, 500.0) + [w.start for w in window]
    np.testing.assert_allclose(ct_found, expected, atol=0.6)


def test_ct_on_pet_grid_keeps_hu_scale_and_lesion_position():
    study, truth = make_phantom()
    ct_on_pet = resample_to_grid(study.ct, Grid.of(study.pet), fill=-1000.0)
    assert ct_on_pet.shape == study.pet.shape
    expected = np.array(truth.lesion_mm) / np.array(study.pet.spacing) - 0.5
    z, y, x = np.rint(expected).astype(int)
    assert ct_on_pet[z, y, x] == pytest.approx(30.0, abs=40.0)  # lesion core HU survives the shrink
    assert ct_on_pet[:, 0, 0].max() < -900  # corner air stays air


def _affine(spacing, origin, flip_z=False):
    affine = np.eye(4)
    affine[0, 2], affine[1, 1], affine[2, 0] = spacing[2], spacing[1], -spacing[0] if not flip_z else spacing[0]
    affine[:3, 3] = origin
    return affine


def _blob(shape, affine, point_lps, sigma_mm=12.0):
    idx = np.indices(shape).reshape(3, -1).T.astype(float)
    lps = idx @ affine[:3, :3].T + affine[:3, 3]
    d2 = ((lps - point_lps) ** 2).sum(axis=1)
    return np.exp(-d2 / (2 * sigma_mm**2)).reshape(shape).astype(np.float32)


@pytest.mark.parametrize("flip_z", [False, True])
def test_affines_map_a_physical_point_to_the_same_place(flip_z):
    point = np.array([10.0, -20.0, -150.0])
    src_aff = _affine((4.0, 4.0, 4.0), (-64.0, -64.0, -10.0))
    src = Volume(_blob((60, 32, 32), src_aff, point), (4.0, 4.0, 4.0), "SUVbw", src_aff)
    dst_origin = (-60.0, -70.0, -260.0) if flip_z else (-60.0, -70.0, -5.0)
    dst_aff = _affine((3.0, 2.5, 2.5), dst_origin, flip_z=flip_z)
    dst = Grid((80, 50, 50), (3.0, 2.5, 2.5), dst_aff)
    out = resample_to_grid(src, dst, fill=0.0)
    found = _centroid(out, 0.3)
    expected = np.linalg.solve(dst_aff[:3, :3], point - dst_aff[:3, 3])
    np.testing.assert_allclose(found, expected, atol=0.35)
    back = map_point(Grid.of(src), dst, expected)
    np.testing.assert_allclose(back, np.linalg.solve(src_aff[:3, :3], point - src_aff[:3, 3]), atol=1e-9)


def test_oblique_map_falls_back_to_affine_transform():
    rng = np.random.default_rng(3)
    vol = rng.normal(size=(6, 10, 12)).astype(np.float32)
    src_aff = np.eye(4)
    dst_aff = np.eye(4)
    dst_aff[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, 1, 0]]  # dst (z, y, x) -> src (z, x, y): a transpose
    dst = Grid((6, 12, 10), (1.0, 1.0, 1.0), dst_aff)
    out = sample_box(vol, Grid(vol.shape, (1.0, 1.0, 1.0), src_aff), dst,
                     ((0.0, 6.0), (0.0, 12.0), (0.0, 10.0)), (6, 12, 10), antialias=False)
    np.testing.assert_allclose(out, vol.transpose(0, 2, 1), atol=1e-5)


def test_without_affines_grids_share_the_field_of_view():
    a_matrix, offset = index_map(Grid((10, 32, 32), (1, 2, 2)), Grid((10, 64, 64), (1, 1, 1)))
    np.testing.assert_allclose(np.diag(a_matrix), [1.0, 0.5, 0.5])
    # CT voxel 1 (edges 1..2) lies inside PET voxel 0 (edges 0..2 in CT units): centre at 0.25
    np.testing.assert_allclose(a_matrix @ [0, 1, 1] + offset, [0, 0.25, 0.25])


def test_shape_mismatch_is_an_imaging_error():
    with pytest.raises(ImagingError):
        sample_box(np.zeros((4, 4, 4)), Grid((5, 4, 4), (1, 1, 1)), Grid((4, 4, 4), (1, 1, 1)),
                   ((0, 4), (0, 4), (0, 4)), (2, 2, 2))
