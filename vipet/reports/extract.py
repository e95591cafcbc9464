"""Offline lesion extraction: a report in, the expert six-field lesions out (no LLM).

Pipeline: parse (sections recovered for plain text) → every sentence read into mentions
(`sentences.analyze_sentence`) → mentions of the same lesion merged across the description and
the impression (same kind, compatible size/SUVmax/uptake, overlapping location) → scope filter →
`Lesion`. The richer `Finding` (kind, sites, sizes in mm, section) feeds VQA and the fact check.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from vipet.errors import ReportError
from vipet.reports.clauses import GENERIC_KINDS, UPTAKE_KIND, Mention, Statement
from vipet.reports.lexicon import Lexicon, Site, load_lexicon
from vipet.reports.parse import parse_report
from vipet.reports.segment import split_sentences
from vipet.schema import ABSENT, SECTION_KEYS, Lesion, Report
from vipet.reports.sections import IMPRESSION, SECTION_TO_REGION
from vipet.reports.sentences import analyze_sentence

SCOPES: tuple[str, ...] = ("thorax", "all")
_TOKENS = re.compile(r"\w+")
_MERGE_THRESHOLD = 3.0
_FINDINGS_MERGE_THRESHOLD = 6.0


@dataclass
class Finding:
    """One lesion with everything the report says about it, merged over its mentions."""

    kind: str
    type_text: str
    location: str
    sites: tuple[Site, ...]
    section: str
    size_text: str = ""
    sizes_mm: tuple[tuple[float, ...], ...] = ()
    suv_max: float | None = None
    uptake: str | None = None
    invasion: str = ""
    judgement: str | None = None
    mentions: list[Mention] = field(default_factory=list)

    @property
    def increased(self) -> bool | None:
        if self.uptake is None:
            return None
        return self.uptake not in ("Không tăng", "Giảm")

    @property
    def regions(self) -> tuple[str, ...]:
        """Regions of the named sites, else the region of the section that states it."""
        if self.sites:
            return tuple(dict.fromkeys(s.region for s in self.sites))
        region = SECTION_TO_REGION.get(self.section)
        return (region,) if region else ()

    def in_thorax(self) -> bool:
        """What the expert thorax set keeps: lung, pleura, mediastinum, hila, supraclavicular nodes."""
        if self.sites:
            return any(s.thorax for s in self.sites)
        return self.section == SECTION_KEYS[1]

    def to_lesion(self) -> Lesion:
        return Lesion(
            size=self.size_text or ABSENT,
            type=self.type_text or ABSENT,
            location=self.location or ABSENT,
            suv_max=self.suv_max,
            uptake=self.uptake or ABSENT,
            invasion=self.invasion or ABSENT,
            stage=self.judgement or ABSENT,
        )


@dataclass
class ReportAnalysis:
    """Everything the extractor read from one report."""

    report: Report
    findings: list[Finding]
    statements: list[Statement]


# Cached: matching compares every new mention with every finding so far, and the same location
# strings recur; recomputing them made a long report (or one huge clause) quadratic in its length.
@lru_cache(maxsize=65536)
def _tokens(text: str) -> frozenset[str]:
    return frozenset(_TOKENS.findall(text.lower()))


def _specific_dims(sizes: tuple[tuple[float, ...], ...]) -> set[tuple[float, ...]]:
    return {d for d in sizes if len(d) > 1}


_SIDES = {"phải": "right", "trái": "left"}
_LOBES = ("thùy trên", "thùy giữa", "thùy dưới", "thùy lưỡi")


@lru_cache(maxsize=65536)
def _places(location: str) -> tuple[frozenset[str], frozenset[str]]:
    """Sides and lung lobes a location names ("hai bên" names both sides)."""
    low = location.lower()
    sides = {v for k, v in _SIDES.items() if re.search(rf"(?<!\w){k}(?!\w)", low)}
    if re.search(r"(?<!\w)(?:hai|2) (?:bên|phổi)(?!\w)", low):
        sides |= {"right", "left"}
    return frozenset(sides), frozenset(lobe for lobe in _LOBES if lobe in low)


def _conflicting_places(a: str, b: str) -> bool:
    """Two locations on different sides, or in different lobes, are different lesions."""
    sides_a, lobes_a = _places(a)
    sides_b, lobes_b = _places(b)
    return bool((sides_a and sides_b and not sides_a & sides_b) or (lobes_a and lobes_b and not lobes_a & lobes_b))


def _fact_score(finding: Finding, mention: Mention, families: dict[str, str]) -> float:
    """How surely `mention` restates `finding`; -inf when a stated fact contradicts it.

    Only asked about findings no clause of the mention's own sentence has touched: two clauses of
    one sentence are two lesions (`analyze_report` keeps those out).
    """
    reject = float("-inf")
    if finding.kind == mention.kind:
        score = 2.0
    elif families.get(finding.kind, finding.kind) == families.get(mention.kind, mention.kind):
        score = 1.0
    elif UPTAKE_KIND in (finding.kind, mention.kind) and not {finding.kind, mention.kind} <= GENERIC_KINDS:
        return reject  # "tăng chuyển hóa … ở X" beside a described lesion at X is a separate finding
    elif finding.kind in GENERIC_KINDS or mention.kind in GENERIC_KINDS:
        score = 0.5
    else:
        return reject
    if finding.suv_max is not None and mention.suv_max is not None:
        if abs(finding.suv_max - mention.suv_max) > 1e-6:
            return reject
        score += 2.0
    if finding.increased is not None and mention.increased is not None and finding.increased != mention.increased:
        return reject
    if finding.sizes_mm and mention.sizes_mm and not set(finding.sizes_mm) & set(mention.sizes_mm):
        return reject
    dims_a, dims_b = _specific_dims(finding.sizes_mm), _specific_dims(mention.sizes_mm)
    same_size = bool(set(finding.sizes_mm) & set(mention.sizes_mm))
    if dims_a & dims_b:
        score += 3.0
    elif same_size:
        score += 1.5
    groups_a = {s.group for s in finding.sites}
    groups_b = {s.group for s in mention.sites}
    if groups_a and groups_b:
        if not groups_a & groups_b:
            return reject
        score += 1.5
    if _conflicting_places(finding.location, mention.location):
        return reject
    loc_a, loc_b = _tokens(finding.location), _tokens(mention.location)
    if loc_a and loc_b:
        overlap = len(loc_a & loc_b) / min(len(loc_a), len(loc_b))
        if (overlap < 0.5 and not same_size) or overlap == 0.0:
            return reject
        score += 2.0 * overlap
    return score


def _kinds_compatible(a: str, b: str, families: dict[str, str]) -> bool:
    """Can findings of kinds `a` and `b` be one lesion? (the kind test of `_fact_score`)"""
    if a == b or families.get(a, a) == families.get(b, b):
        return True
    if UPTAKE_KIND in (a, b) and not {a, b} <= GENERIC_KINDS:
        return False
    return a in GENERIC_KINDS or b in GENERIC_KINDS


def _suv_key(suv: float | None) -> int | None:
    return None if suv is None else math.floor(suv * 1e6)


class _FindingIndex:
    """The findings so far, bucketed by kind, stated uptake (increased or not) and SUVmax.

    `_fact_score` rejects a finding whose kind is incompatible with the mention's, whose uptake
    contradicts it or whose SUVmax differs; only the other findings are scored. The result is the
    same as scoring every finding (rejected ones score -inf), but a long report no longer costs
    (mentions x findings) score computations.
    """

    def __init__(self, families: dict[str, str]) -> None:
        self._families = families
        self._buckets: dict[str, dict[bool | None, dict[int | None, set[int]]]] = {}
        self._keys: dict[int, tuple[str, bool | None, int | None]] = {}

    def put(self, i: int, finding: Finding) -> None:
        """Add finding `i`, or move it after a merge changed its kind, uptake or SUVmax."""
        key = (finding.kind, finding.increased, _suv_key(finding.suv_max))
        old = self._keys.get(i)
        if old == key:
            return
        if old is not None:
            self._buckets[old[0]][old[1]][old[2]].discard(i)
        self._keys[i] = key
        self._buckets.setdefault(key[0], {}).setdefault(key[1], {}).setdefault(key[2], set()).add(i)

    def candidates(self, mention: Mention) -> list[int]:
        found: list[int] = []
        increased = mention.increased
        suv = _suv_key(mention.suv_max)
        for kind, by_uptake in self._buckets.items():
            if not _kinds_compatible(kind, mention.kind, self._families):
                continue
            for stated, by_suv in by_uptake.items():
                if increased is not None and stated is not None and stated != increased:
                    continue
                if suv is None:
                    for members in by_suv.values():
                        found.extend(members)
                else:  # neighbouring keys too: SUVs within 1e-6 of each other are equal
                    for key in (None, suv - 2, suv - 1, suv, suv + 1, suv + 2):
                        found.extend(by_suv.get(key, ()))
        return found


def _absorb(finding: Finding, mention: Mention) -> None:
    """Fill what the finding lacks from a later mention; the impression's judgement wins."""
    if finding.kind in GENERIC_KINDS and mention.kind not in GENERIC_KINDS:
        finding.kind, finding.type_text = mention.kind, mention.type_text
    same_sites = {s.group for s in mention.sites} <= {s.group for s in finding.sites}
    if mention.location and same_sites and _tokens(finding.location) < _tokens(mention.location):
        finding.location, finding.sites = mention.location, mention.sites or finding.sites
    if not finding.size_text:
        finding.size_text, finding.sizes_mm = mention.size_text, mention.sizes_mm
    if finding.suv_max is None:
        finding.suv_max = mention.suv_max
    if finding.uptake is None:
        finding.uptake = mention.uptake
    if not finding.invasion:
        finding.invasion = mention.invasion
    if mention.judgement and (finding.judgement is None or mention.section == IMPRESSION):
        finding.judgement = mention.judgement
    finding.mentions.append(mention)


