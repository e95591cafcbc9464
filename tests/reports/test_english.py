"""English reports: region split, lesion facts, the lesion-level consistency check, English tokens."""

from __future__ import annotations

import pytest

from vipet.reports.consistency import compare_versions
from vipet.reports.english import (LesionFacts, bone_regions_en, english_lesions, english_sentence_facts,
                                   split_english_report, vietnamese_lesions, vietnamese_sentence_facts)
from vipet.schema import ABDOMEN_PELVIS, CHEST, HEAD_NECK, MUSCULOSKELETAL, Report

ENGLISH = {
    "findings": {
        "Head and neck": "Physiological FDG uptake in the brain.",
        "Thorax": "A spiculated mass in the upper lobe of the right lung, measuring 3.2 x 2.8 cm, abutting the pleura, "
                  "with increased FDG uptake (SUVmax 9.4). Several lymph nodes in the subcarinal region, the largest "
                  "measuring 12 x 15 mm, with increased FDG uptake (SUVmax 5.0).",
        "Abdomen / pelvis": "Physiological FDG uptake in the liver.",
        "Musculoskeletal system": "A lytic lesion in the L2 vertebral body, 14 mm in diameter, with increased FDG uptake "
                                  "(SUVmax 6.1). A sclerotic focus in the T7 vertebral body, a few mm in size. "
                                  "No other abnormal FDG uptake in the skeleton.",
    },
    "IMPRESSION": "Right upper lobe mass, likely malignant.",
}
VIETNAMESE = Report(sections={
    HEAD_NECK: "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não.",
    CHEST: "Hình ảnh khối mờ, bờ tua gai, kích thước 32 x 28 mm, tăng chuyển hóa FDG (SUVmax: 9,4) ở thùy trên phổi phải, "
           "dính vào màng phổi. Hình ảnh vài hạch dưới carina (hạch lớn nhất có kích thước 12 x 15 mm), tăng chuyển hóa "
           "FDG (SUVmax: 5).",
    ABDOMEN_PELVIS: "Hình ảnh bắt xạ theo đặc điểm sinh lý ở gan.",
    MUSCULOSKELETAL: "Hình ảnh tổn thương tiêu xương ở thân đốt sống L2, đường kính 14 mm, tăng chuyển hóa FDG "
                     "(SUVmax: 6,1). Hình ảnh nốt đặc xương ở thân đốt sống D7, kích thước vài mm. "
                     "Chưa phát hiện hình ảnh tăng chuyển hóa FDG bất thường khác ở hệ thống cơ xương.",
}, impression="Khối mờ thùy trên phổi phải nhiều khả năng ác tính.")


def test_split_by_region_sends_each_bone_sentence_to_the_region_it_names():
    parts = split_english_report(ENGLISH)
    assert parts["head_neck"] == "Physiological FDG uptake in the brain. No other abnormal FDG uptake in the skeleton."
    assert parts["chest"].endswith("A sclerotic focus in the T7 vertebral body, a few mm in size. "
                                   "No other abnormal FDG uptake in the skeleton.")
    assert "L2" not in parts["chest"] and "T7" not in parts["abdomen_pelvis"]
    assert parts["abdomen_pelvis"].startswith("Physiological FDG uptake in the liver. A lytic lesion in the L2")
    assert parts["impression"] == "Right upper lobe mass, likely malignant."
    assert parts["whole"].startswith("Physiological FDG uptake in the brain. A spiculated mass")
    assert parts["whole"].endswith("Right upper lobe mass, likely malignant.")
    assert bone_regions_en("Lytic lesions of the sacrum and the left 5th rib.") == {"abdomen_pelvis", "chest"}
    assert bone_regions_en("Degenerative change of the C5 vertebra.") == {"head_neck"}


def test_a_report_without_sections_keeps_its_text_whole_and_no_region_text():
    parts = split_english_report({"text": "A nodule in the left lung, 8 mm, SUVmax 2.1."})
    assert parts["whole"] == "A nodule in the left lung, 8 mm, SUVmax 2.1."
    assert parts["chest"] == parts["head_neck"] == parts["abdomen_pelvis"] == ""


def test_lesion_facts_read_organ_side_size_in_mm_and_suvmax():
    facts = english_lesions(ENGLISH)
    assert [f.key() for f in facts] == [
        ("lung", "right", (28.0, 32.0), 9.4),  # cm converted, a lung mass "abutting the pleura" stays lung
        ("node", None, (12.0, 15.0), 5.0),
        ("bone", None, (14.0,), 6.1),
    ]  # "a few mm" states no number: no fact, as "vài mm" in Vietnamese
    assert [f.region for f in facts] == ["chest", "chest", "musculoskeletal"]
    assert [f.key() for f in vietnamese_lesions(VIETNAMESE)] == [f.key() for f in facts]
    assert english_sentence_facts("Thickening of the posterior left pleura with increased FDG uptake (SUVmax 3.3).",
                                  "chest") == LesionFacts("chest", "pleura", "left", None, 3.3,
                                                          "Thickening of the posterior left pleura with increased FDG "
                                                          "uptake (SUVmax 3.3).")
    assert vietnamese_sentence_facts("Hình ảnh dày màng phổi thành sau bên trái, tăng chuyển hóa FDG (SUVmax: 3,3).",
                                     "chest").key() == ("pleura", "left", None, 3.3)
    assert english_sentence_facts("No pleural effusion.", "chest") is None


