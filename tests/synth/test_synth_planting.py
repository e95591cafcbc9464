"""PET planting: after the scanner blur, the SUVmax inside a lesion equals the planned value."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from vipet.synth.lesions import Finding, Member
from vipet.synth.planting import TRUNCATE, measure_suvmax, plant_pet, solve_activity
from vipet.synth.scanner import SIZES, pet_sigma
from vipet.synth.shapes import Grid

FULL = SIZES["full"]


def _full_res_block(shape=(40, 64, 64)) -> Grid:
    """A sub-volume with the full-size PET sampling (3.3 mm slices, 1.95 mm pixels)."""
    return Grid(shape, (FULL.slice_mm, 500 / FULL.pet_xy, 500 / FULL.pet_xy))


def _finding(center, diameter_mm, target) -> Finding:
    semi = (diameter_mm / 2.0,) * 3
    return Finding("lymph_node", "chest", "Lồng ngực", "lymph_node", "midline", "dưới carina", "node", "metastasis",
                   [Member(center, semi, target)])


@pytest.mark.parametrize("diameter_mm,target", [(6, 3.0), (10, 5.2), (15, 8.0), (25, 12.0), (45, 20.0)])
def test_blurred_suvmax_matches_truth_at_full_resolution(diameter_mm, target):
    grid = _full_res_block()
    background = np.full(grid.shape, 0.8, dtype=np.float32)  # mediastinal soft tissue
    background[:, :, 40:] = 2.5  # a liver-like neighbour to make the background uneven
    labels = np.zeros(grid.shape, dtype=np.uint8)
    center = (66.3, 62.1, 61.0)  # deliberately off the voxel centres
    finding = _finding(center, diameter_mm, target)
    sigma = pet_sigma(grid, FULL)
    masks = plant_pet(background, labels, grid, [finding], sigma)
    blurred = ndimage.gaussian_filter(background, sigma, mode="constant", truncate=TRUNCATE)
    measured = measure_suvmax(blurred, masks[0])
    assert measured == pytest.approx(target, rel=0.02)
    # Without compensation the same lesion reads low (partial volume): the correction is real.
    if diameter_mm <= 10:
        plain = np.full(grid.shape, 0.8, dtype=np.float32)
        plain[:, :, 40:] = 2.5
        sl = masks[0][0].box
        from vipet.synth.shapes import occupancy

        _, frac = occupancy(grid, center, finding.members[0].semi, 3)
        plain[sl] = plain[sl] * (1 - frac) + target * frac
        naive = measure_suvmax(ndimage.gaussian_filter(plain, sigma, mode="constant", truncate=TRUNCATE), masks[0])
        assert naive < 0.9 * target


def test_solve_activity_agrees_with_bisection():
    rng = np.random.default_rng(0)
    background = rng.uniform(0.5, 2.0, (15, 17, 19)).astype(np.float32)
    frac = np.zeros_like(background)
    frac[6:9, 7:10, 8:11] = rng.uniform(0.3, 1.0, (3, 3, 3))
    mask = frac >= 0.5
    sigma = (0.8, 1.4, 1.4)
    target = 6.0
    fast = solve_activity(background, frac, mask, sigma, target)

    def peak(a):
        img = ndimage.gaussian_filter(background * (1 - frac) + a * frac, sigma, mode="nearest", truncate=TRUNCATE)
        return img[mask].max()

    lo, hi = 0.0, 200.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if peak(mid) < target else (lo, mid)
    assert fast == pytest.approx((lo + hi) / 2, rel=1e-3)


def test_non_avid_lesion_keeps_its_tissue_value():
    grid = _full_res_block((20, 40, 40))
    activity = np.full(grid.shape, 2.5, dtype=np.float32)
    finding = Finding("liver_lesion", "abdomen_pelvis", "Ổ bụng - khung chậu", "liver", "right", "gan phải", "cyst",
                      "benign", [Member((33.0, 39.0, 39.0), (12.0, 12.0, 12.0), None, tissue_suv=0.4)])
    plant_pet(activity, np.zeros(grid.shape, np.uint8), grid, [finding], pet_sigma(grid, FULL))
    assert activity.min() == pytest.approx(0.4, abs=1e-5)  # a cold cyst in a warm liver
