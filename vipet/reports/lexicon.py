"""Load `lexicon.yaml` into compiled matchers, once per process.

The vocabulary lives in a YAML file so that a radiologist can read and extend it without touching
code; this module only turns each phrase list into one regular expression (longest phrase first,
whole words only) and keeps the per-phrase meaning (lesion kind, site group, judgement label).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import yaml

from vipet.errors import ReportError
from vipet.schema import IMAGE_REGIONS, SECTION_REGIONS

LEXICON_PATH = Path(__file__).with_name("lexicon.yaml")
REGIONS: tuple[str, ...] = tuple(SECTION_REGIONS)  # the four report sections' region keys


def phrase_key(text: str) -> str:
    """The lookup form of a phrase: lower case, single spaces (matches are compared this way)."""
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class Match:
    """One phrase found in a text: its span and what the lexicon says it means."""

    start: int
    end: int
    text: str
    value: Any


def _trie_regex(phrases: list[str]) -> str:
    """One regex for many phrases, factored by common prefixes (a character trie).

    Python's `re` tries the branches of an alternation one after the other; with a few hundred
    phrases that dominates extraction time. A trie makes each position fail after one character
    test. Longer continuations are tried before a phrase may end (greedy `?`), so at a given
    start the longest phrase wins, as in a longest-first alternation; spaces match any whitespace.
    """
    trie: dict[str, Any] = {}
    for phrase in phrases:
        node = trie
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [(r"\s+" if ch == " " else re.escape(ch)) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and not ends else "(?:" + "|".join(branches) + ")"
        if ends:
            body = (body if body.startswith("(?:") else "(?:" + body + ")") + "?"
        return body

    return emit(trie)


class PhraseMatcher:
    """Finds whole-word phrases, leftmost then longest, in a lower-cased text.

    One alternation regex sorted by length makes the longest phrase win at each position, which
    is what lets "nốt kính mờ" shadow "nốt" without any ordering rule in the YAML.
    """

    def __init__(self, phrases: dict[str, Any]):
        self.values = {phrase_key(p): v for p, v in phrases.items()}
        body = _trie_regex(list(self.values)) if self.values else r"(?!x)x"
        self.pattern = re.compile(rf"(?<!\w)(?:{body})(?!\w)")

    def finditer(self, lowered: str, start: int = 0, end: int | None = None) -> Iterator[Match]:
        values = self.values
        for m in self.pattern.finditer(lowered, start, len(lowered) if end is None else end):
            text = m.group(0)
            value = values[text] if text in values else values[phrase_key(text)]
            yield Match(m.start(), m.end(), text, value)

    def search(self, lowered: str, start: int = 0, end: int | None = None) -> Match | None:
        return next(self.finditer(lowered, start, end), None)

    def startswith(self, lowered: str) -> Match | None:
        """The phrase the text opens with (after leading spaces), if any."""
        m = self.pattern.match(lowered, len(lowered) - len(lowered.lstrip()))
        return Match(m.start(), m.end(), m.group(0), self.values[phrase_key(m.group(0))]) if m else None


@dataclass(frozen=True)
class Site:
    """An anatomical site: the organ group asked about, its report section, thorax membership."""

    group: str
    region: str
    thorax: bool
    weak: bool


@dataclass(frozen=True)
class LesionKind:
    """A lesion kind; the lower `priority` wins when a finding's head names two kinds."""

    kind: str
    priority: int
    family: str


@dataclass(frozen=True, eq=False)
class Lexicon:
    """Every matcher the report tools use, built from one YAML file."""

    negation: PhraseMatcher
    physiological: PhraseMatcher
    recommendation: PhraseMatcher
    continuation: PhraseMatcher
    head_prefix: PhraseMatcher
    quantifiers: tuple[str, ...]
    lesions: PhraseMatcher  # value: LesionKind, or None for a non-lesion look-alike
    uptake: re.Pattern[str]
    uptake_labels: dict[str, str]
    high_suvmax: float
    judgements: tuple[tuple[str, PhraseMatcher], ...]
    judgement_any: PhraseMatcher
    invasion: PhraseMatcher
    shape: PhraseMatcher
    sites: PhraseMatcher  # value: Site
    section_cues: dict[str, PhraseMatcher]
    synonyms: tuple[tuple[str, ...], ...]
    typos: tuple[tuple[str, str], ...]
    kinds: tuple[str, ...]
    families: dict[str, str]
    bone_regions: PhraseMatcher  # value: the image region a bone or joint lies in
    vertebra_regions: dict[str, str]  # vertebra letter (C, D, T, L, S) -> image region
    side_words: dict[str, str]  # side word -> its mirror
    must_before: tuple[str, ...]  # "cần phải": words that make the next "phải" mean "must"
    must_after: tuple[str, ...]  # "phải là": words after which "phải" means "must"
    source: str

    def judgement(self, lowered: str, start: int = 0, end: int | None = None) -> Match | None:
        """The most specific judgement in a span: first group (YAML order) with a phrase there."""
        for label, matcher in self.judgements:
            found = matcher.search(lowered, start, end)
            if found is not None:
                return Match(found.start, found.end, found.text, label)
        return None