def test_lesion_check_catches_a_moved_lesion_and_a_wrong_side():
    assert compare_versions(VIETNAMESE, ENGLISH, lesions=True).agrees
    wrong_side = {**ENGLISH, "findings": {**ENGLISH["findings"],
                                          "Thorax": ENGLISH["findings"]["Thorax"].replace("right lung", "left lung")}}
    numbers_only = compare_versions(VIETNAMESE, wrong_side)
    assert numbers_only.agrees  # the numbers alone cannot see a side
    result = compare_versions(VIETNAMESE, wrong_side, lesions=True)
    assert result.lesions_only_vi == ["chest lung (right, 28 x 32 mm, SUVmax 9.4)"]
    assert result.lesions_only_en == ["chest lung (left, 28 x 32 mm, SUVmax 9.4)"]
    assert "lesions only in English: chest lung (left" in result.describe()
    moved = {**ENGLISH, "findings": {**ENGLISH["findings"], "Abdomen / pelvis": "A lytic lesion in the L2 vertebral body, "
                                     "14 mm in diameter, with increased FDG uptake (SUVmax 6.1).",
                                     "Musculoskeletal system": "No other abnormal FDG uptake in the skeleton. A sclerotic "
                                     "focus in the T7 vertebral body, a few mm in size."}}
    result = compare_versions(VIETNAMESE, moved, lesions=True)
    assert result.lesions_only_en == ["abdomen_pelvis bone (no side, 14 mm, SUVmax 6.1)"]


def test_english_tokens_for_the_nlg_metrics():
    from vipet.eval import evaluate_predictions
    from vipet.eval.profiles import english_tokenize, get_profile
    from vipet.errors import EvalError

    assert english_tokenize("A Nodule (SUVmax 2.1), 18 x 21 mm.") == \
        ["a", "nodule", "-lrb-", "suvmax", "2.1", "-rrb-", ",", "18", "x", "21", "mm", "."]
    profile = get_profile("default", language="en")
    assert profile.info["language"] == "en" and "PTB" in profile.info["tokenizer"]
    assert "language" not in get_profile("default").info  # Vietnamese provenance unchanged
    with pytest.raises(EvalError, match="unknown report language"):
        get_profile("default", language="fr")
    records = [{"id": "s1", "prediction": "A nodule in the right lung.", "reference": "A nodule in the right lung.",
                "model": "m"},
               {"id": "s2", "prediction": "No abnormal uptake.", "reference": "No abnormal FDG uptake.", "model": "m"}]
    metrics = evaluate_predictions(records, clinical=True, n_resamples=0, language="en")
    report = metrics["results"]["m"]["report"]
    assert "clinical" not in report and metrics["profile"]["clinical"].startswith("not scored")
    # Corpus BLEU-1 by hand on PTB tokens: hypotheses 7 + 4 tokens, all matched (precision 1); references
    # 7 + 5 tokens ("fdg" unmatched), so the brevity penalty is exp(1 - 12 / 11).
    import math

    assert report["nlg"]["scores"]["bleu_1"]["value"] == pytest.approx(100 * math.exp(1 - 12 / 11), abs=1e-6)


def test_the_vietnamese_layout_with_english_text_splits_the_same_way():
    from vipet.schema import FINDINGS_KEY, IMPRESSION_KEY

    obj = {IMPRESSION_KEY: "Right upper lobe mass.", FINDINGS_KEY: {
        HEAD_NECK: "Normal brain uptake.", CHEST: "A mass in the right lung, 20 mm in diameter, SUVmax 4.0.",
        ABDOMEN_PELVIS: "Normal liver.", MUSCULOSKELETAL: "A lytic lesion of the sacrum, 12 mm in diameter."}}
    parts = split_english_report(obj)
    assert parts["impression"] == "Right upper lobe mass."
    assert parts["chest"] == "A mass in the right lung, 20 mm in diameter, SUVmax 4.0."
    assert parts["abdomen_pelvis"] == "Normal liver. A lytic lesion of the sacrum, 12 mm in diameter."
    assert [f.key() for f in english_lesions(obj)] == [("lung", "right", (20.0,), 4.0), ("bone", None, (12.0,), None)]
