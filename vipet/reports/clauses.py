"""Read one report sentence into lesion mentions, negative statements and physiological statements.

A finding sentence in these reports is a head ("Hình ảnh khối mờ bờ tua gai") followed by
comma-separated attributes in any order: size, location ("ở …"), uptake ("tăng chuyển hóa FDG
(SUVmax: 8,3)"), invasion ("dính vào …"), shape ("bờ đa cung") and a judgement ("khả năng do
viêm"). Spans are found with the lexicon's matchers, the head is what comes before the first
attribute, and the location runs until the next attribute. A sentence naming two lesions
("… không tăng chuyển hóa FDG và tổn thương dạng thâm nhiễm …") is cut into clauses first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vipet.reports.lexicon import Lexicon, Match, Site
from vipet.reports.normalize import parse_number
from vipet.reports.spans import (
    LOCATION_WORD,
    OPENER,
    SIDE,
    SIZE,
    SUV,
    capitalize,
    clean,
    cut_at_attribute,
    depth0,
    dims_mm,
    is_location_segment,
    location_end,
    pick_sites,
    segments_after,
    size_text,
    sites_in,
    trailing_location,
    walk_back,
)

UPTAKE_KIND = "tăng chuyển hóa"
GENERIC_KINDS = frozenset({"tổn thương", "khối", UPTAKE_KIND})
_LEADING = re.compile(r"[\s,;]*(?:và\s+)?")


@dataclass
class Mention:
    """One lesion as one clause states it; several mentions of one lesion are merged later."""

    text: str
    section: str
    order: int
    kind: str
    type_text: str
    location: str = ""
    sites: tuple[Site, ...] = ()
    size_text: str = ""
    sizes_mm: tuple[tuple[float, ...], ...] = ()
    suv_max: float | None = None
    uptake: str | None = None
    uptake_text: str = ""
    invasion: str = ""
    judgement: str | None = None
    shapes: tuple[str, ...] = ()

    @property
    def increased(self) -> bool | None:
        """True for any increased uptake, False for none or decreased, None when not stated."""
        if self.uptake is None:
            return None
        return self.uptake not in ("Không tăng", "Giảm")


@dataclass
class Statement:
    """A sentence stating an absence ("Không phát hiện …") or physiological uptake, for VQA."""

    text: str
    section: str
    polarity: str  # "negative" | "physiological"
    sites: tuple[Site, ...] = ()
    kinds: tuple[str, ...] = ()


@dataclass
class SentenceResult:
    mentions: list[Mention] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)
    recommendation: str | None = None  # judgement label carried by a follow-up sentence
    continuation: bool = False


def _uptake_label(match: re.Match[str] | None, suv: float | None, lex: Lexicon) -> str | None:
    if match is None:
        return None
    labels = lex.uptake_labels
    if match.group("neg"):
        return labels["not_increased"]
    if match.group("verb") == "giảm":
        return labels["decreased"]
    mods = f"{match.group('pre')} {match.group('post')}"
    mild = "nhẹ" in mods or "ít" in mods
    irregular = "không đều" in mods
    if mild:
        return labels["mild_irregular"] if irregular else labels["mild"]
    if irregular:
        return labels["irregular"]
    return labels["high"] if suv is not None and suv >= lex.high_suvmax else labels["increased"]


@dataclass
class _Located:
    location: str = ""
    sites: tuple[Site, ...] = ()
    start: int = -1
    end: int = -1
    type_text: str | None = None  # set when the location was cut out of the head


def _span(orig: str, low: str, lex: Lexicon, start: int, end: int, type_text: str | None = None) -> _Located:
    return _Located(clean(orig[start:end]), pick_sites(sites_in(low, lex, start, end)), start, end, type_text)


def _locate(
    orig: str, low: str, lex: Lexicon, p0: int, head_end: int, end: int,
    kind: str, kind_match: Match | None, uptake: re.Match[str] | None, loc_word: re.Match[str] | None,
) -> _Located:
    """The clause's location, tried in order of how explicitly the report states it."""
    if loc_word is not None:  # "… ở thùy dưới phổi trái"
        return _span(orig, low, lex, loc_word.end(), location_end(low, loc_word.end(), end, lex))
    after_kind = kind_match.end if kind_match else p0
    embedded = sites_in(low, lex, after_kind, head_end)
    if embedded and kind != UPTAKE_KIND:  # "Hình ảnh hạch rốn phổi phải có kích thước …"
        start = walk_back(low, embedded[0].start, after_kind)
        return _span(orig, low, lex, start, location_end(low, start, end, lex), clean(orig[:start]))
    within = sites_in(low, lex, p0, head_end)
    if kind == UPTAKE_KIND and within:
        return _span(orig, low, lex, within[0].start, head_end)
    trailing = lex.sites.startswith(low[uptake.end() : end]) if uptake is not None else None
    if kind == UPTAKE_KIND and trailing is not None:  # "Hình ảnh tăng chuyển hóa FDG rốn phổi hai bên"
        start = uptake.end() + trailing.start
        return _span(orig, low, lex, start, location_end(low, start, end, lex))
    inner = sites_in(low, lex, kind_match.start, kind_match.end) if kind_match is not None else []
    if inner:
        # The kind names its site ("tràn dịch màng phổi"): like the experts, the location is what
        # follows the kind ("bên trái"), else the site inside the kind with its side.
        type_text = clean(orig[: kind_match.end])
        remainder = clean(orig[kind_match.end : head_end])
        if remainder:
            return _Located(remainder, pick_sites(inner), kind_match.end, head_end, type_text)
        side = SIDE.match(low, kind_match.end)
        stop = side.end() if side else kind_match.end
        return _Located(clean(orig[inner[0].start : stop]), pick_sites(inner), inner[0].start, stop, type_text)
    fallback = trailing_location(low, head_end, end, lex)
    return _span(orig, low, lex, *fallback) if fallback is not None else _Located()


