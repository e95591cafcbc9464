"""Where each attribute of a report clause starts and stops (sizes, SUVmax, locations, parentheses).

Every function takes the clause's lower case (same length as the original, typos fixed,
comparisons with earlier scans blanked) and returns positions, so the caller can cut the
original-case text at the same places.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

from vipet.reports.lexicon import Lexicon, Match, Site
from vipet.reports.normalize import parse_number
from vipet.reports.segment import inside_any

SUV = re.compile(r"suvmax: (\d+(?:,\d+)?)")
_VALUE = r"(?:vài|\d+(?:,\d+)?(?: x \d+(?:,\d+)?)*) (?:mm|cm)\b"
# `(?!(?<=\s\s)\s)`: a match never starts deeper than the second blank of a whitespace run (one
# starting there would start at the second blank too), so the blank runs left by
# `mask_comparisons` are scanned once, not once per blank (that was quadratic in their length).
SIZE = re.compile(
    r"(?<!\w)(?!(?<=\s\s)\s)(?P<lead>(?:(?:khối hạch|hạch|nốt|nang|khối|tổn thương|đám|đoạn dày nhất) lớn nhất\s+)?"
    r"(?:có\s+)?(?P<word>kích thước|đường kính|đoạn dài|dài|lớp dịch dày|dày)?\s*"
    r"(?P<qual>(?:nhỏ|khoảng|dưới|trên|trung bình)\s+)?)(?P<value>" + _VALUE + ")"
)
# Words that open a judgement, a follow-up or an amount: a location never runs past them.
OPENER = re.compile(
    r"(?<!\w)(?:nhiều khả năng|khả năng|có thể|tương ứng|chưa loại trừ|nghi ngờ|phù hợp|gợi ý|theo dõi|"
    r"do (?:viêm|metastases?|di căn|xơ hóa|u|lao|quá sản|mỡ nâu|phản ứng)|đã được|"
    r"sau (?:phẫu thuật|điều trị|xạ trị|hóa trị)|mức độ|số lượng|lớp dịch)(?!\w)"
)
LOCATION_WORD = re.compile(r"(?<!\w)(?:ở|tại)\s+")
SIDE = re.compile(r"(?:\s+(?:bên\s+)?(?:phải|trái)|\s+(?:hai|2)\s+bên)?")
_DIMS = re.compile(r"\d+(?:,\d+)?")
_POSITIONAL = re.compile(
    r"(?:trước|sau|cạnh|dưới|trên|bên|dọc|quanh|hai|phía|ngoại vi|trung tâm|nhóm|hạch|thùy|hạ phân thùy|"
    r"phân thùy|đỉnh|nền|rốn|cửa sổ|thành|vùng|giữa|chân|thân|cuống|đốt|xương|tại|ở|và|mặt|góc|hố|"
    r"[ivx]+\b|\d)",
)
_LEVEL = re.compile(r"(?:đoạn\s+)?(?:cao|thấp|giữa)$")
_SO_VOI = re.compile(r"so với[^,)]*")
_PAREN = re.compile(r"[()]")
_BACK_WORDS = frozenset("trước sau cạnh dưới trên dọc bên phải trái quanh phía hai 2 và trong ngoài giữa".split())


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
def paren_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Spans of the closed parentheses of a text (cached: every helper of a clause asks for them)."""
    spans, stack = [], []
    for m in _PAREN.finditer(text):
        if m.group(0) == "(":
            stack.append(m.start())
        elif stack:
            spans.append((stack.pop(), m.end()))
    return tuple(spans)


@lru_cache(maxsize=8192)
def _inside_parens(text: str) -> Callable[[int], bool]:
    return inside_any(paren_spans(text))


def depth0(low: str, pos: int) -> bool:
    """Is `pos` outside every parenthesis?"""
    return not _inside_parens(low)(pos)


def mask_comparisons(low: str) -> str:
    """Blank out comparisons with earlier scans, which restate old sizes and SUVs."""
    chars = list(low)
    for a, b in paren_spans(low):
        inner = low[a:b]
        if "so với" in inner:
            suv = SUV.match(inner[1:])
            keep = a + 1 + (len(suv.group(0)) if suv else 0)
            chars[keep : b - 1] = " " * (b - 1 - keep)
    return _SO_VOI.sub(lambda m: " " * len(m.group(0)), "".join(chars))


def sites_in(low: str, lex: Lexicon, start: int = 0, end: int | None = None) -> list[Match]:
    return list(lex.sites.finditer(low, start, end))


def pick_sites(matches: list[Match]) -> tuple[Site, ...]:
    """Distinct sites named, weak ones ("thùy trên") only when nothing stronger is named."""
    strong = [m.value for m in matches if not m.value.weak]
    return tuple(dict.fromkeys(strong or [m.value for m in matches]))


