"""Recover the four region sections and the impression from plain joined report text.

The published texts are the ViMed-PET sections joined head to feet, then the impression. Each
sentence votes for a section from the anatomical sites it names (lexicon `sites`); the impression
is voted for by restatements of an earlier finding, by the whole-body closing sentence and by
judgements. The best monotone cut (head_neck ≤ chest ≤ abdomen_pelvis ≤ musculoskeletal ≤
impression) is found by dynamic programming, so one odd sentence cannot scramble the order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from vipet.reports.spans import SIZE, SUV, lowered
from vipet.reports.lexicon import REGIONS, Lexicon, load_lexicon
from vipet.reports.segment import split_sentences
from vipet.schema import SECTION_KEYS, Report

IMPRESSION = "impression"
STATES: tuple[str, ...] = REGIONS + (IMPRESSION,)
REGION_TO_SECTION: dict[str, str] = dict(zip(REGIONS, SECTION_KEYS))
SECTION_TO_REGION: dict[str, str] = {v: k for k, v in REGION_TO_SECTION.items()}

_TOKENS = re.compile(r"\w+")
_RESTATEMENT_JACCARD = 0.6
_ORDER_BIAS = 1e-3  # ties go to the earlier section, i.e. a boundary as late as possible


@dataclass
class _Features:
    tokens: frozenset[str]
    groups: frozenset[str]
    votes: dict[str, float]
    has_suv: bool
    dims: frozenset[str]
    lesion_like: bool


@lru_cache(maxsize=65536)
def _features(sentence: str, lex: Lexicon) -> _Features:
    low = lowered(sentence, lex)
    sites = [m.value for m in lex.sites.finditer(low)]
    votes = {r: 0.0 for r in REGIONS}
    for site in sites:
        votes[site.region] += 1.0
    total = sum(votes.values())
    if total:
        votes = {r: 2.0 * v / total for r, v in votes.items()}
    if lex.section_cues["musculoskeletal"].search(low):
        votes["musculoskeletal"] += 1.0
    lesion_like = lex.uptake.search(low) is not None or any(m.value for m in lex.lesions.finditer(low))
    dims = frozenset(m.group("value") for m in SIZE.finditer(low) if " x " in m.group("value"))
    return _Features(
        frozenset(_TOKENS.findall(low)), frozenset(s.group for s in sites), votes, bool(SUV.search(low)), dims, lesion_like
    )


class _Restatements:
    """The lesion-like sentences seen so far, indexed so that "does this sentence repeat an earlier
    finding (as impressions do)?" costs the same for the last sentence of a long text as for the first.

    A sentence restates an earlier one when their token sets are equal, or, when it states no SUV and
    shares a site group with it, when they share an exact size, or when they name the same site groups
    and their tokens overlap by a Jaccard index of at least 0.6.
    """

    def __init__(self) -> None:
        self._token_sets: set[frozenset[str]] = set()
        self._dims_by_group: set[tuple[str, str]] = set()
        self._tokens_by_groups: dict[frozenset[str], set[frozenset[str]]] = {}

    def add(self, past: _Features) -> None:
        if not past.lesion_like:
            return
        self._token_sets.add(past.tokens)
        self._dims_by_group.update((d, g) for d in past.dims for g in past.groups)
        self._tokens_by_groups.setdefault(past.groups, set()).add(past.tokens)

    def restates(self, current: _Features) -> bool:
        if not current.lesion_like or len(current.tokens) < 6:
            return False
        if current.tokens in self._token_sets:
            return True
        if current.has_suv or not current.groups:
            return False
        if any((d, g) in self._dims_by_group for d in current.dims for g in current.groups):
            return True
        return any(
            len(current.tokens & tokens) / len(current.tokens | tokens) >= _RESTATEMENT_JACCARD
            for tokens in self._tokens_by_groups.get(current.groups, ())
        )


def _scores(sentences: list[str], lex: Lexicon) -> list[list[float]]:
    feats = [_features(s, lex) for s in sentences]
    seen = _Restatements()
    table: list[list[float]] = []
    for sentence, f in zip(sentences, feats):
        low = lowered(sentence, lex)
        row = [f.votes[r] for r in REGIONS]
        impression = 0.25 * sum(f.votes[r] for r in REGIONS[:3])
        if seen.restates(f):
            impression += 3.0
        seen.add(f)
        if lex.section_cues[IMPRESSION].search(low):
            impression += 3.0
        if lex.judgement_any.search(low):
            impression += 0.5
        if f.has_suv:
            impression -= 1.0
        row.append(impression)
        table.append([v - _ORDER_BIAS * k for k, v in enumerate(row)])
    return table


def assign_sections(sentences: list[str], lex: Lexicon | None = None) -> list[str]:
    """The state (region name or "impression") of each sentence, monotone head to feet then impression."""
    lex = lex or load_lexicon()
    if not sentences:
        return []
    table = _scores(sentences, lex)
    n, k = len(sentences), len(STATES)
    best = [table[0][:]]
    back: list[list[int]] = [[s for s in range(k)]]
    for i in range(1, n):
        row, arg = [], []
        run_best, run_arg = float("-inf"), 0
        for s in range(k):
            if best[i - 1][s] > run_best:
                run_best, run_arg = best[i - 1][s], s
            row.append(table[i][s] + run_best)
            arg.append(run_arg)
        best.append(row)
        back.append(arg)
    state = max(range(k), key=lambda s: best[-1][s])
    path = [state]
    for i in range(n - 1, 0, -1):
        state = back[i][state]
        path.append(state)
    return [STATES[s] for s in reversed(path)]


def recover_sections(text: str, lex: Lexicon | None = None) -> Report:
    """A `Report` from normalised plain text, sections and impression recovered."""
    sentences = split_sentences(text)
    states = assign_sections(sentences, lex)
    parts: dict[str, list[str]] = {s: [] for s in STATES}
    for sentence, state in zip(sentences, states):
        parts[state].append(sentence)
    sections = {REGION_TO_SECTION[r]: " ".join(parts[r]) for r in REGIONS}
    return Report(sections=sections, impression=" ".join(parts[IMPRESSION]))
