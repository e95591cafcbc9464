"""Augmentation: identical geometry on PET and CT, mirrored words, reproducible per (seed, epoch, index)."""

from __future__ import annotations

import numpy as np
import pytest

from vipet.data.augment import AugmentConfig, augment, rng_for

ONLY_FLIP = AugmentConfig(flip_lr_p=1.0, affine_p=0, intensity_p=0, noise_p=0, crop_p=0)


def _image_with_right_lesion():
    image = np.zeros((2, 8, 16, 16), np.float32)
    image[:, 4, 8, 3] = 1.0  # low column index = patient right
    return image


def test_flip_moves_the_lesion_in_both_channels_and_the_words():
    image = _image_with_right_lesion()
    out, (text,), applied = augment(image, ["Nốt phổi phải."], np.random.default_rng(0), ONLY_FLIP)
    assert applied == {"flip_lr": True} and text == "Nốt phổi trái."
    assert out[0, 4, 8, 12] == 1.0 and out[1, 4, 8, 12] == 1.0 and out[:, :, :, 3].max() == 0.0


def test_affine_and_crop_keep_channels_aligned_and_shape():
    image = _image_with_right_lesion()
    image[:, 2:6, 6:11, 2:6] = 0.7
    config = AugmentConfig(flip_lr_p=0, affine_p=1.0, intensity_p=0, noise_p=0, crop_p=1.0, rotate_deg=10)
    out, _, applied = augment(image, ["x"], np.random.default_rng(5), config)
    assert out.shape == image.shape and "affine" in applied and "slice_crop" in applied
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)  # the same transform hit both channels


def test_intensity_and_noise_stay_in_range():
    config = AugmentConfig(flip_lr_p=0, affine_p=0, intensity_p=1.0, noise_p=1.0, crop_p=0)
    out, _, applied = augment(np.full((2, 4, 4, 4), 0.5, np.float32), ["x"], np.random.default_rng(1), config)
    assert 0.0 <= out.min() and out.max() <= 1.0 and not np.allclose(out[0], out[1])
    assert set(applied) == {"intensity", "noise_std"}


def test_same_seed_epoch_index_gives_the_same_item_and_epochs_differ():
    image = np.random.default_rng(0).uniform(size=(2, 8, 16, 16)).astype(np.float32)
    a = augment(image, ["phải"], rng_for(7, 0, 3))
    b = augment(image, ["phải"], rng_for(7, 0, 3))
    c = augment(image, ["phải"], rng_for(7, 1, 3))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[2] == b[2] and not np.array_equal(a[0], c[0])


def test_bad_shape_rejected():
    with pytest.raises(ValueError):
        augment(np.zeros((8, 8, 8)), ["x"], np.random.default_rng(0))
