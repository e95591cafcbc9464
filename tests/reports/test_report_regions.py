"""The report side of the region split: each region's section plus the bone sentences it can see."""

from __future__ import annotations

from pathlib import Path

import pytest

from vipet.errors import ReportError
from vipet.reports.lexicon import LEXICON_PATH, load_lexicon
from vipet.reports.regions import sentence_regions, split_report
from vipet.schema import ABDOMEN_PELVIS, CHEST, HEAD_NECK, IMAGE_REGIONS, MUSCULOSKELETAL, Report


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
    assert set(parts) == set(IMAGE_REGIONS)


def test_the_bone_list_is_read_from_the_lexicon(tmp_path: Path) -> None:
    text = LEXICON_PATH.read_text(encoding="utf-8").replace("chest: [cột sống ngực,", "chest: [xương quai xanh, cột sống ngực,")
    custom = tmp_path / "lexicon.yaml"
    custom.write_text(text, encoding="utf-8")
    sentence = "Tổn thương xương quai xanh phải."
    assert sentence_regions(sentence) == set()
    assert sentence_regions(sentence, load_lexicon(custom)) == {"chest"}


def test_a_bone_region_outside_the_image_regions_is_rejected(tmp_path: Path) -> None:
    text = LEXICON_PATH.read_text(encoding="utf-8").replace("  chest: [cột sống ngực,", "  thorax: [cột sống ngực,")
    custom = tmp_path / "lexicon.yaml"
    custom.write_text(text, encoding="utf-8")
    with pytest.raises(ReportError, match="unknown image region 'thorax'"):
        load_lexicon(custom)
