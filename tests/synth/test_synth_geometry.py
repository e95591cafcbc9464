"""Phantom geometry: solids, occupancy, label volumes and tissue values."""

from __future__ import annotations

import numpy as np
import pytest

from vipet.synth import anatomy as A
from vipet.synth.anatomy import sample_body, sample_physiology
from vipet.synth.phantom import label_volume
from vipet.synth.shapes import Grid, occupancy, paint


def test_occupancy_integrates_to_the_ellipsoid_volume():
    grid = Grid((20, 40, 40), (2.0, 1.5, 1.5))
    semi = (7.0, 5.0, 9.0)
    box, frac = occupancy(grid, (20.3, 30.1, 29.7), semi, supersample=5)
    measured = float(frac.sum()) * np.prod(grid.spacing)
    exact = 4.0 / 3.0 * np.pi * np.prod(semi)
    assert measured == pytest.approx(exact, rel=0.03)
    assert frac.min() >= 0.0 and frac.max() == 1.0


def test_paint_only_on_clips_to_the_allowed_labels():
    grid = Grid((10, 10, 10), (1.0, 1.0, 1.0))
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[:, :, 5:] = 7
    paint(labels, grid, (5.0, 5.0, 5.0), (4.0, 4.0, 4.0), 3, only_on=(7,))
    assert (labels[:, :, :5] == 0).all()  # label 0 was not allowed
    assert (labels == 3).sum() > 0
    assert labels[5, 5, 6] == 3 and labels[5, 5, 3] == 0


def test_capped_cylinder_power_keeps_a_round_cross_section():
    grid = Grid((30, 41, 41), (1.0, 1.0, 1.0))
    labels = np.zeros(grid.shape, dtype=np.uint8)
    paint(labels, grid, (15.0, 20.5, 20.5), (10.0, 8.0, 8.0), 1, power=8.0)
    mid = labels[15]
    assert mid.sum() == pytest.approx(np.pi * 64, rel=0.08)  # a disc, not a square (256)
    assert labels[6].sum() > 0.9 * mid.sum()  # flat ends: still full near the cap


@pytest.fixture(scope="module")
def body_and_labels():
    rng = np.random.default_rng(3)
    body = sample_body(rng, "M", 1.70, 70.0)
    grid = Grid((int(np.ceil(body.fov_depth_mm() / 6.6)), 128, 128), (6.6, 500 / 128, 500 / 128))
    return body, grid, label_volume(body, grid)


def test_label_volume_has_every_organ(body_and_labels):
    _, _, labels = body_and_labels
    present = set(np.unique(labels).tolist())
    for organ in (A.LUNG, A.MYOCARDIUM, A.BLOOD, A.LIVER, A.SPLEEN, A.KIDNEY, A.BLADDER, A.BRAIN_GM,
                  A.BONE_CORTEX, A.BONE_MARROW, A.FAT, A.MUSCLE, A.SKIN, A.AIRWAY, A.COLON_WALL):
        assert organ in present, A.LABEL_NAMES[organ]


def test_organs_sit_where_anatomy_puts_them(body_and_labels):
    body, grid, labels = body_and_labels

    def centroid(label):
        idx = np.argwhere(labels == label)
        return idx.mean(axis=0) * np.asarray(grid.spacing)

    brain, heart, liver, bladder = (centroid(x) for x in (A.BRAIN_GM, A.MYOCARDIUM, A.LIVER, A.BLADDER))
    assert brain[0] < heart[0] < liver[0] < bladder[0]  # head -> feet
    assert liver[2] < body.xc < centroid(A.SPLEEN)[2]  # liver on the patient's right (low x), spleen left
    assert heart[1] < centroid(A.BONE_MARROW)[1]  # heart anterior of the (mostly vertebral) marrow
    lung = labels == A.LUNG
    assert lung[:, :, : grid.shape[2] // 2].sum() > 0 and lung[:, :, grid.shape[2] // 2:].sum() > 0


def test_obese_patient_has_thicker_fat_and_wider_body():
    thin = sample_body(np.random.default_rng(1), "F", 1.60, 45.0)
    obese = sample_body(np.random.default_rng(1), "F", 1.60, 90.0)
    z = np.array([thin.z(0.40)])
    assert obese.t_fat > 2 * thin.t_fat
    assert obese.outer_profile(z)[0][0] > thin.outer_profile(z)[0][0] + 20.0


def test_physiological_uptake_and_ct_numbers_follow_domain_ranges():
    for seed in range(20):
        phys = sample_physiology(np.random.default_rng(seed))
        suv, hu = phys.suv, phys.hu
        assert 6.0 <= suv[A.BRAIN_GM] <= 12.0
        assert 1.0 <= suv[A.MYOCARDIUM] <= 10.0
        assert 2.0 <= suv[A.LIVER] <= 3.0
        assert 1.5 <= suv[A.BLOOD] <= 2.0
        assert suv[A.BLADDER] > 10.0 and suv[A.RENAL_PELVIS] > suv[A.LIVER]
        assert suv[A.MUSCLE] < 1.0 and suv[A.FAT] < 0.5 and suv[A.LUNG] < 0.6
        assert hu[A.LUNG] < -800 and -120 < hu[A.FAT] < -80 and hu[A.BONE_CORTEX] > 700
        assert 40 <= hu[A.LIVER] <= 70 and hu[A.AIR] == -1000
