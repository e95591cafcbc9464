"""One study at the real cohort's size: proportions, physiology and SUVmax truth as a reader measures it."""

from __future__ import annotations

import numpy as np
import pytest

from vipet.synth import generate_study
from vipet.synth.anatomy import BLADDER, BRAIN_GM, LIVER, LUNG, MUSCLE, sample_body
from vipet.synth.phantom import label_volume
from vipet.synth.population import STREAM_ANATOMY, plan_study, study_rng
from vipet.synth.scanner import SIZES, grids

SEED = 2


@pytest.fixture(scope="module")
def full_study():
    index = next(i for i in range(60) if plan_study(SEED, i).person.diagnosis == "lung_cancer")
    study, truth = generate_study(index, SEED, "full")
    return index, study, truth


def _ellipsoid_max(pet: np.ndarray, pet_spacing, ct_spacing, lesion: dict) -> float:
    """Max over PET voxels whose centre lies inside any solid of the lesion (or nearest its centre)."""
    best = -np.inf
    for member in lesion["members"]:
        centre = [(c + 0.5) * s for c, s in zip(member["center_ct_index"], ct_spacing)]
        reach = [int(np.ceil(r / s)) + 1 for r, s in zip(member["semi_axes_mm"], pet_spacing)]
        near = [int(np.clip(round(c / s - 0.5), 0, n - 1)) for c, s, n in zip(centre, pet_spacing, pet.shape)]
        box = tuple(slice(max(k - r, 0), k + r + 1) for k, r in zip(near, reach))
        axes = np.meshgrid(*((np.arange(b.start, min(b.stop, n)) + 0.5) * s
                             for b, s, n in zip(box, pet_spacing, pet.shape)), indexing="ij", sparse=True)
        inside = sum(((a - c) / r) ** 2 for a, c, r in zip(axes, centre, member["semi_axes_mm"])) <= 1.0
        block = pet[box]
        best = max(best, float(pet[tuple(near)]), float(block[inside].max()) if inside.any() else -np.inf)
    return best


def test_full_size_has_the_real_cohort_proportions(full_study):
    _, study, truth = full_study
    nz, ny, nx = study.ct.shape
    assert (ny, nx) == (512, 512) and study.pet.shape == (nz, 256, 256)
    assert 260 <= nz <= 340
    assert study.ct.spacing == pytest.approx((3.3, 500 / 512, 500 / 512))
    assert study.pet.spacing == pytest.approx((3.3, 500 / 256, 500 / 256))
    assert study.ct.array.dtype == np.int16 and study.pet.array.dtype == np.float32


def test_avid_lesions_read_their_truth_suvmax_within_10_percent(full_study):
    _, study, truth = full_study
    pet = study.pet.array
    avid = [lesion for lesion in truth["lesions"] if lesion["suv_max"] is not None]
    assert len(avid) >= 3
    for lesion in avid:
        measured = _ellipsoid_max(pet, study.pet.spacing, study.ct.spacing, lesion)
        assert measured == pytest.approx(lesion["suv_max"], rel=0.10), lesion["site"]
    # Before noise the planted peak is the planned value: the blur was compensated, not ignored.
    pairs = [(lesion["suv_target"], nl) for lesion, nl in zip(truth["lesions"], truth["noiseless_suv_max"])
             if lesion["suv_target"] is not None]
    close = [abs(nl - target) / target <= 0.10 for target, nl in pairs]
    assert sum(close) / len(close) >= 0.9


def test_physiological_uptake_and_ct_numbers_on_the_full_grid(full_study):
    index, study, truth = full_study
    plan = plan_study(SEED, index)
    body = sample_body(study_rng(SEED, index, STREAM_ANATOMY), plan.person.sex, plan.person.height_m,
                       plan.person.weight_kg)
    ct_grid, pet_grid = grids(body, SIZES["full"])
    pet_labels = label_volume(body, pet_grid)
    ct_labels = label_volume(body, ct_grid)
    if not truth["head_first"]:
        pet_labels, ct_labels = pet_labels[::-1], ct_labels[::-1]
    pet, ct = study.pet.array, study.ct.array

    def core_mean(volume, labels, label):
        from scipy import ndimage

        core = ndimage.binary_erosion(labels == label, iterations=3)
        return float(volume[core].mean())

    assert 5.0 <= core_mean(pet, pet_labels, BRAIN_GM) <= 12.5
    assert 1.8 <= core_mean(pet, pet_labels, LIVER) <= 3.2
    assert core_mean(pet, pet_labels, BLADDER) > 8.0
    assert core_mean(pet, pet_labels, MUSCLE) < 1.1 and core_mean(pet, pet_labels, LUNG) < 0.8
    assert core_mean(ct, ct_labels, LUNG) < -780 and 35 <= core_mean(ct, ct_labels, LIVER) <= 75
    noise = float(ct[ct_labels == LIVER].std())
    assert 5.0 < noise < 25.0  # mild CT noise


def test_lung_lesion_diameters_on_ct_match_the_reported_size(full_study):
    """Measure each solid lung lesion on the CT itself: the run of soft-tissue voxels through its
    centre, along x and along y, is the reported `a x b mm` within the sampling error."""
    _, study, truth = full_study
    ct = study.ct.array
    _, dy, dx = study.ct.spacing
    # Nodules lie inside lung by construction; a mass may abut the mediastinum or chest wall.
    lesions = [l for l in truth["lesions"] if l["kind"] == "lung_nodule" and l["texture"] in ("solid", "spiculated")
               and min(l["size_mm"]) >= 6]
    assert lesions
    for lesion in lesions:
        z, y, x = lesion["center_ct_index"]
        solid_row, solid_col = ct[z, y, :] > -400, ct[z, :, x] > -400

        def run(mask, centre):
            lo = hi = centre
            while lo > 0 and mask[lo - 1]:
                lo -= 1
            while hi < mask.size - 1 and mask[hi + 1]:
                hi += 1
            return hi - lo + 1

        width, depth = run(solid_row, x) * dx, run(solid_col, y) * dy
        a, b = lesion["size_mm"]
        assert width == pytest.approx(a, abs=3.0), lesion["report_sentence"]
        assert depth == pytest.approx(b, abs=3.0), lesion["report_sentence"]
