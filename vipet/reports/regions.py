"""Split a report's text by image region, so each region volume is trained on what it shows.

Each region reads its own section (`vipet.schema.REGION_SECTIONS`). The musculoskeletal section
has no region of its own, so each of its sentences goes to the region its bone names (ribs ->
chest, pelvis -> abdomen_pelvis, ...; the list is `bone_regions` in lexicon.yaml) and a sentence
that names none ("no abnormal uptake in the skeleton") goes to every region, since it is true of
each.
"""

from __future__ import annotations

import re
import unicodedata

from vipet.reports.lexicon import Lexicon, load_lexicon
from vipet.reports.segment import split_sentences
from vipet.schema import IMAGE_REGIONS, MUSCULOSKELETAL, REGION_SECTIONS, Report

_VERTEBRA = re.compile(r"\b([A-Z])\s?(\d{1,2})\b")


def sentence_regions(sentence: str, lex: Lexicon | None = None) -> set[str]:
    """Image regions a musculoskeletal sentence names; empty when it names no bone of a region."""
    lex = lex or load_lexicon()
    lowered = unicodedata.normalize("NFC", sentence).lower()
    found = {match.value for match in lex.bone_regions.finditer(lowered)}
    for letter, _ in _VERTEBRA.findall(sentence):
        if letter in lex.vertebra_regions:
            found.add(lex.vertebra_regions[letter])
    return found


def split_report(report: Report, lex: Lexicon | None = None) -> dict[str, str]:
    """Region -> the text a region sample is trained on: its section plus its musculoskeletal sentences."""
    lex = lex or load_lexicon()
    bone_sentences: dict[str, list[str]] = {region: [] for region in IMAGE_REGIONS}
    for sentence in split_sentences(unicodedata.normalize("NFC", report.sections.get(MUSCULOSKELETAL, "")).strip()):
        named = sentence_regions(sentence, lex) or set(IMAGE_REGIONS)
        for region in IMAGE_REGIONS:
            if region in named:
                bone_sentences[region].append(sentence)
    out = {}
    for region, section in REGION_SECTIONS.items():
        pieces = [report.sections.get(section, "").strip(), *bone_sentences[region]]
        out[region] = " ".join(p for p in pieces if p)
    return out