def _new_finding(mention: Mention) -> Finding:
    return Finding(
        kind=mention.kind,
        type_text=mention.type_text,
        location=mention.location,
        sites=mention.sites,
        section=mention.section,
        size_text=mention.size_text,
        sizes_mm=mention.sizes_mm,
        suv_max=mention.suv_max,
        uptake=mention.uptake,
        invasion=mention.invasion,
        judgement=mention.judgement,
        mentions=[mention],
    )


def _continue(finding: Finding, mention: Mention) -> None:
    """A "Hạch lớn nhất …" sentence: its size and uptake describe the finding just before.

    When it names where that measured node lies ("… (SUVmax: 4,0) ở trước carina"), that site
    becomes the finding's location, as the expert annotations record it.
    """
    if mention.location:
        finding.location, finding.sites = mention.location, mention.sites or finding.sites
    if mention.size_text:
        finding.size_text, finding.sizes_mm = mention.size_text[:1].upper() + mention.size_text[1:], mention.sizes_mm
    finding.suv_max = mention.suv_max if mention.suv_max is not None else finding.suv_max
    finding.uptake = mention.uptake or finding.uptake
    finding.judgement = finding.judgement or mention.judgement
    finding.mentions.append(mention)


def _threshold(mention: Mention, finding: Finding | None) -> float:
    """Impressions restate findings; a findings sentence restating another needs strong evidence.

    Description sentences name distinct lesions, so one merges into an earlier finding only when
    it repeats it word for word or agrees on SUVmax or an exact size as well as kind and place.
    """
    if mention.section == IMPRESSION:
        return _MERGE_THRESHOLD
    if finding is not None and any(m.text == mention.text for m in finding.mentions):
        return _MERGE_THRESHOLD
    return _FINDINGS_MERGE_THRESHOLD


