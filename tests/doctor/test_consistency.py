"""English/Vietnamese number agreement and the language rule, on hand-computed cases and the real reports."""

from __future__ import annotations

import json

from doctor_factories import REPORT_EN, REPORT_VI

from vipet.reports.consistency import (
    compare_versions,
    english_numbers,
    english_sections,
    text_language,
    vietnamese_letter_share,
    vietnamese_numbers,
)
from vipet.schema import CHEST, HEAD_NECK, Report


def test_vietnamese_numbers_decimal_comma_and_sizes():
    suvs, sizes, count = vietnamese_numbers("Nốt 18x21mm (SUVmax:6,0), hạch đường kính 9 mm (SUVmax; 4,6), khối 2,5 x 3 cm.")
    assert suvs == {6.0, 4.6} and count == 2
    assert sizes == {(18.0, 21.0), (9.0,), (25.0, 30.0)}


def test_english_numbers_decimal_point_and_centimetres():
    suvs, sizes, count = english_numbers("Nodule 1.8 x 2.1 cm (SUVmax 5.2); node 9 mm, SUV max: 3.1; mass 25x30 mm.")
    assert suvs == {5.2, 3.1} and count == 2
    assert sizes == {(18.0, 21.0), (9.0,), (25.0, 30.0)}


def test_versions_agree_and_a_moved_decimal_or_a_lost_lesion_is_named():
    assert compare_versions(REPORT_VI, REPORT_EN).agrees
    wrong = json.loads(json.dumps(REPORT_EN))
    wrong["Findings"]["Chest"] = "A nodule in the right upper lobe measuring 1.8 x 2.1 mm (SUVmax 5.2)."
    result = compare_versions(REPORT_VI, wrong)
    assert result.suv_only_vi == [3.1] and result.suv_only_en == []
    assert result.size_only_vi == [(9.0,), (18.0, 21.0)] and result.size_only_en == [(1.8, 2.1)]
    assert result.region_counts == {"chest": (2, 1)}
    assert result.describe() == ("SUVmax only in Vietnamese: 3.1; sizes (mm) only in Vietnamese: 9, 18 x 21; "
                                 "sizes (mm) only in English: 1.8 x 2.1; chest: 2 SUVmax statements in Vietnamese, 1 in English")


def test_english_forms_accepted():
    sections, whole = english_sections({"findings": {"HEAD AND NECK": "a", "Thorax": "b (SUVmax 2.0)"}, "conclusion": "c"})
    assert sections == {"head_neck": "a", "chest": "b (SUVmax 2.0)"} and whole == "a b (SUVmax 2.0) c"
    assert english_sections({"text": "only text"}) == ({}, "only text")
    vi_layout = REPORT_VI.to_json()
    assert english_sections(vi_layout)[0]["chest"] == REPORT_VI.sections[CHEST]


def test_language_rule():
    assert text_language(REPORT_VI.full_text()) == "vi"
    assert text_language(REPORT_EN["Findings"]["Chest"]) == "en"
    assert text_language("SUVmax 5") == "unknown"  # too short to judge
    assert vietnamese_letter_share("đa") == 0.5


def test_every_real_report_reads_as_vietnamese(real_data):
    lines = (real_data / "reports.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines if line.strip()]
    assert len(texts) == 189
    assert {text_language(t) for t in texts} == {"vi"}


def test_region_counts_skipped_when_english_regions_unknown():
    vi = Report(sections={HEAD_NECK: "", CHEST: "Nốt (SUVmax: 2,0). Hạch (SUVmax: 3,0).", "Ổ bụng - khung chậu": "",
                          "Hệ cơ - xương": ""}, impression="")
    assert compare_versions(vi, {"text": "Nodule (SUVmax 2.0) and node (SUVmax 3.0)."}).agrees
