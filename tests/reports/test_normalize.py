"""Canonical spelling: tone marks, SUVmax, sizes, decimals and spacing, and idempotence."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vipet.reports.normalize import canonical_tone, format_number, normalize_text, parse_number


@pytest.mark.parametrize(
    "word, expected",
    [
        ("hoá", "hóa"), ("hóa", "hóa"), ("thuỳ", "thùy"), ("Thuỷ", "Thủy"), ("Hoà", "Hòa"), ("khoẻ", "khỏe"),
        ("toà", "tòa"), ("HOÁ", "HÓA"),
        # closed syllables and qu- syllables are spelled the same in both conventions: unchanged
        ("hoàn", "hoàn"), ("thuyết", "thuyết"), ("quý", "quý"), ("quả", "quả"), ("khuya", "khuya"),
    ],
)
def test_tone_mark_moves_to_the_old_style_place_only_on_open_diphthongs(word: str, expected: str) -> None:
    assert canonical_tone(word) == expected


def test_decomposed_input_is_composed_and_tone_canonicalised() -> None:
    decomposed = unicodedata.normalize("NFD", "chuyển hoá FDG ở thuỳ trên")
    assert normalize_text(decomposed) == "chuyển hóa FDG ở thùy trên"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("(SUVmax: 5,2)", "(SUVmax: 5,2)"),
        ("(SUVmax:6,0)", "(SUVmax: 6,0)"),
        ("(SUVmax; 4,6)", "(SUVmax: 4,6)"),
        ("(SUV max 5.2)", "(SUVmax: 5,2)"),
        ("(SUVmax : 9)", "(SUVmax: 9)"),
        ("(suvmax=3.25)", "(SUVmax: 3,25)"),
    ],
)
def test_suvmax_variants_share_one_spelling(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("kích thước 18x21mm", "kích thước 18 x 21 mm"),
        ("kích thước 18 x 21 mm", "kích thước 18 x 21 mm"),
        ("kích thước 18 × 21 mm", "kích thước 18 x 21 mm"),
        ("kích thước 2.5 x 3.1 cm", "kích thước 2,5 x 3,1 cm"),
        ("đường kính 9 mm", "đường kính 9 mm"),
        ("kích thước vài mm", "kích thước vài mm"),
        ("vài hạch nách nhỏ ( 10 mm) ở hố nách", "vài hạch nách nhỏ (10 mm) ở hố nách"),
        ("kích thước 10mm , không tăng", "kích thước 10 mm, không tăng"),
    ],
)
def test_sizes_are_written_one_way(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_non_measurement_dots_are_left_alone() -> None:
    # a date and a fraction are not decimals of a measurement
    assert normalize_text("so với PET/CT 5.2017, thực quản 1/3 trên") == "so với PET/CT 5.2017, thực quản 1/3 trên"


def test_whitespace_and_glued_commas() -> None:
    assert normalize_text("  Hình\u00a0ảnh  vài hạch,không tăng \n") == "Hình ảnh vài hạch, không tăng"


@given(st.text(alphabet="aáàảãạoóòỏõọuúùủũụyýỳeéè hqtkx,.;:()0123456789 SUVmax\u00a0", max_size=80))
@settings(max_examples=300, deadline=None)
def test_normalisation_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_number_round_trip() -> None:
    assert parse_number("5,2") == parse_number("5.2") == 5.2
    assert format_number(5.2) == "5,2"
    assert format_number(15.0) == "15"