def _report_sentences(report: Report) -> list[tuple[str, str]]:
    pairs = [(key, s) for key in SECTION_KEYS for s in split_sentences(report.sections.get(key, ""))]
    return pairs + [(IMPRESSION, s) for s in split_sentences(report.impression)]


def analyze_report(report_or_text: Any, lexicon: Lexicon | None = None) -> ReportAnalysis:
    """Read a report (any form `parse_report` accepts) into merged findings and statements."""
    lex = lexicon or load_lexicon()
    report = parse_report(report_or_text)
    findings: list[Finding] = []
    statements: list[Statement] = []
    last: Finding | None = None
    index = _FindingIndex(lex.families)
    position: dict[int, int] = {}  # id(finding) -> its index in `findings`
    for order, (section, sentence) in enumerate(_report_sentences(report)):
        result = analyze_sentence(sentence, section, order, lex)
        # Findings holding a clause of this sentence (only those can hold a mention of this order):
        # tracked here so matching does not rescan every finding's mentions (quadratic in length).
        touched: set[int] = set()
        statements.extend(result.statements)
        if result.recommendation and last is not None and last.judgement is None:
            last.judgement = result.recommendation
        for mention in result.mentions:
            if result.continuation and last is not None:
                _continue(last, mention)
                touched.add(id(last))
                index.put(position[id(last)], last)
                continue
            sizes = set(mention.sizes_mm)
            scored = [
                (_fact_score(findings[i], mention, lex.families), i)
                for i in index.candidates(mention)
                if id(findings[i]) not in touched
                and not (sizes and findings[i].sizes_mm and sizes.isdisjoint(findings[i].sizes_mm))  # a reject
            ]
            best_score, best_index = max(scored, default=(float("-inf"), -1))
            if best_score >= _threshold(mention, findings[best_index] if findings else None):
                last = findings[best_index]
                _absorb(last, mention)
            else:
                last = _new_finding(mention)
                position[id(last)] = len(findings)
                findings.append(last)
            touched.add(id(last))
            index.put(position[id(last)], last)
    return ReportAnalysis(report=report, findings=findings, statements=statements)


def extract_findings(report_or_text: Any, scope: str = "thorax", lexicon: Lexicon | None = None) -> list[Finding]:
    """Merged findings of a report within `scope` ("thorax": the expert test-set scope, "all")."""
    if scope not in SCOPES:
        raise ReportError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
    findings = analyze_report(report_or_text, lexicon).findings
    return [f for f in findings if scope == "all" or f.in_thorax()]


def extract_lesions(report_or_text: Any, scope: str = "thorax", lexicon: Lexicon | None = None) -> list[Lesion]:
    """Every abnormal finding as an expert-format `Lesion` (physiological and negated ones skipped)."""
    return [f.to_lesion() for f in extract_findings(report_or_text, scope, lexicon)]