def _invasion_and_shapes(orig: str, low: str, lex: Lexicon, head_end: int, end: int) -> tuple[str, list[str]]:
    """Comma segments after the head that describe invasion ("dính vào …") or shape ("bờ tua gai")."""
    invasion: list[str] = []
    shapes: list[str] = []
    extending = False  # an invasion list goes on over plain site segments ("…, xương hàm trên")
    for a, b in segments_after(low, head_end, end):
        seg = low[a:b]
        lead = len(seg) - len(seg.lstrip())
        cut = cut_at_attribute(low, a + lead, b, lex)
        if lex.invasion.startswith(seg):
            invasion.append(clean(orig[a + lead : cut]))
            extending = cut == b
        elif lex.shape.startswith(seg):
            shapes.append(clean(orig[a + lead : cut]))
            extending = False
        elif extending and cut > a + lead and is_location_segment(seg, lex):
            invasion[-1] = f"{invasion[-1]}, {clean(orig[a + lead : cut])}"
            extending = cut == b
        else:
            extending = False
    return ", ".join(i for i in invasion if i), shapes


def _first(positions: list[int], default: int) -> int:
    return min([p for p in positions if p >= 0] or [default])


def analyze_clause(
    orig: str, low: str, lex: Lexicon, section: str, order: int, default_kind: str | None = None
) -> Mention | None:
    """One clause (original text and its masked lower case, same length) as a mention, or None.

    `default_kind` is the kind of a continuation sentence ("Hạch lớn nhất …"), whose head is its size.
    """
    end = len(low.rstrip(" ."))
    p0 = _LEADING.match(low).end()
    prefix = lex.head_prefix.startswith(low[p0:])
    if prefix is not None:
        p0 += prefix.end
        p0 += len(low[p0:]) - len(low[p0:].lstrip())
    uptakes = list(lex.uptake.finditer(low, p0, end))
    uptake = next((m for m in uptakes if depth0(low, m.start())), uptakes[0] if uptakes else None)
    suv_match = SUV.search(low)
    suv = parse_number(suv_match.group(1)) if suv_match else None
    sizes = list(SIZE.finditer(low, p0, end))
    loc_word = next((m for m in LOCATION_WORD.finditer(low, p0, end) if depth0(low, m.start())), None)
    comma = next((i for i in range(p0, end) if low[i] == "," and depth0(low, i)), -1)
    opener, invasion_cue = OPENER.search(low, p0, end), lex.invasion.search(low, p0 + 1, end)
    head_end = _first(
        [comma, low.find("(", p0, end), loc_word.start() if loc_word else -1, sizes[0].start() if sizes else -1,
         uptake.start() if uptake else -1, opener.start() if opener else -1, invasion_cue.start if invasion_cue else -1],
        end,
    )
    kinds = [m for m in lex.lesions.finditer(low, p0, head_end) if m.value is not None]
    kind_match = min(kinds, key=lambda m: (m.value.priority, m.start)) if kinds else None
    kind = kind_match.value.kind if kind_match else default_kind
    type_text = clean(orig[:head_end])
    uptake_text = orig[uptake.start() : uptake.end()] if uptake else ""
    bare_uptake = kind == "tổn thương" and uptake is not None and not low[head_end : uptake.start()].strip()
    if kind is None or bare_uptake:  # "Hình ảnh (tổn thương) tăng chuyển hóa FDG … ở …"
        if uptake is None or uptake.group("neg") or uptake.group("verb") != "tăng":
            return None
        type_text = capitalize(uptake_text) if kind is None else clean(orig[: uptake.end()])
        kind = UPTAKE_KIND
    located = _locate(orig, low, lex, p0, head_end, end, kind, kind_match, uptake, loc_word)
    if located.type_text is not None:
        type_text = located.type_text
    blanked = low
    if located.start >= 0:
        blanked = low[: located.start] + " " * (located.end - located.start) + low[located.end :]
    judgement = lex.judgement(blanked, head_end, end)
    invasion, shapes = _invasion_and_shapes(orig, low, lex, head_end, end)
    return Mention(
        text=orig.strip(),
        section=section,
        order=order,
        kind=kind,
        type_text=capitalize(", ".join([type_text] + shapes)),
        location=located.location,
        sites=located.sites,
        size_text=" và ".join(size_text(m) for m in sizes),
        sizes_mm=tuple(d for m in sizes if (d := dims_mm(m.group("value")))),
        suv_max=suv,
        uptake=_uptake_label(uptake, suv, lex),
        uptake_text=uptake_text,
        invasion=invasion,
        judgement=judgement.value if judgement else None,
        shapes=tuple(shapes),
    )
