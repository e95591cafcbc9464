"""Separable antialiased resize: exact against PIL and torch, boxes, fill, and aliasing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vipet.errors import ImagingError
from vipet.imaging.resize import Resize, axis_matrix, resize_box


@pytest.mark.parametrize("out_hw", [(12, 20), (37, 53), (80, 90), (17, 26)])
def test_in_plane_matches_pil_bilinear_with_antialias(out_hw):
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(37, 53)).astype(np.float32)
    ours = resize_box(plane[None], (1, *out_hw))[0]
    pil = np.asarray(Image.fromarray(plane, mode="F").resize(out_hw[::-1], Image.BILINEAR))
    np.testing.assert_allclose(ours, pil, atol=1e-5)


def test_3d_matches_torch_separable_antialias_and_plain_trilinear():
    rng = np.random.default_rng(1)
    vol = rng.normal(size=(20, 30, 40)).astype(np.float32)
    # torch has antialias only in 2-D: apply it in-plane, then along z on (z, x) planes.
    t = torch.from_numpy(vol)
    inplane = torch.nn.functional.interpolate(t[:, None], size=(11, 13), mode="bilinear", antialias=True)[:, 0]
    zx = inplane.permute(1, 0, 2)[:, None]  # (y, 1, z, x)
    ref = torch.nn.functional.interpolate(zx, size=(7, 13), mode="bilinear", antialias=True)[:, 0].permute(1, 0, 2)
    np.testing.assert_allclose(resize_box(vol, (7, 11, 13)), ref.numpy(), atol=1e-5)
    plain = torch.nn.functional.interpolate(t[None, None], size=(9, 45, 50), mode="trilinear")[0, 0].numpy()
    np.testing.assert_allclose(resize_box(vol, (9, 45, 50), antialias=False), plain, atol=1e-5)


def test_identity_and_integer_crop_are_exact():
    vol = np.arange(6 * 8 * 10, dtype=np.int16).reshape(6, 8, 10)
    np.testing.assert_array_equal(resize_box(vol, vol.shape), vol.astype(np.float32))
    box = ((1.0, 5.0), (2.0, 7.0), (3.0, 9.0))
    np.testing.assert_array_equal(resize_box(vol, (4, 5, 6), box), vol[1:5, 2:7, 3:9].astype(np.float32))


def test_block_average_for_factor_two_inside_volume():
    rng = np.random.default_rng(2)
    vol = rng.normal(size=(1, 64, 64)).astype(np.float32)
    out = resize_box(vol, (1, 32, 32))[0]
    # triangle of support 2 at a factor-2 shrink = weights (1, 3, 3, 1)/8 per axis
    w = np.array([1, 3, 3, 1], np.float32) / 8
    y, x = 10, 17
    patch = vol[0, 2 * y - 1 : 2 * y + 3, 2 * x - 1 : 2 * x + 3]
    assert out[y, x] == pytest.approx(float(w @ patch @ w), abs=1e-5)


def test_antialias_suppresses_aliasing_of_a_fine_pattern():
    # a one-voxel checkerboard has mean 0.5; skipping samples shows pure 0 or 1 instead
    checker = (np.indices((9, 63, 63)).sum(axis=0) % 2).astype(np.float32)
    smooth = resize_box(checker, (3, 21, 21))  # factor 3: plain sampling hits single voxels
    aliased = resize_box(checker, (3, 21, 21), antialias=False)
    assert np.abs(smooth - 0.5).max() < 0.1
    assert np.abs(aliased - 0.5).max() == pytest.approx(0.5)


def test_fill_outside_volume_and_edge_extension():
    vol = np.ones((4, 4, 4), np.float32)
    box = ((0.0, 4.0), (0.0, 4.0), (-4.0, 4.0))  # left half of the box is outside
    filled = resize_box(vol, (4, 4, 8), box, fill=-1000.0)
    np.testing.assert_allclose(filled[..., :3], -1000.0)
    np.testing.assert_allclose(filled[..., 5:], 1.0)
    extended = resize_box(vol, (4, 4, 8), box)
    np.testing.assert_allclose(extended, 1.0)


def test_only_the_box_slab_is_read():
    matrix, _, lo = axis_matrix(300, 10, 100.0, 150.0)
    assert lo >= 95 and lo + matrix.shape[1] <= 155


def test_bad_shapes_raise_imaging_error():
    with pytest.raises(ImagingError):
        resize_box(np.zeros((4, 4)), (2, 2, 2))
    with pytest.raises(ImagingError):
        resize_box(np.zeros((4, 4, 4)), (0, 2, 2))
    with pytest.raises(ImagingError):
        Resize((2, 2, 2))(np.zeros((4, 4, 4)), ((2.0, 2.0), (0.0, 4.0), (0.0, 4.0)))


def test_area_kernel_is_the_block_mean_for_integer_factors_and_overlap_weights_otherwise():
    rng = np.random.default_rng(4)
    vol = rng.integers(-1000, 1000, size=(6, 8, 12)).astype(np.int16)
    expected = vol.astype(np.float64).reshape(6, 4, 2, 4, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(resize_box(vol, (6, 4, 4), kernel="area"), expected, rtol=1e-5, atol=1e-3)
    # factor 1.5: output voxel 0 covers source voxel 0 fully and half of voxel 1
    line = np.array([[[0.0, 3.0, 6.0]]], np.float32)
    np.testing.assert_allclose(resize_box(line, (1, 1, 2), kernel="area")[0, 0], [1.0, 5.0], atol=1e-6)


def test_every_axis_order_gives_the_same_result():
    rng = np.random.default_rng(5)
    vol = rng.normal(size=(20, 24, 28)).astype(np.float32)
    box = ((2.5, 17.0), (1.0, 23.5), (3.0, 25.0))
    got = resize_box(vol, (7, 9, 11), box)
    # reference: dense matrices applied with einsum, independent of the memory-walk tricks
    mats = [axis_matrix(n, m, *b, renormalise=True)[0] for n, m, b in zip(vol.shape, (7, 9, 11), box)]
    los = [axis_matrix(n, m, *b)[2] for n, m, b in zip(vol.shape, (7, 9, 11), box)]
    sub = vol[los[0]:los[0] + mats[0].shape[1], los[1]:los[1] + mats[1].shape[1], los[2]:los[2] + mats[2].shape[1]]
    ref = np.einsum("ai,bj,ck,ijk->abc", *(m.toarray() for m in mats), sub.astype(np.float64))
    np.testing.assert_allclose(got, ref, atol=1e-4)
