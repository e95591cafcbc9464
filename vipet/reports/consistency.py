"""Do the English and Vietnamese versions of one report state the same numbers, in the language claimed?

A translation that drops a lesion, moves a decimal (SUVmax 5,2 -> 52) or turns 18 x 21 mm into
1.8 x 2.1 mm teaches a model wrong facts in one language only. Without an English lesion
extractor the check works on the numbers, which both languages write the same way apart from the
decimal separator:

- the set of SUVmax values (one decimal) stated anywhere in each version must be the same;
- the set of sizes (each a sorted tuple of dimensions in mm, cm converted, one decimal) must be the same;
- where both versions have region sections, the number of SUVmax statements per region must agree
  (a lesion count per region, when both are parseable).

`text_language` says whether a text reads as Vietnamese or English, from the share of letters
that only Vietnamese uses (đ, ư, ơ, the tone marks) and of common function words of each
language; `LANGUAGE_RULE` documents the thresholds.

English report files have no published schema. Accepted forms: the Vietnamese layout itself,
`{"findings"|"description": {<region>: text, ...}, "impression"|"conclusion": text}` with any
capitalisation and region names containing head/neck, chest/thorax, abdomen/pelvis or
musculoskeletal/bone, or `{"text": ...}` (regions then unknown).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from vipet.reports.normalize import normalize_text
from vipet.reports.english import english_sections, english_lesions, vietnamese_lesions
from vipet.reports.spans import SIZE, SUV, dims_mm
from vipet.schema import FINDINGS_KEY, SECTION_REGIONS, Report

VI_LETTER_MIN = 0.03  # Vietnamese text: at least this share of letters are Vietnamese-only (typically 0.15-0.30)
EN_LETTER_MAX = 0.01  # English text: at most this share (names and units only)
MIN_LETTERS = 20  # shorter texts are not judged
LANGUAGE_RULE = (f"Vietnamese: >= {VI_LETTER_MIN:.0%} of letters Vietnamese-only (đ, ư, ơ, â, ê, ô, ă, tone marks) "
                 f"or more Vietnamese than English function words; English: <= {EN_LETTER_MAX:.0%} and more English "
                 f"function words; texts under {MIN_LETTERS} letters are not judged")
_EN_WORDS = frozenset("the of and with in is are no not was were to at on or right left".split())
_VI_WORDS = frozenset("và của có không ở hình ảnh tăng bên phải trái các vùng".split())
_EN_SUV = re.compile(r"suv\s*max\s*(?:value\s*)?(?:of\s*)?[:;=]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_EN_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?(?:\s*[x×]\s*\d+(?:\.\d+)?)*)\s*(mm|cm)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
def _letters(text: str) -> list[str]:
    return [c for c in unicodedata.normalize("NFC", text) if c.isalpha()]


def vietnamese_letter_share(text: str) -> float:
    """Share of letters outside ASCII (Vietnamese letters with diacritics, đ) among all letters."""
    letters = _letters(text)
    return sum(1 for c in letters if ord(c) > 127) / len(letters) if letters else 0.0


def text_language(text: str) -> str:
    """"vi", "en" or "unknown" (too short, or neither rule of `LANGUAGE_RULE` holds)."""
    if len(_letters(text)) < MIN_LETTERS:
        return "unknown"
    share = vietnamese_letter_share(text)
    words = re.findall(r"\w+", text.lower())
    en = sum(1 for w in words if w in _EN_WORDS)
    vi = sum(1 for w in words if w in _VI_WORDS)
    if share >= VI_LETTER_MIN or (share > EN_LETTER_MAX and vi > en):
        return "vi"
    if share <= EN_LETTER_MAX and en > vi:
        return "en"
    return "unknown"


def _round(value: float) -> float:
    return round(float(value) + 0.0, 1)


def vietnamese_numbers(text: str) -> tuple[set[float], set[tuple[float, ...]], int]:
    """(SUVmax values, sizes in mm, number of SUVmax statements) of Vietnamese text."""
    low = normalize_text(text).lower()
    suvs = [_round(float(m.group(1).replace(",", "."))) for m in SUV.finditer(low)]
    sizes = {tuple(sorted(_round(d) for d in dims)) for m in SIZE.finditer(low) if (dims := dims_mm(m.group("value")))}
    return set(suvs), sizes, len(suvs)


def english_numbers(text: str) -> tuple[set[float], set[tuple[float, ...]], int]:
    """(SUVmax values, sizes in mm, number of SUVmax statements) of English text (decimal point)."""
    suvs = [_round(float(m.group(1))) for m in _EN_SUV.finditer(text)]
    sizes = set()
    for m in _EN_SIZE.finditer(text):
        scale = 10.0 if m.group(2).lower() == "cm" else 1.0
        sizes.add(tuple(sorted(_round(float(n) * scale) for n in _NUMBER.findall(m.group(1)))))
    return set(suvs), sizes, len(suvs)


@dataclass
class Consistency:
    """What disagrees between the two versions (empty lists: they agree)."""

    suv_only_vi: list[float] = field(default_factory=list)
    suv_only_en: list[float] = field(default_factory=list)
    size_only_vi: list[tuple[float, ...]] = field(default_factory=list)
    size_only_en: list[tuple[float, ...]] = field(default_factory=list)
    region_counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # region -> (vi, en), disagreeing only
    # With `compare_versions(..., lesions=True)`: lesion statements (region, organ, side, size, SUVmax;
    # `vipet.reports.english.LesionFacts`) stated in one version only.
    lesions_only_vi: list[str] = field(default_factory=list)
    lesions_only_en: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not (self.suv_only_vi or self.suv_only_en or self.size_only_vi or self.size_only_en or self.region_counts
                    or self.lesions_only_vi or self.lesions_only_en)

    def describe(self) -> str:
        parts = []
        for what, values in (("SUVmax only in Vietnamese", self.suv_only_vi), ("SUVmax only in English", self.suv_only_en),
                             ("sizes (mm) only in Vietnamese", self.size_only_vi),
                             ("sizes (mm) only in English", self.size_only_en)):
            if values:
                parts.append(f"{what}: {', '.join(_show(v) for v in values)}")
        for region, (vi, en) in self.region_counts.items():
            parts.append(f"{region}: {vi} SUVmax statements in Vietnamese, {en} in English")
        for what, lesions in (("lesions only in Vietnamese", self.lesions_only_vi),
                              ("lesions only in English", self.lesions_only_en)):
            if lesions:
                parts.append(f"{what}: {'; '.join(lesions)}")
        return "; ".join(parts) or "the two versions agree"


def _show(value: float | tuple[float, ...]) -> str:
    if isinstance(value, tuple):
        return " x ".join(f"{v:g}" for v in value)
    return f"{value:g}"


def compare_versions(report_vi: Report, report_en: Any, *, lesions: bool = False) -> Consistency:
    """The number-level agreement of a Vietnamese report and its English version (module docstring).

    With `lesions`, also lesion by lesion: every findings sentence that states a size or an SUVmax
    is one lesion (region, organ class, side, size, SUVmax; `vipet.reports.english`), and the two
    versions must state the same multiset of them (`lesions_only_vi`, `lesions_only_en`).
    """
    result = _compare_numbers(report_vi, report_en)
    if lesions:
        from collections import Counter


        vi = Counter(_lesion_text(f) for f in vietnamese_lesions(report_vi))
        en = Counter(_lesion_text(f) for f in english_lesions(report_en))
        result.lesions_only_vi = sorted((vi - en).elements())
        result.lesions_only_en = sorted((en - vi).elements())
    return result


def _lesion_text(fact: Any) -> str:
    organ, side = fact.organ or "unknown organ", fact.side or "no side"
    size = "no size" if fact.size_mm is None else " x ".join(f"{v:g}" for v in fact.size_mm) + " mm"
    suv = "no SUVmax" if fact.suv_max is None else f"SUVmax {fact.suv_max:g}"
    return f"{fact.region} {organ} ({side}, {size}, {suv})"


def _compare_numbers(report_vi: Report, report_en: Any) -> Consistency:
    en_sections, en_text = english_sections(report_en)
    vi_suv, vi_size, _ = vietnamese_numbers(report_vi.full_text())
    en_suv, en_size, _ = english_numbers(en_text)
    result = Consistency(sorted(vi_suv - en_suv), sorted(en_suv - vi_suv), sorted(vi_size - en_size),
                         sorted(en_size - vi_size))
    if not en_sections:  # the English regions are not parseable: the whole-text sets are all there is
        return result
    for region, title in SECTION_REGIONS.items():
        vi_count = vietnamese_numbers(report_vi.sections.get(title, ""))[2]
        en_count = english_numbers(en_sections.get(region, ""))[2]
        if vi_count != en_count:
            result.region_counts[region] = (vi_count, en_count)
    return result
