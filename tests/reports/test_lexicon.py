"""The YAML lexicon: loading, validation and longest-phrase matching."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vipet.errors import ReportError
from vipet.reports.lexicon import LEXICON_PATH, REGIONS, PhraseMatcher, load_lexicon


def test_shipped_lexicon_loads_once_and_covers_every_region() -> None:
    lex = load_lexicon()
    assert load_lexicon() is lex
    regions = {m.value.region for m in lex.sites.finditer("não tim gan xương phổi")}
    assert regions == set(REGIONS)
    assert {"hạch", "khối mờ", "nốt mờ", "tràn dịch", "dải mờ"} <= set(lex.kinds)


def test_longest_phrase_wins_and_words_match_whole() -> None:
    matcher = PhraseMatcher({"nốt": "generic", "nốt kính mờ": "ggo", "kính mờ": "ggo2"})
    found = [(m.text, m.value) for m in matcher.finditer("vài nốt kính mờ và nốt  mờ, nốtx")]
    assert found == [("nốt kính mờ", "ggo"), ("nốt", "generic")]
    assert matcher.startswith("  nốt kính mờ ở") is not None and matcher.startswith("ở nốt") is None


def test_non_lesion_look_alikes_shadow_lesion_words() -> None:
    lex = load_lexicon()
    values = [m.value for m in lex.lesions.finditer("hậu môn nhân tạo, hang vị dạ dày")]
    assert values == [None, None]


def test_judgement_takes_the_most_specific_group() -> None:
    lex = load_lexicon()
    assert lex.judgement("khả năng do viêm hoặc quá sản").value == "Khả năng do viêm"
    assert lex.judgement("chưa loại trừ khả năng do metastases").value == "Chưa loại trừ khả năng di căn"
    assert lex.judgement("tương ứng với tổn thương ác tính nguyên phát").value == "U nguyên phát"
    assert lex.judgement("không rõ") is None


def test_a_custom_lexicon_file_can_extend_the_vocabulary(tmp_path: Path) -> None:
    text = LEXICON_PATH.read_text(encoding="utf-8").replace("phrases: [polyp]", "phrases: [polyp, bướu thịt]")
    custom = tmp_path / "lexicon.yaml"
    custom.write_text(text, encoding="utf-8")
    lex = load_lexicon(custom)
    assert lex.lesions.search("hình ảnh bướu thịt ở").value.kind == "polyp"


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "not found"),
        ("a: [unclosed", "not valid YAML"),
        ("version: 1\n", "lacks section"),
    ],
)
def test_bad_lexicon_files_are_reported(tmp_path: Path, content: str | None, reason: str) -> None:
    path = tmp_path / "bad.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportError, match=reason):
        load_lexicon(path)


def test_a_site_with_an_unknown_region_is_rejected(tmp_path: Path) -> None:
    text = LEXICON_PATH.read_text(encoding="utf-8").replace("region: head_neck,", "region: brainstem,", 1)
    path = tmp_path / "lexicon.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReportError, match="unknown region 'brainstem'"):
        load_lexicon(path)


_SYLLABLES = ["nốt", "mờ", "kính", "hạch", "phổi", "thùy", "trên", "a", "ab"]


@given(
    st.lists(st.lists(st.sampled_from(_SYLLABLES), min_size=1, max_size=3).map(" ".join), min_size=1, max_size=8, unique=True),
    st.lists(st.sampled_from(_SYLLABLES + [",", "  ", "x"]), max_size=25).map(" ".join),
)
@settings(max_examples=200, deadline=None)
def test_trie_matcher_finds_what_a_longest_first_alternation_finds(phrases: list[str], text: str) -> None:
    ordered = sorted(phrases, key=len, reverse=True)
    body = "|".join(r"\s+".join(re.escape(w) for w in p.split()) for p in ordered)
    reference = re.compile(rf"(?<!\w)(?:{body})(?!\w)")
    matcher = PhraseMatcher({p: p for p in phrases})
    assert [(m.start, m.end) for m in matcher.finditer(text)] == [m.span() for m in reference.finditer(text)]