def size_text(m: re.Match[str]) -> str:
    """A size phrase the way the experts write it ("43 x 39 mm", "đường kính 9 mm", "hạch lớn nhất …")."""
    lead, word, value = m.group("lead"), m.group("word") or "", m.group("value")
    if "lớn nhất" in lead:
        return " ".join(m.group(0).split())
    if word in ("đường kính", "dài", "đoạn dài", "lớp dịch dày"):
        return " ".join(f"{word} {m.group('qual') or ''}{value}".split())
    return value


def dims_mm(value: str) -> tuple[float, ...]:
    """The dimensions of a size value in millimetres; none for "vài mm"."""
    if value.startswith("vài"):
        return ()
    scale = 10.0 if value.endswith("cm") else 1.0
    return tuple(parse_number(n) * scale for n in _DIMS.findall(value))


def is_location_segment(segment: str, lex: Lexicon) -> bool:
    """Does a comma segment go on listing sites (rather than start an attribute)?"""
    seg = segment.strip(" ,;")
    if not seg or lex.uptake.match(seg) or SIZE.match(seg) or lex.invasion.startswith(seg) or lex.shape.startswith(seg):
        return False
    if OPENER.match(seg):
        return False
    if len(seg.split()) <= 2 and _LEVEL.match(seg):
        return True  # "đoạn cao, thấp": a second level of the same structure
    return lex.sites.startswith(seg) is not None or _POSITIONAL.match(seg) is not None


def walk_back(low: str, start: int, floor: int) -> int:
    """Extend a location leftwards over relational words ("trước", "cạnh phải") before its site."""
    while True:
        head = low[floor:start].rstrip()
        word = head.rsplit(" ", 1)[-1] if head else ""
        if not word or word not in _BACK_WORDS:
            return start
        start = floor + len(head) - len(word)


def location_end(low: str, start: int, end: int, lex: Lexicon) -> int:
    """Where a location that begins at `start` stops: at the next attribute of the clause."""
    stops = [end]
    for pattern in (lex.uptake, SIZE, OPENER, SUV):
        found = pattern.search(low, start, end)
        if found:
            stops.append(found.start())
    stop = min(stops)
    for i in range(start, stop):
        ch = low[i]
        if ch == "," and depth0(low, i) and not is_location_segment(low[i + 1 : stop], lex):
            return i
        if ch == "(":
            close = low.find(")", i)
            inner = low[i + 1 : close if close > 0 else stop]
            if close < 0 or any(c.isdigit() for c in inner) or not sites_in(inner, lex):
                return i
    return stop


def segments_after(low: str, start: int, end: int) -> list[tuple[int, int]]:
    """Comma-separated segments at parenthesis depth 0 within [start, end)."""
    cuts = [i for i in range(start, end) if low[i] == "," and depth0(low, i)]
    bounds = [start] + [c + 1 for c in cuts] + [end + 1]
    return [(bounds[k], bounds[k + 1] - 1) for k in range(len(bounds) - 1)]


def trailing_location(low: str, start: int, end: int, lex: Lexicon) -> tuple[int, int] | None:
    """A site named after the head without "ở" ("…(SUVmax: 3,4) cạnh thành chậu trái").

    Sites inside an invasion segment are used only when the clause names no other site.
    """
    candidates: list[tuple[bool, int]] = []
    for a, b in segments_after(low, start, end):
        in_invasion = lex.invasion.search(low[a:b]) is not None
        for site in sites_in(low, lex, a, b):
            if depth0(low, site.start):
                candidates.append((in_invasion, site.start))
                break
    if not candidates:
        return None
    _, site_start = min(candidates)
    loc_start = walk_back(low, site_start, start)
    return loc_start, location_end(low, loc_start, end, lex)


def cut_at_attribute(low: str, a: int, b: int, lex: Lexicon) -> int:
    """End of a free-text segment (invasion, shape): before the next uptake, judgement, SUV or size."""
    stops = [b]
    for pattern in (lex.uptake, OPENER, SUV, SIZE):
        found = pattern.search(low, a + 1, b)
        if found:
            stops.append(found.start())
    paren = low.find("(", a, b)
    if paren >= 0:
        stops.append(paren)
    return min(stops)


def clean(text: str) -> str:
    """A cut piece of text without dangling punctuation, "ở"/"và" leads or "có"/"là"/"và" tails."""
    text = " ".join(text.split()).strip(" ,;:.-")
    for lead in ("và ", "ở ", "tại "):
        if text.lower().startswith(lead):
            text = text[len(lead) :]
    for tail in (" có", " là", " và"):
        if text.endswith(tail):
            text = text[: -len(tail)]
    return text.strip(" ,;:")


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]
