"""Sentence splitting, section recovery from plain text and report loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vipet.errors import ReportError
from vipet.reports.normalize import normalize_text
from vipet.reports.parse import load_report, parse_report
from vipet.reports.segment import split_sentences
from vipet.schema import ABDOMEN_PELVIS, CHEST, HEAD_NECK, MUSCULOSKELETAL, SECTION_KEYS, Report

PLAIN = (
    "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não. "
    "Hình ảnh vài hạch ở góc hàm hai bên, kích thước 10 mm, không tăng chuyển hóa FDG. "
    "Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim. "
    "Hình ảnh khối mờ, kích thước 43 x 39 mm, tăng chuyển hóa FDG (SUVmax: 8.3) ở thùy dưới phổi trái. "
    "Hình ảnh vài hạch nách nhỏ (10 mm) ở hố nách hai bên, không tăng chuyển hóa FDG. "
    "Hình ảnh bắt xạ theo đặc điểm sinh lý ở gan, lách, thượng thận và đài bể thận 2 bên. "
    "Hình ảnh vài hạch bẹn, kích thước 10 mm, không tăng chuyển hóa FDG ở hố bẹn hai bên. "
    "Chưa phát hiện hình ảnh tăng chuyển hóa FDG bất thường ở hệ thống cơ xương. "
    "Hình ảnh khối mờ, kích thước 43 x 39 mm, tăng chuyển hóa FDG ở thùy dưới phổi trái tương ứng với tổn thương "
    "ác tính nguyên phát. "
    "Chưa phát hiện hình ảnh tăng chuyển hóa FDG khu trú, bất thường tại các vị trí khác trên xạ hình PET/CT toàn thân."
)


def test_decimals_and_parentheses_do_not_end_sentences() -> None:
    text = "Khối mờ (SUVmax: 8.3) ở thùy dưới. Hạch 5,2 mm (so với PET/CT 5/2017. Không đổi) ở carina. Hết."
    assert split_sentences(text) == ["Khối mờ (SUVmax: 8.3) ở thùy dưới.", "Hạch 5,2 mm (so với PET/CT 5/2017. Không đổi) ở carina.", "Hết."]


def test_a_finding_glued_after_a_parenthesis_or_comma_is_split_off() -> None:
    text = "Hình ảnh dày màng phổi, tăng chuyển hóa FDG (SUVmax: 4,1) Hình ảnh hạch thượng đòn trái, Hình ảnh nốt mờ."
    assert split_sentences(text) == [
        "Hình ảnh dày màng phổi, tăng chuyển hóa FDG (SUVmax: 4,1)",
        "Hình ảnh hạch thượng đòn trái,",
        "Hình ảnh nốt mờ.",
    ]


def test_line_breaks_and_lower_case_continuations() -> None:
    assert split_sentences("Dòng một\nDòng hai. tiếp theo viết thường.") == ["Dòng một", "Dòng hai. tiếp theo viết thường."]
    assert split_sentences("Không đóng ngoặc (SUVmax: 3. Câu sau.") == ["Không đóng ngoặc (SUVmax: 3.", "Câu sau."]


def test_plain_text_sections_follow_anatomy_and_the_impression_is_found() -> None:
    report = parse_report(PLAIN)
    assert report.sections[HEAD_NECK].startswith("Hình ảnh bắt xạ theo đặc điểm sinh lý ở não.")
    assert "góc hàm" in report.sections[HEAD_NECK]
    assert report.sections[CHEST].startswith("Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim.")
    assert "hạch nách" in report.sections[CHEST] and "SUVmax: 8,3" in report.sections[CHEST]
    assert report.sections[ABDOMEN_PELVIS].startswith("Hình ảnh bắt xạ theo đặc điểm sinh lý ở gan")
    assert report.sections[MUSCULOSKELETAL] == "Chưa phát hiện hình ảnh tăng chuyển hóa FDG bất thường ở hệ thống cơ xương."
    assert report.impression.startswith("Hình ảnh khối mờ, kích thước 43 x 39 mm, tăng chuyển hóa FDG ở thùy dưới")
    assert report.impression.endswith("toàn thân.")


def test_vimed_json_and_text_records_and_reports(tmp_path: Path) -> None:
    vimed = {"Nhận định kết quả": "Kết luận hoá.", "Mô tả hình ảnh": {CHEST: "Nốt  mờ thuỳ trên."}}
    report = parse_report(vimed)
    assert report.sections[CHEST] == "Nốt mờ thùy trên." and report.impression == "Kết luận hóa."
    assert report.sections[HEAD_NECK] == ""
    assert parse_report(Report(sections=dict(report.sections), impression="x")).impression == "x"
    assert parse_report({"text": PLAIN}).impression == parse_report(PLAIN).impression
    path = tmp_path / "r.json"
    path.write_text(json.dumps(vimed, ensure_ascii=False), encoding="utf-8")
    assert load_report(path).sections[CHEST] == "Nốt mờ thùy trên."
    text_path = tmp_path / "r.txt"
    text_path.write_text(PLAIN, encoding="utf-8")
    assert load_report(text_path).impression == parse_report(PLAIN).impression


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("missing.json", None, "not found"),
        ("bad.json", b"{not json", "not valid JSON"),
        ("latin.txt", "Hình ảnh".encode("utf-16"), "not UTF-8"),
        ("empty.txt", b"   \n", "empty"),
        ("other.json", b'{"a": 1}', "neither a ViMed-PET report"),
        ("list.json", b"[1, 2]", "cannot read a report from JSON of type list"),
        ("folder.json", "dir", "got a directory"),
    ],
)
def test_bad_report_files_give_one_line_errors_naming_the_file(tmp_path: Path, name: str, content: bytes | None, reason: str) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ReportError) as caught:
        load_report(path)
    assert reason in str(caught.value) and str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_every_real_report_parses_into_ordered_sections(real_reports: list[dict]) -> None:
    assert len(real_reports) == 189
    for record in real_reports:
        report = parse_report(record)
        normalized = normalize_text(record["text"])
        # nothing is lost or invented: the sections and impression re-join to the sentences of the text
        assert split_sentences(report.full_text()) == split_sentences(normalized), record["patient_id"]
        assert report.sections[HEAD_NECK] and report.sections[CHEST], record["patient_id"]
        assert "ở tim" in report.sections[CHEST], record["patient_id"]
        if "ở não" in normalized:
            assert "ở não" in report.sections[HEAD_NECK], record["patient_id"]
        if "hệ thống cơ xương." in normalized:
            assert "hệ thống cơ xương" not in report.sections[CHEST] + report.sections[HEAD_NECK], record["patient_id"]
        last = split_sentences(normalized)[-1]
        if "toàn thân" in last:
            assert report.impression.endswith(last), record["patient_id"]
    assert all(key in report.sections for key in SECTION_KEYS)
