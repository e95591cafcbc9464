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
from functools import lru_cache

from vipet.reports.lexicon import Lexicon, Match, Site
from vipet.reports.normalize import parse_number

UPTAKE_KIND = "tăng chuyển hóa"
GENERIC_KINDS = frozenset({"tổn thương", "khối", UPTAKE_KIND})

_SUV = re.compile(r"suvmax: (\d+(?:,\d+)?)")
_VALUE = r"(?:vài|\d+(?:,\d+)?(?: x \d+(?:,\d+)?)*) (?:mm|cm)\b"
_SIZE = re.compile(
    r"(?<!\w)(?P<lead>(?:(?:khối hạch|hạch|nốt|nang|khối|tổn thương|đám|đoạn dày nhất) lớn nhất\s+)?"
    r"(?:có\s+)?(?P<word>kích thước|đường kính|đoạn dài|dài|lớp dịch dày|dày)?\s*"
    r"(?P<qual>(?:nhỏ|khoảng|dưới|trên|trung bình)\s+)?)(?P<value>" + _VALUE + ")"
)
_DIMS = re.compile(r"\d+(?:,\d+)?")
_OPENER = re.compile(
    r"(?<!\w)(?:nhiều khả năng|khả năng|có thể|tương ứng|chưa loại trừ|nghi ngờ|phù hợp|gợi ý|theo dõi|"
    r"do (?:viêm|metastases?|di căn|xơ hóa|u|lao|quá sản|mỡ nâu|phản ứng)|đã được|"
    r"sau (?:phẫu thuật|điều trị|xạ trị|hóa trị)|mức độ|số lượng|lớp dịch)(?!\w)"
)
_LOCATION_WORD = re.compile(r"(?<!\w)(?:ở|tại)\s+")
_POSITIONAL = re.compile(
    r"(?:trước|sau|cạnh|dưới|trên|bên|dọc|quanh|hai|phía|ngoại vi|trung tâm|nhóm|hạch|thùy|hạ phân thùy|"
    r"phân thùy|đỉnh|nền|rốn|cửa sổ|thành|vùng|giữa|chân|thân|cuống|đốt|xương|tại|ở|và|mặt|góc|hố|"
    r"[ivx]+\b|\d)",
)
_LEVEL = re.compile(r"(?:đoạn\s+)?(?:cao|thấp|giữa)$")
_SIDE = re.compile(r"(?:\s+(?:bên\s+)?(?:phải|trái)|\s+(?:hai|2)\s+bên)?")
_SO_VOI = re.compile(r"so với[^,)]*")
_PAREN = re.compile(r"[()]")
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


def lowered(text: str, lex: Lexicon) -> str:
    """Lower case of the same length, with the lexicon's same-length typo fixes applied."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    for wrong, right in lex.typos:
        if len(wrong) == len(right) and wrong in low:
            low = low.replace(wrong, right)
    return low


@lru_cache(maxsize=8192)
def _paren_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Spans of the closed parentheses of a text (cached: every helper of a clause asks for them)."""
    spans, stack = [], []
    for m in _PAREN.finditer(text):
        if m.group(0) == "(":
            stack.append(m.start())
        elif stack:
            spans.append((stack.pop(), m.end()))
    return tuple(spans)


def _mask_comparisons(low: str) -> str:
    """Blank out comparisons with earlier scans, which restate old sizes and SUVs."""
    chars = list(low)
    for a, b in _paren_spans(low):
        inner = low[a:b]
        if "so với" in inner:
            keep = a + 1 + len(_SUV.match(inner[1:]).group(0)) if _SUV.match(inner[1:]) else a + 1
            chars[keep : b - 1] = " " * (b - 1 - keep)
    masked = "".join(chars)
    return _SO_VOI.sub(lambda m: " " * len(m.group(0)), masked)


def _sites_in(low: str, lex: Lexicon, start: int = 0, end: int | None = None) -> list[Match]:
    return list(lex.sites.finditer(low, start, end))


def _pick_sites(matches: list[Match]) -> tuple[Site, ...]:
    strong = [m.value for m in matches if not m.value.weak]
    return tuple(dict.fromkeys(strong or [m.value for m in matches]))


def _depth0(low: str, pos: int) -> bool:
    return all(not (a < pos < b) for a, b in _paren_spans(low))


def _first(positions: list[int], default: int) -> int:
    return min([p for p in positions if p >= 0] or [default])


def _size_text(m: re.Match[str]) -> str:
    lead, word, value = m.group("lead"), m.group("word") or "", m.group("value")
    if "lớn nhất" in lead:
        return " ".join(m.group(0).split())
    if word in ("đường kính", "dài", "đoạn dài", "lớp dịch dày"):
        return " ".join(f"{word} {m.group('qual') or ''}{value}".split())
    return value


def _dims(value: str) -> tuple[float, ...]:
    if value.startswith("vài"):
        return ()
    scale = 10.0 if value.endswith("cm") else 1.0
    return tuple(parse_number(n) * scale for n in _DIMS.findall(value))


