"""Region split from lung fields and its fallback."""

from __future__ import annotations

import numpy as np
import pytest
from phantom import make_phantom

from vipet.imaging.regions import RegionSplit


def test_landmark_bounds_follow_the_lungs_with_overlap():
    study, truth = make_phantom()
    bounds = RegionSplit(margin_mm=40.0)(study.ct.array, study.pet.array, study.ct.spacing[0])
    assert bounds.method == "landmarks" and bounds.margin_slices == 4
    lm = bounds.landmarks
    assert lm["lung_apex"] == truth.lungs[0] and lm["lung_base"] == truth.lungs[1] - 1
    assert truth.bladder[0] <= lm["bladder"] < truth.bladder[1]
    b = bounds.bounds
    assert b["head_neck"] == (0, truth.lungs[0] + 4)
    assert b["chest"] == (truth.lungs[0] - 4, truth.lungs[1] + 4)
    assert b["abdomen_pelvis"][1] == study.ct.shape[0]
    # overlaps: every boundary slice belongs to two regions
    assert b["head_neck"][1] > b["chest"][0] and b["chest"][1] > b["abdomen_pelvis"][0]
    lesion_z = int(truth.lesion_mm[0] / study.ct.spacing[0])
    assert "chest" in bounds.region_of_slice(lesion_z)
    brain_z = sum(truth.brain) // 2
    assert bounds.region_of_slice(brain_z) == ["head_neck"]


def test_fraction_fallback_warns_without_ct():
    study, _ = make_phantom()
    with pytest.warns(UserWarning, match="fell back to fractions"):
        bounds = RegionSplit(margin_mm=20.0)(None, study.pet.array, 10.0)
    assert bounds.method == "fractions" and bounds.warnings
    assert bounds.bounds["head_neck"] == (0, round(0.18 * 96) + 2)
    assert bounds.bounds["abdomen_pelvis"] == (round(0.42 * 96) - 2, 96)
