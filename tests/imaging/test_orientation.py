"""Slice direction: detected from uptake and lung fields, and flipped to head first."""

from __future__ import annotations

import numpy as np
import pytest
from phantom import make_phantom

from vipet.imaging.orientation import OrientHeadFirst, detect_head_first, flip_z, resolve_orientation
from vipet.study import Volume


@pytest.mark.parametrize("stored_head_first", [True, False])
def test_detection_from_pet_ct_and_each_alone(stored_head_first):
    study, _ = make_phantom(stored_head_first, detected_unknown=True)
    both = detect_head_first(study.pet.array, study.ct.array)
    assert both.head_first is stored_head_first and both.source == "detected"
    assert detect_head_first(study.pet.array, None).head_first is stored_head_first  # brain vs bladder
    assert detect_head_first(None, study.ct.array).head_first is stored_head_first  # lung centroid
    assert "pet_score" in both.evidence and "lung_score" in both.evidence


def test_flipped_study_matches_head_first_study_after_orienting():
    head, _ = make_phantom(True)
    feet, _ = make_phantom(False, detected_unknown=True)
    decision = resolve_orientation(feet.head_first, feet.pet.array, feet.ct.array)
    np.testing.assert_array_equal(OrientHeadFirst(decision.head_first)(feet.ct).array, head.ct.array)
    np.testing.assert_array_equal(OrientHeadFirst(decision.head_first)(feet.pet).array, head.pet.array)


def test_known_direction_is_trusted_and_no_cue_defaults_with_a_warning():
    assert resolve_orientation(False, None, None).source == "study"
    flat = detect_head_first(np.ones((20, 16, 16), np.float32), None)
    assert flat.head_first is True and flat.source == "default" and "warning" in flat.evidence


def test_flip_z_keeps_every_voxel_at_its_physical_place():
    affine = np.array([[0, 0, 2.0, -10], [0, 3.0, 0, -20], [-4.0, 0, 0, 5], [0, 0, 0, 1]])
    vol = Volume(np.arange(5 * 2 * 3).reshape(5, 2, 3), (4.0, 3.0, 2.0), "HU", affine)
    flipped = flip_z(vol)
    for z in range(5):
        before = affine @ [z, 1, 2, 1]
        after = flipped.affine @ [4 - z, 1, 2, 1]
        np.testing.assert_allclose(before, after)
        assert flipped.array[4 - z, 1, 2] == vol.array[z, 1, 2]