def _is_location_segment(segment: str, lex: Lexicon) -> bool:
    seg = segment.strip(" ,;")
    if not seg or lex.uptake.match(seg) or _SIZE.match(seg) or lex.invasion.startswith(seg) or lex.shape.startswith(seg):
        return False
    if _OPENER.match(seg):
        return False
    site = lex.sites.startswith(seg)
    if len(seg.split()) <= 2 and _LEVEL.match(seg):
        return True  # "đoạn cao, thấp": a second level of the same structure
    return site is not None or _POSITIONAL.match(seg) is not None


_BACK_WORDS = frozenset("trước sau cạnh dưới trên dọc bên phải trái quanh phía hai 2 và trong ngoài giữa".split())


def _walk_back(low: str, start: int, floor: int) -> int:
    """Extend a location leftwards over relational words ("trước", "cạnh phải") before its site."""
    while True:
        head = low[floor:start].rstrip()
        word = head.rsplit(" ", 1)[-1] if head else ""
        if not word or word not in _BACK_WORDS:
            return start
        start = floor + len(head) - len(word)


def _trailing_location(low: str, start: int, end: int, lex: Lexicon) -> tuple[int, int] | None:
    """A site named after the head without "ở" ("…(SUVmax: 3,4) cạnh thành chậu trái").

    Sites inside an invasion segment are used only when the clause names no other site.
    """
    candidates: list[tuple[bool, int]] = []
    for a, b in _segments_after(low, start, end):
        seg = low[a:b]
        in_invasion = lex.invasion.search(seg) is not None
        for site in _sites_in(low, lex, a, b):
            if _depth0(low, site.start):
                candidates.append((in_invasion, site.start))
                break
    if not candidates:
        return None
    _, site_start = min(candidates)
    loc_start = _walk_back(low, site_start, start)
    return loc_start, _location_end(low, loc_start, end, lex)


def _location_end(low: str, start: int, end: int, lex: Lexicon) -> int:
    """Where a location that begins at `start` stops: at the next attribute of the clause."""
    stops = [end]
    for pattern in (lex.uptake, _SIZE, _OPENER, _SUV):
        found = pattern.search(low, start, end)
        if found:
            stops.append(found.start())
    stop = min(stops)
    for i in range(start, stop):
        ch = low[i]
        if ch == "," and _depth0(low, i) and not _is_location_segment(low[i + 1 : stop], lex):
            return i
        if ch == "(":
            close = low.find(")", i)
            inner = low[i + 1 : close if close > 0 else stop]
            if close < 0 or any(c.isdigit() for c in inner) or not _sites_in(inner, lex):
                return i
    return stop


def _segments_after(low: str, start: int, end: int) -> list[tuple[int, int]]:
    """Comma-separated segments at parenthesis depth 0 within [start, end)."""
    cuts = [i for i in range(start, end) if low[i] == "," and _depth0(low, i)]
    bounds = [start] + [c + 1 for c in cuts] + [end + 1]
    return [(bounds[k], bounds[k + 1] - 1) for k in range(len(bounds) - 1)]


def _cut_at_attribute(low: str, a: int, b: int, lex: Lexicon) -> int:
    stops = [b]
    for pattern in (lex.uptake, _OPENER, _SUV, _SIZE):
        found = pattern.search(low, a + 1, b)
        if found:
            stops.append(found.start())
    paren = low.find("(", a, b)
    if paren >= 0:
        stops.append(paren)
    return min(stops)


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


