"""Text augmentation that keeps every clinical fact of a report.

Operations (all seeded, all checked):
- reorder: findings units (a sentence with its "Hạch lớn nhất …" continuation and follow-up
  advice) are shuffled within their section; the head-to-feet section order is kept;
- synonym: a phrase is swapped for another of its lexicon `synonyms` group ("hai bên" ↔ "2 bên");
- template: the location phrase of a finding moves between the head and the end of the sentence
  ("Hình ảnh vài hạch bẹn, kích thước 10 mm, không tăng chuyển hóa FDG ở hố bẹn hai bên" ↔
  "Hình ảnh vài hạch bẹn ở hố bẹn hai bên, kích thước 10 mm, không tăng chuyển hóa FDG");
- numbers: spelling variants of the same number ("SUVmax: 5,2" → "SUVmax 5.2", "10 mm" → "10mm").
Each rewritten sentence must read into the same facts as the original (else the original sentence
is kept), and the whole augmented report must give the same extracted lesions as the original
(`facts_preserved`), else the reordering is undone and, failing that, the original is returned.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from functools import lru_cache
from typing import Any, Callable

from vipet.reports.extract import Finding, analyze_report
from vipet.reports.lexicon import Lexicon, load_lexicon
from vipet.reports.parse import parse_report
from vipet.reports.segment import split_sentences
from vipet.schema import SECTION_KEYS, Report
from vipet.reports.sentences import analyze_sentence

OPERATIONS: tuple[str, ...] = ("reorder", "synonym", "template", "numbers")
_PUNCT = re.compile(r"[^\w\s]")
_SUV = re.compile(r"SUVmax: (\d+)(?:,(\d+))?")
_MM = re.compile(r"(\d) mm\b")
_TIMES = re.compile(r"(\d) x (\d)")
_TRAILING_LOCATION = re.compile(r"^(?P<body>.+?(?:chuyển hóa FDG|\)))(?P<loc> ở [^,()]+?)(?P<end>\.?)$")
_HEAD_LOCATION = re.compile(r"^(?P<head>Hình ảnh [^,()]+?)(?P<loc> ở [^,()]+?)(?P<rest>, .+?chuyển hóa FDG)(?P<end>\.?)$")


@lru_cache(maxsize=8)
def _synonym_folder(lex: Lexicon) -> tuple[re.Pattern[str], dict[str, str]]:
    """One regex over every non-first synonym spelling, and the first spelling of its group."""
    first = {variant: group[0] for group in lex.synonyms for variant in group[1:]}
    body = "|".join(re.escape(v) for v in sorted(first, key=len, reverse=True)) or r"(?!x)x"
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)"), first


@lru_cache(maxsize=65536)
def _canonical(text: str, lex: Lexicon) -> str:
    """A phrase compared as a fact: lower case, no punctuation, synonyms folded to their first form."""
    low = " ".join(_PUNCT.sub(" ", text.lower()).split())
    pattern, first = _synonym_folder(lex)
    low = pattern.sub(lambda m: first[m.group(0)], low)
    for lead in ("ở ", "tại "):
        if low.startswith(lead):
            low = low[len(lead) :]
    return low


def _finding_facts(finding: Finding, lex: Lexicon) -> tuple[Any, ...]:
    return (
        finding.kind,
        _canonical(finding.location, lex),
        tuple(sorted(finding.sizes_mm)),
        finding.suv_max,
        finding.uptake,
        finding.judgement,
        _canonical(finding.invasion, lex),
        tuple(sorted(_canonical(m_shape, lex) for m in finding.mentions[:1] for m_shape in m.shapes)),
    )


def report_facts(report_or_text: Any, lexicon: Lexicon | None = None) -> Counter:
    """The multiset of clinical facts (every lesion, all regions) a report states."""
    lex = lexicon or load_lexicon()
    return Counter(_finding_facts(f, lex) for f in analyze_report(report_or_text, lex).findings)


def facts_preserved(original: Any, augmented: Any, lexicon: Lexicon | None = None) -> bool:
    """True when both reports give the same extracted lesions (kind, site, size, SUVmax, uptake,
    judgement, invasion, shape), wherever and however they are written."""
    lex = lexicon or load_lexicon()
    return report_facts(original, lex) == report_facts(augmented, lex)


def _sentence_facts(sentence: str, section: str, lex: Lexicon) -> tuple[Any, ...]:
    result = analyze_sentence(sentence, section, 0, lex)
    mentions = tuple(
        (m.kind, _canonical(m.location, lex), tuple(sorted(m.sizes_mm)), m.suv_max, m.uptake, m.judgement,
         _canonical(m.invasion, lex), tuple(sorted(_canonical(s, lex) for s in m.shapes)))
        for m in result.mentions
    )
    statements = tuple((s.polarity, tuple(x.group for x in s.sites), s.kinds) for s in result.statements)
    return mentions, statements, result.recommendation, result.continuation


def _group_pattern(group: tuple[str, ...]) -> re.Pattern[str]:
    """All spellings of a synonym group, longest first, so "kích thước" never hits "có kích thước"."""
    body = "|".join(re.escape(v) for v in sorted(group, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def _swap_synonym(sentence: str, rng: random.Random, lex: Lexicon) -> str:
    found = [(group, m) for group in lex.synonyms for m in _group_pattern(group).finditer(sentence)]
    if not found:
        return sentence
    group, match = rng.choice(found)
    current = match.group(0).lower()
    target = rng.choice([v for v in group if v != current] or [current])
    if match.group(0)[:1].isupper():
        target = target[:1].upper() + target[1:]
    return sentence[: match.start()] + target + sentence[match.end() :]


def _move_location(sentence: str, rng: random.Random, lex: Lexicon) -> str:
    trailing = _TRAILING_LOCATION.match(sentence)
    if trailing and sentence.startswith("Hình ảnh ") and "," in trailing.group("body"):
        body, loc = trailing.group("body"), trailing.group("loc")
        head, rest = body.split(",", 1)
        return f"{head}{loc},{rest}{trailing.group('end')}"
    leading = _HEAD_LOCATION.match(sentence)
    if leading:
        return f"{leading.group('head')}{leading.group('rest')}{leading.group('loc')}{leading.group('end')}"
    return sentence


def _vary_numbers(sentence: str, rng: random.Random, lex: Lexicon) -> str:
    choice = rng.randrange(4)
    if choice == 0:
        return _SUV.sub(lambda m: f"SUVmax {m.group(1)}" + (f".{m.group(2)}" if m.group(2) else ""), sentence)
    if choice == 1:
        return _SUV.sub(lambda m: f"SUVmax:{m.group(1)}" + (f",{m.group(2)}" if m.group(2) else ""), sentence)
    if choice == 2:
        return _MM.sub(r"\1mm", sentence)
    return _TIMES.sub(r"\1x\2", sentence)


_REWRITES: dict[str, Callable[[str, random.Random, Lexicon], str]] = {
    "synonym": _swap_synonym,
    "template": _move_location,
    "numbers": _vary_numbers,
}


def _units(sentences: list[str], lex: Lexicon) -> list[list[str]]:
    """Sentences grouped with the continuation and advice sentences that depend on the one before."""
    units: list[list[str]] = []
    for sentence in sentences:
        low = sentence.lower()
        dependent = lex.continuation.startswith(low) or lex.recommendation.startswith(low)
        if dependent and units:
            units[-1].append(sentence)
        else:
            units.append([sentence])
    return units


def _render(sections: dict[str, list[list[str]]]) -> Report:
    parts = {k: " ".join(s for unit in units for s in unit) for k, units in sections.items()}
    impression = parts.pop("impression", "")
    return Report(sections={k: parts.get(k, "") for k in SECTION_KEYS}, impression=impression)


def _rewrite_sentence(sentence: str, section: str, operations: tuple[str, ...], rate: float, rng: random.Random, lex: Lexicon) -> str:
    """The sentence after seeded rewrites, or the sentence itself if they changed what it says."""
    candidate = sentence
    for op in operations:
        if op in _REWRITES and rng.random() < rate:
            candidate = _REWRITES[op](candidate, rng, lex)
    if candidate == sentence or not candidate.strip():
        return sentence
    if _sentence_facts(candidate, section, lex) != _sentence_facts(sentence, section, lex):
        return sentence
    return candidate


def augment_report(
    report_or_text: Any,
    seed: int,
    operations: tuple[str, ...] = OPERATIONS,
    rate: float = 0.5,
    lexicon: Lexicon | None = None,
) -> str:
    """A rewritten report text stating exactly the same lesions (see the module docstring).

    `rate` is the chance that each sentence gets each rewrite. The result is the joined text
    (findings head to feet, then impression), like `reports.jsonl` and model targets. The check is
    made on the joined text, so the rewrite also survives section recovery when re-read.
    """
    lex = lexicon or load_lexicon()
    rng = random.Random(seed)
    original = parse_report(report_or_text)
    keyed = [(k, original.sections.get(k, "")) for k in SECTION_KEYS] + [("impression", original.impression)]
    in_order: dict[str, list[list[str]]] = {}
    shuffled: dict[str, list[list[str]]] = {}
    for key, text in keyed:
        rewritten = [_rewrite_sentence(s, key, operations, rate, rng, lex) for s in split_sentences(text)]
        units = _units(rewritten, lex)
        in_order[key] = units
        mixed = list(units)
        if "reorder" in operations and key != "impression" and len(mixed) > 1:
            rng.shuffle(mixed)
        shuffled[key] = mixed
    expected = report_facts(original, lex)
    for candidate in (_render(shuffled), _render(in_order)):
        text = candidate.full_text()
        if report_facts(text, lex) == expected:
            return text
    return original.full_text()
