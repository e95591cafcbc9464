"""Syllable and word tokens, the recorded settings, and spelling-invariance."""

from __future__ import annotations

import pytest

from vipet.errors import ReportError
from vipet.reports.tokenize import TOKENIZER_INFO, tokenize, tokenizer_info

SENTENCE = "Hình ảnh khối mờ, kích thước 43x39mm, tăng chuyển hoá FDG (SUVmax:8.3) ở thuỳ dưới phổi trái."


def test_syllables_are_lower_case_with_punctuation_split_and_decimals_whole() -> None:
    assert tokenize(SENTENCE) == [
        "hình", "ảnh", "khối", "mờ", ",", "kích", "thước", "43", "x", "39", "mm", ",", "tăng", "chuyển", "hóa", "fdg",
        "(", "suvmax", ":", "8,3", ")", "ở", "thùy", "dưới", "phổi", "trái", ".",
    ]


def test_words_join_syllables_of_one_word_with_underscore() -> None:
    words = tokenize(SENTENCE, mode="word")
    assert "kích_thước" in words and "chuyển_hóa" in words and "8,3" in words
    assert "".join(words).replace("_", "") == "".join(tokenize(SENTENCE))


def test_two_spellings_of_one_text_give_the_same_tokens() -> None:
    other = "Hình ảnh khối mờ , kích thước 43 x 39 mm, tăng chuyển hóa FDG (SUVmax: 8,3) ở thùy dưới phổi trái."
    for mode in ("syllable", "word"):
        assert tokenize(other, mode) == tokenize(SENTENCE, mode)


def test_settings_are_recorded_for_provenance() -> None:
    info = tokenizer_info("word")
    assert info["mode"] == "word" and info["lowercase"] is True
    assert info["word_segmenter"].startswith("pyvi.ViTokenizer")
    assert "hóa" in info["normalization"]["tone_marks"]
    assert TOKENIZER_INFO["default_mode"] == "syllable"


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ReportError, match="unknown tokenizer mode 'bpe'"):
        tokenize("x", mode="bpe")
    with pytest.raises(ReportError):
        tokenizer_info("char")


def test_empty_text_has_no_tokens() -> None:
    assert tokenize("") == [] and tokenize("  ", mode="word") == []