def _clean(text: str) -> str:
    text = " ".join(text.split()).strip(" ,;:.-")
    for lead in ("và ", "ở ", "tại "):
        if text.lower().startswith(lead):
            text = text[len(lead) :]
    for tail in (" có", " là", " và"):
        if text.endswith(tail):
            text = text[: -len(tail)]
    return text.strip(" ,;:")


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


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
    uptakes = [m for m in lex.uptake.finditer(low, p0, end)]
    uptake = next((m for m in uptakes if _depth0(low, m.start())), uptakes[0] if uptakes else None)
    suv_match = _SUV.search(low)
    suv = parse_number(suv_match.group(1)) if suv_match else None
    sizes = [m for m in _SIZE.finditer(low, p0, end)]
    loc_word = next((m for m in _LOCATION_WORD.finditer(low, p0, end) if _depth0(low, m.start())), None)
    comma = next((i for i in range(p0, end) if low[i] == "," and _depth0(low, i)), -1)
    head_end = _first(
        [comma, low.find("(", p0, end), loc_word.start() if loc_word else -1, sizes[0].start() if sizes else -1,
         uptake.start() if uptake else -1, (m.start() if (m := _OPENER.search(low, p0, end)) else -1),
         (m.start if (m := lex.invasion.search(low, p0 + 1, end)) else -1)],
        end,
    )
    kinds = [m for m in lex.lesions.finditer(low, p0, head_end) if m.value is not None]
    kind_match = min(kinds, key=lambda m: (m.value.priority, m.start)) if kinds else None
    head = _clean(orig[: head_end])
    kind = kind_match.value.kind if kind_match else None
    type_text = head
    increased_uptake = uptake is not None and not uptake.group("neg") and uptake.group("verb") == "tăng"
    uptake_text = orig[uptake.start() : uptake.end()] if uptake else ""
    if kind is None and default_kind is not None:
        kind, type_text = default_kind, head
    elif kind is None or (kind == "tổn thương" and uptake is not None and not low[head_end : uptake.start()].strip()):
        if not increased_uptake:
            return None
        if kind is None:
            type_text = _capitalize(uptake_text)
        else:
            type_text = _clean(orig[: uptake.end()])
        kind = UPTAKE_KIND
    location, sites = "", ()
    loc_start = loc_end = -1
    if loc_word is not None:
        loc_start = loc_word.end()
        loc_end = _location_end(low, loc_start, end, lex)
        location = _clean(orig[loc_start:loc_end])
        sites = _pick_sites(_sites_in(low, lex, loc_start, loc_end))
    else:
        after_kind = kind_match.end if kind_match else p0
        embedded = _sites_in(low, lex, after_kind, head_end)
        trailing = lex.sites.startswith(low[uptake.end() : end]) if uptake is not None else None
        if embedded and kind != UPTAKE_KIND:
            loc_start = _walk_back(low, embedded[0].start, after_kind)
            loc_end = _location_end(low, loc_start, end, lex)
            location = _clean(orig[loc_start:loc_end])
            type_text = _clean(orig[:loc_start])
            sites = _pick_sites(_sites_in(low, lex, loc_start, loc_end))
        elif kind == UPTAKE_KIND and _sites_in(low, lex, p0, head_end):
            within = _sites_in(low, lex, p0, head_end)
            loc_start, loc_end = within[0].start, head_end
            location, sites = _clean(orig[loc_start:loc_end]), _pick_sites(within)
        elif kind == UPTAKE_KIND and trailing is not None:
            loc_start = uptake.end() + trailing.start
            loc_end = _location_end(low, loc_start, end, lex)
            location = _clean(orig[loc_start:loc_end])
            sites = _pick_sites(_sites_in(low, lex, loc_start, loc_end))
        elif kind_match is not None and (inner := _sites_in(low, lex, kind_match.start, kind_match.end)):
            # The kind names its site ("tràn dịch màng phổi"): like the experts, the location is
            # what follows the kind ("bên trái"), else the site inside it with its side.
            sites = _pick_sites(inner)
            remainder = _clean(orig[kind_match.end : head_end])
            type_text = _clean(orig[: kind_match.end])
            if remainder:
                loc_start, loc_end, location = kind_match.end, head_end, remainder
            else:
                side = _SIDE.match(low, kind_match.end)
                loc_start, loc_end = inner[0].start, side.end() if side else kind_match.end
                location = _clean(orig[loc_start:loc_end])
    if not location:
        fallback = _trailing_location(low, head_end, end, lex)
        if fallback is not None:
            loc_start, loc_end = fallback
            location = _clean(orig[loc_start:loc_end])
            sites = _pick_sites(_sites_in(low, lex, loc_start, loc_end))
    blanked = low[:loc_start] + " " * (loc_end - loc_start) + low[loc_end:] if loc_start >= 0 else low
    judgement = lex.judgement(blanked, head_end, end)
    invasion, shapes = [], []
    extending = False  # an invasion list goes on over plain site segments ("…, xương hàm trên")
    for a, b in _segments_after(low, head_end, end):
        seg = low[a:b]
        lead = len(seg) - len(seg.lstrip())
        cut = _cut_at_attribute(low, a + lead, b, lex)
        if lex.invasion.startswith(seg):
            invasion.append(_clean(orig[a + lead : cut]))
            extending = cut == b
        elif lex.shape.startswith(seg):
            shapes.append(_clean(orig[a + lead : cut]))
            extending = False
        elif extending and cut > a + lead and _is_location_segment(seg, lex):
            invasion[-1] = f"{invasion[-1]}, {_clean(orig[a + lead : cut])}"
            extending = cut == b
        else:
            extending = False
    if shapes:
        type_text = ", ".join([type_text] + shapes)
    return Mention(
        text=orig.strip(),
        section=section,
        order=order,
        kind=kind,
        type_text=_capitalize(type_text),
        location=location,
        sites=sites,
        size_text=" và ".join(_size_text(m) for m in sizes),
        sizes_mm=tuple(d for m in sizes if (d := _dims(m.group("value")))),
        suv_max=suv,
        uptake=_uptake_label(uptake, suv, lex),
        uptake_text=uptake_text,
        invasion=", ".join(i for i in invasion if i),
        judgement=judgement.value if judgement else None,
        shapes=tuple(shapes),
    )