def _uptake_pattern(spec: dict[str, Any]) -> re.Pattern[str]:
    """`[không] tăng|giảm [nhẹ, không đều …] chuyển hóa|hấp thu [FDG] [không đều …]`."""

    def alt(words: list[str]) -> str:
        return "|".join(r"\s+".join(map(re.escape, w.split())) for w in sorted(words, key=len, reverse=True))

    mods = alt(spec["modifiers"])
    return re.compile(
        rf"(?<!\w)(?P<neg>không\s+)?(?P<verb>{alt(spec['verbs'])})"
        rf"(?P<pre>(?:\s*,?\s*(?:{mods}))*)\s+(?P<noun>{alt(spec['nouns'])})(?:\s+fdg)?"
        rf"(?P<post>(?:\s+(?:{mods}))*)(?!\w)"
    )


def _build(raw: dict[str, Any], source: str) -> Lexicon:
    def plain(key: str) -> PhraseMatcher:
        return PhraseMatcher({p: p for p in raw[key]})

    lesion_phrases: dict[str, Any] = {}
    for entry in raw["lesion_types"]:
        kind = LesionKind(entry["kind"], int(entry.get("priority", 2)), entry.get("family", entry["kind"]))
        for phrase in entry["phrases"]:
            lesion_phrases[phrase] = kind
    for phrase in raw.get("non_lesion_phrases", []):
        lesion_phrases[phrase] = None
    site_phrases: dict[str, Site] = {}
    for entry in raw["sites"]:
        site = Site(entry["group"], entry["region"], bool(entry.get("thorax", False)), bool(entry.get("weak", False)))
        if site.region not in REGIONS:
            raise ReportError(f"site group {site.group!r} has unknown region {site.region!r}", source)
        for phrase in entry["phrases"]:
            site_phrases[phrase] = site
    bone_phrases: dict[str, str] = {}
    for region, phrases in raw["bone_regions"].items():
        if region not in IMAGE_REGIONS:
            raise ReportError(f"bone_regions has unknown image region {region!r}", source)
        bone_phrases.update({p: region for p in phrases})
    vertebra_regions = {str(k): str(v) for k, v in raw["vertebra_regions"].items()}
    if bad := sorted(set(vertebra_regions.values()) - set(IMAGE_REGIONS)):
        raise ReportError(f"vertebra_regions has unknown image region(s) {bad}", source)
    judgements = tuple((g["label"], PhraseMatcher({p: g["label"] for p in g["phrases"]})) for g in raw["judgements"])
    all_judgement_phrases = {p: g["label"] for g in raw["judgements"] for p in g["phrases"]}
    return Lexicon(
        negation=plain("negation_cues"),
        physiological=plain("physiological_cues"),
        recommendation=plain("recommendation_starts"),
        continuation=plain("continuation_starts"),
        head_prefix=plain("head_prefixes"),
        quantifiers=tuple(raw["quantifiers"]),
        lesions=PhraseMatcher(lesion_phrases),
        uptake=_uptake_pattern(raw["uptake"]),
        uptake_labels=dict(raw["uptake"]["labels"]),
        high_suvmax=float(raw["uptake"]["high_suvmax"]),
        judgements=judgements,
        judgement_any=PhraseMatcher(all_judgement_phrases),
        invasion=plain("invasion_cues"),
        shape=plain("shape_cues"),
        sites=PhraseMatcher(site_phrases),
        section_cues={k: PhraseMatcher({p: k for p in v}) for k, v in raw["section_cues"].items()},
        synonyms=tuple(tuple(group) for group in raw["synonyms"]),
        typos=tuple((k, v) for k, v in raw["typos"].items()),
        kinds=tuple(dict.fromkeys(e["kind"] for e in raw["lesion_types"])),
        families={e["kind"]: e.get("family", e["kind"]) for e in raw["lesion_types"]},
        bone_regions=PhraseMatcher(bone_phrases),
        vertebra_regions=vertebra_regions,
        side_words={str(k): str(v) for k, v in raw["side_words"].items()},
        must_before=tuple(raw["must_before"]),
        must_after=tuple(raw["must_after"]),
        source=source,
    )


@lru_cache(maxsize=4)
def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """The lexicon at `path` (default: the one shipped in the package), compiled once and cached."""
    path = Path(path) if path is not None else LEXICON_PATH
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError("lexicon file not found", path) from None
    except yaml.YAMLError as exc:
        raise ReportError(f"lexicon is not valid YAML: {exc}", path) from None
    required = ("negation_cues", "physiological_cues", "lesion_types", "uptake", "judgements", "sites",
                "bone_regions", "vertebra_regions", "side_words", "must_before", "must_after")
    missing = [k for k in required if k not in (raw or {})]
    if missing:
        raise ReportError(f"lexicon lacks section(s) {', '.join(missing)}", path)
    try:
        return _build(raw, str(path))
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"lexicon entry malformed ({exc.__class__.__name__}: {exc})", path) from None
