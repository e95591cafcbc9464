"""MIP and fused PNG renders: exact pixel rules on hand-made arrays, and a look at a synthetic study."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vipet.errors import ImagingError
from vipet.imaging.render import (
    coronal_mip, fused_slice_rgb, hot_colormap, mip_image, save_fused_png, save_mip_png, window_to_unit,
)


def test_coronal_mip_is_the_max_along_rows():
    rng = np.random.default_rng(0)
    pet = rng.random((5, 6, 7)).astype(np.float32)
    assert np.array_equal(coronal_mip(pet), pet.max(axis=1))
    with pytest.raises(ImagingError):
        coronal_mip(pet[0])


def test_hot_colormap_endpoints_and_ramp():
    rgb = hot_colormap(np.array([0.0, 1 / 3, 2 / 3, 1.0]))
    assert np.allclose(rgb, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]], atol=1e-6)


def test_mip_image_is_inverted_grey_with_the_suv_window():
    pet = np.zeros((4, 3, 5), dtype=np.float32)
    pet[1, 2, 3] = 5.0  # at the top of the 0-5 window -> black
    pet[2, 0, 1] = 2.5  # half -> mid grey
    image = mip_image(pet, None, suv_max=5.0)
    assert image.shape == (4, 5) and image.dtype == np.uint8
    assert image[0, 0] == 255 and image[1, 3] == 0 and image[2, 1] == 128
    assert mip_image(pet, None, suv_max=10.0)[1, 3] == 128  # the 0-10 option
    stretched = mip_image(pet, (3.0, 1.0, 1.5), suv_max=5.0)
    assert stretched.shape == (8, 5)  # rows resampled to true proportions (3 mm / 1.5 mm)
    flipped = mip_image(pet, None, head_first=False)
    assert np.array_equal(flipped, image[::-1])


def test_fused_slice_blends_hot_pet_over_the_soft_tissue_window():
    ct = np.full((4, 4), 40.0)  # window level: mid grey
    ct[0, 0] = -1000.0
    pet = np.zeros((2, 2), dtype=np.float32)
    pet[1, 1] = 5.0
    rgb = fused_slice_rgb(ct, pet, suv_max=5.0, alpha=0.5)
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (0, 0, 0)  # air, no uptake
    assert tuple(rgb[0, 1]) == (128, 128, 128)  # soft tissue, no uptake: pure CT grey
    assert tuple(rgb[3, 3]) == (191, 191, 191)  # SUV 5 = white hot at 50% over grey
    assert window_to_unit(np.array([-160.0, 240.0]), -160, 240).tolist() == [0.0, 1.0]
    with pytest.raises(ImagingError):
        fused_slice_rgb(ct[0], pet)


@pytest.fixture(scope="module")
def study():
    from vipet.synth import generate_study

    return generate_study(0, 5, "small")


def test_synthetic_study_mip_shows_brain_and_bladder(study, tmp_path):
    s, truth = study
    path = save_mip_png(s, tmp_path / "mip.png")
    image = np.asarray(Image.open(path))
    assert image.ndim == 2 and image.std() > 20
    rows = image.shape[0]
    top, bottom = (0, rows // 6) if truth["head_first"] else (rows - rows // 6, rows)
    assert image[top:bottom].min() < 30  # brain: hot, so dark in inverted grey
    pelvis = image[int(rows * 0.75):int(rows * 0.9)] if truth["head_first"] else image[int(rows * 0.1):int(rows * 0.25)]
    assert pelvis.min() < 30  # bladder
    assert (image > 200).mean() > 0.4  # air and cold tissue stay light


def test_synthetic_study_fused_png(study, tmp_path):
    s, truth = study
    z = s.ct.shape[0] // 3
    path = save_fused_png(s, z, tmp_path / "fused.png")
    image = np.asarray(Image.open(path))
    assert image.shape == (128, 128, 3) and image.std() > 20
    assert (image[..., 0].astype(int) >= image[..., 2]).all()  # the hot map only adds red/yellow
    with pytest.raises(ImagingError):
        save_fused_png(s, s.ct.shape[0], tmp_path / "bad.png")
