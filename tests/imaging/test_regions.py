"""Region split from lung fields, its fallback, and the report split with bone sentences."""

from __future__ import annotations

import numpy as np
import pytest
from phantom import make_phantom

from vipet.imaging.regions import RegionSplit, sentence_regions, split_report, split_sentences
from vipet.reports.schema import ABDOMEN_PELVIS, CHEST, HEAD_NECK, MUSCULOSKELETAL, Report


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


def test_sentences_split_on_capitals_not_on_decimals():
    text = "Nốt mờ 12 mm (SUVmax: 5,2). Hạch 1.5 cm ở trung thất. gan bình thường."
    assert split_sentences(text) == ["Nốt mờ 12 mm (SUVmax: 5,2).", "Hạch 1.5 cm ở trung thất. gan bình thường."]


def test_bone_sentences_go_to_the_region_they_name():
    assert sentence_regions("Tổn thương tiêu xương ở cột sống thắt lưng L3.") == {"abdomen_pelvis"}
    assert sentence_regions("Tăng chuyển hóa FDG ở xương sườn 5 bên phải.") == {"chest"}
    assert sentence_regions("Tổn thương đốt sống D7 và C5.") == {"chest", "head_neck"}
    assert sentence_regions("Chưa phát hiện bất thường ở hệ thống cơ xương.") == set()


def test_report_split_uses_sections_and_distributes_bone_sentences():
    report = Report(sections={
        HEAD_NECK: "Hình ảnh bắt xạ sinh lý ở não.",
        CHEST: "Nốt mờ thùy trên phổi phải.",
        ABDOMEN_PELVIS: "Gan bình thường.",
        MUSCULOSKELETAL: "Tổn thương xương chậu trái. Chưa phát hiện bất thường khác ở hệ cơ xương.",
    }, impression="Nốt phổi phải.")
    parts = split_report(report)
    assert parts["head_neck"] == "Hình ảnh bắt xạ sinh lý ở não. Chưa phát hiện bất thường khác ở hệ cơ xương."
    assert parts["chest"] == "Nốt mờ thùy trên phổi phải. Chưa phát hiện bất thường khác ở hệ cơ xương."
    assert parts["abdomen_pelvis"] == ("Gan bình thường. Tổn thương xương chậu trái. "
                                       "Chưa phát hiện bất thường khác ở hệ cơ xương.")
    assert np.all([r in parts for r in ("head_neck", "chest", "abdomen_pelvis")])
