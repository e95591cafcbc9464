"""One sentence at a time: decide what it is (finding, absence, physiological, follow-up advice,
continuation of the previous finding) and cut a sentence naming several lesions into clauses.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from vipet.reports.clauses import GENERIC_KINDS, UPTAKE_KIND, Mention, SentenceResult, Statement, analyze_clause
from vipet.reports.lexicon import Lexicon, Match
from vipet.reports.spans import SIZE, lowered, mask_comparisons, paren_spans, pick_sites

_SEPARATOR = re.compile(r"(?:,\s*và\s+|,\s*|\s+và\s+)$")
_WHOLE_NEGATION_WITHIN = 12  # a cue this close to the start negates the whole sentence


_AT = re.compile(r"(?<!\w)(?:ở|tại)\s")


def _cut_candidates(low: str, lex: Lexicon) -> list[Match]:
    """Lesion words, and uptake phrases joined by "và", in text order."""
    found = [m for m in lex.lesions.finditer(low) if m.value is not None]
    found += [Match(m.start(), m.end(), m.group(0), UPTAKE_KIND) for m in lex.uptake.finditer(low) if not m.group("neg")]
    return sorted(found, key=lambda m: m.start)


def _clause_cuts(low: str, lex: Lexicon) -> list[int]:
    """Positions where a second lesion starts ("…, không tăng chuyển hóa FDG và tổn thương …").

    A coordinated lesion word starts a new clause only when the clause before it is complete:
    it already has its own uptake or size, or it has a location and the new word is another kind.
    That keeps "dải mờ và nốt mờ ở …" and "vài hạch ở trước carina và hạch cạnh phế quản …" whole,
    as the expert annotations do.
    """
    spans = paren_spans(low)
    quantifier = "|".join(re.escape(q) for q in sorted(lex.quantifiers, key=len, reverse=True))
    lead = re.compile(rf"(?:(?:hình ảnh)\s+)?(?:(?:{quantifier})\s+)?$")
    cuts: list[int] = []
    last = 0
    for match in _cut_candidates(low, lex):
        if any(a < match.start < b for a, b in spans):
            continue
        if low[match.end :].lstrip().startswith("lớn nhất"):
            continue
        if match.value is UPTAKE_KIND:
            # "vài hạch ở …, trước khí quản và tăng chuyển hóa FDG … ở rốn phổi": a second finding
            # only when both parts have their own location.
            left = low[last : match.start]
            joined = re.search(r"\s+và\s+$", left)
            if joined and lex.lesions.search(left) and _AT.search(left) and _AT.search(low, match.end):
                cuts.append(last + joined.start())
                last = last + joined.start()
            continue
        if lex.shape.startswith(low[match.start :]):
            continue  # "…, vôi hóa, không tăng …" describes the lesion before it
        before = low[last : match.start]
        quant = lead.search(before)
        sep = _SEPARATOR.search(before[: quant.start()]) if quant else None
        if sep is None or sep.start() == 0:
            continue
        left = low[last : last + sep.start()]
        left_kinds = {m.value.kind for m in lex.lesions.finditer(left) if m.value is not None}
        complete = lex.uptake.search(left) is not None or SIZE.search(left) is not None
        other_kind = (
            match.value.kind not in left_kinds
            and match.value.kind not in GENERIC_KINDS
            and re.search(r"(?<!\w)(?:ở|tại)\s", left) is not None
        )
        if left_kinds and (complete or other_kind):
            cut = last + sep.start()
            cuts.append(cut)
            last = cut
    return cuts


def _with_fixes(sentence: str, fixed_lower: str) -> str:
    """The sentence with the lexicon's typo fixes (found in its lower case) applied, case kept."""
    if fixed_lower == sentence.lower():
        return sentence
    return "".join(
        (f.upper() if o.isupper() else f) if o.lower() != f else o for o, f in zip(sentence, fixed_lower)
    )


def _share_with_left(mentions: list[Mention]) -> None:
    """Coordinated clauses share what only the last one states (uptake, judgement, location)."""
    for i in range(len(mentions) - 2, -1, -1):
        left, right = mentions[i], mentions[i + 1]
        if left.uptake is None and right.uptake is not None and right.kind != UPTAKE_KIND:
            left.uptake, left.uptake_text = right.uptake, right.uptake_text
            if left.suv_max is None:
                left.suv_max = right.suv_max
        if left.judgement is None:
            left.judgement = right.judgement
        if not left.location and right.location:
            left.location, left.sites = right.location, right.sites


def analyze_sentence(sentence: str, section: str, order: int, lex: Lexicon) -> SentenceResult:
    """Everything one sentence says, as mentions and statements (see `SentenceResult`).

    Reports are templated (the same sentence recurs across thousands of studies), so the reading
    of a (sentence, section) pair is cached and only the clause order is stamped per call.
    """
    cached = _analyze_cached(sentence, section, lex)
    return SentenceResult(
        mentions=[replace(m, order=order) for m in cached.mentions],
        statements=list(cached.statements),
        recommendation=cached.recommendation,
        continuation=cached.continuation,
    )


@lru_cache(maxsize=65536)
def _analyze_cached(sentence: str, section: str, lex: Lexicon) -> SentenceResult:
    return _analyze(sentence, section, 0, lex)


def _analyze(sentence: str, section: str, order: int, lex: Lexicon) -> SentenceResult:
    result = SentenceResult()
    fixed = lowered(sentence, lex)
    sentence = _with_fixes(sentence, fixed)
    low = mask_comparisons(fixed)
    if lex.physiological.search(low):
        sites = pick_sites(list(lex.sites.finditer(low)))
        result.statements.append(Statement(sentence, section, "physiological", sites))
        return result
    negation = lex.negation.search(low)
    if negation is not None:
        rest = low[negation.start :]
        kinds = [m.value.kind for m in lex.lesions.finditer(rest) if m.value is not None]
        if lex.uptake.search(rest):
            kinds.append(UPTAKE_KIND)
        sites = pick_sites(list(lex.sites.finditer(rest)))
        result.statements.append(
            Statement(sentence[negation.start :], section, "negative", sites, tuple(dict.fromkeys(kinds)))
        )
        if negation.start <= _WHOLE_NEGATION_WITHIN:
            return result
        sentence, low = sentence[: negation.start], low[: negation.start]
    if lex.recommendation.startswith(low):
        found = lex.judgement(low)
        result.recommendation = found.value if found else None
        return result
    continuation = lex.continuation.startswith(low)
    result.continuation = continuation is not None
    default_kind = None
    if continuation is not None:
        kinds = [m.value.kind for m in lex.lesions.finditer(continuation.text) if m.value is not None]
        default_kind = kinds[0] if kinds else None
    bounds = [0] + _clause_cuts(low, lex) + [len(low)]
    for k in range(len(bounds) - 1):
        a, b = bounds[k], bounds[k + 1]
        mention = analyze_clause(sentence[a:b], low[a:b], lex, section, order, default_kind)
        if mention is not None:
            result.mentions.append(mention)
    _share_with_left(result.mentions)
    return result
