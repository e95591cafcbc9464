"""Vietnamese report text and metadata de-identification: identifiers out, clinical content untouched.

A report may carry the patient's name (`BN NGUYỄN VĂN A`, `Họ tên: Tran Thi B`), the reading
doctor (`ThS.BS Lê Văn C`), ids (patient, CMND/CCCD, BHYT card), phone numbers, dates in every
common form, an address and the hospital. Each is found by its shape and replaced by a typed
surrogate (`[TÊN]`, `[SĐT]`, `[ĐỊA CHỈ]`, `[MÃ]`, `[BỆNH VIỆN]`); dates move by the patient's
whole-day offset (`DeidKeys.day_offset`) in the form they were written (`deid_dates`), so a prior
study ("so với hình ảnh PET/CT 9/2018") stays comparable, or become `[NGÀY]` without an offset.
The word lists (family names, cues, address units, provinces) are data: `deid_text_patterns.yaml`.

Everything else is left byte for byte: the shapes are chosen so that sizes (`2,5 x 3 cm`),
SUVmax values, vertebra levels (`D8`, `L3`), node stations (`4R`, `nhóm IIB`), fractions of an
organ (`thực quản 1/3 giữa`) and lower-case clinical words never match (names must be
capitalised; `số` followed by a number counts as an address only beside another address part,
because `xương sườn số 5` is anatomy). Matching of cue words ignores case and diacritics, on a
length-preserving folded copy of the text, so spans map back exactly.

Only kinds and counts leave this module (`TextDeidResult.counts`), never the values found.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Iterable

import yaml

from vipet.interop.deid_dates import find_dates

NAME, DATE, PHONE, ADDRESS, ID, HOSPITAL = "name", "date", "phone", "address", "id", "hospital"
KINDS = (NAME, DATE, PHONE, ADDRESS, ID, HOSPITAL)
SURROGATES = {NAME: "[TÊN]", DATE: "[NGÀY]", PHONE: "[SĐT]", ADDRESS: "[ĐỊA CHỈ]", ID: "[MÃ]", HOSPITAL: "[BỆNH VIỆN]"}
MAX_NAME_SYLLABLES = 5


@dataclass
class TextDeidResult:
    """The cleaned text and how many spans of each kind were replaced (never what they were)."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: str
    replacement: str


def fold(text: str) -> str:
    """Lower case without diacritics, one character per character (`Nguyễn` -> `nguyen`, `Đ` -> `d`)."""
    out = []
    for ch in text:
        if ch in "đĐ":
            out.append("d")
            continue
        base = unicodedata.normalize("NFD", ch)[0]
        low = base.lower()
        out.append(low if len(low) == 1 else base)
    return "".join(out)


@lru_cache(maxsize=1)
def _patterns() -> dict:
    text = resources.files("vipet.interop").joinpath("deid_text_patterns.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _folded_alternation(words: Iterable[str]) -> str:
    """One regex over folded text for a list of phrases (longest first, spaces as any whitespace)."""
    folded = sorted({fold(w) for w in words}, key=len, reverse=True)
    return "|".join(r"\s+".join(re.escape(part) for part in w.split()) for w in folded)


@lru_cache(maxsize=1)
def _compiled() -> dict[str, object]:
    p = _patterns()
    titles = sorted(set(p["name_titles"]), key=len, reverse=True)
    title_alt = "|".join(r"\s?".join(re.escape(part) for part in t.split()) for t in titles)
    exact = {key: {_lower(w) for w in p[key]} for key in ("name_cues", "address_units", "address_cues", "provinces",
                                                      "hospital_cues", "hospital_inner_words", "id_cues", "phone_cues")}
    return {
        "exact": exact,
        "name_cue": re.compile(rf"(?<!\w)(?:{_folded_alternation(p['name_cues'])})(?!\w)"),
        "name_title": re.compile(rf"(?<!\w)(?:{title_alt})(?=[\s.:,])\.?"),
        "surnames": {fold(s) for s in p["surnames"]},
        "not_name": {fold(w) for w in p["not_name_words"]},
        "address_unit": re.compile(rf"(?<!\w)(?:{_folded_alternation(u for u in p['address_units'] if not _abbrev(u))})(?!\w)"),
        "address_abbrev": re.compile(rf"(?<![\w.])(?:{'|'.join(re.escape(u) for u in sorted((u for u in p['address_units'] if _abbrev(u)), key=len, reverse=True))})"),
        "address_cue": re.compile(rf"(?<!\w)(?:{_folded_alternation(p['address_cues'])})(?!\w)\s*[:\-]?\s*"),
        "province": re.compile(rf"(?<!\w)(?:{_folded_alternation(p['provinces'])})(?!\w)"),
        "hospital_cue": re.compile(rf"(?<!\w)(?:{_folded_alternation(c for c in p['hospital_cues'] if c not in ('BV', 'BV.'))})(?!\w)"),
        "hospital_inner": re.compile(rf"(?:{_folded_alternation(p['hospital_inner_words'])})(?!\w)"),
        "id_cue": re.compile(rf"(?<!\w)(?:{_folded_alternation(p['id_cues'])})(?!\w)"),
        "phone_cue": re.compile(rf"(?<!\w)(?:{_folded_alternation(p['phone_cues'])})(?!\w)"),
    }


def _lower(text: str) -> str:
    """Lower case, one character per character, whitespace runs as one space (for exact cue checks)."""
    return re.sub(r"\s+", " ", "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text))


def _cues(name: str, words: str, text: str, folded: str) -> list[tuple[int, int, bool]]:
    """(start, end, written_without_diacritics) of each cue word: found on the folded text, kept only
    when written exactly (any case) or wholly without diacritics, so `quản` never reads as `quận`."""
    exact = _compiled()["exact"][words]
    found = []
    for match in _compiled()[name].finditer(folded):
        written = text[match.start():match.end()]
        if _lower(written).strip() in exact or _lower(written.rstrip(" :-\t")) in exact:
            found.append((match.start(), match.end(), False))
        elif written.isascii():
            found.append((match.start(), match.end(), True))
    return found


def _abbrev(unit: str) -> bool:
    """Short upper-case unit forms (`TP.`, `P.`, `Q.`) are matched as written, never folded."""
    return unit[:1].isupper()


# ---- span finders --------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W\d_]+")
_NAME_GAP = re.compile(r"[ \t]+")


def _name_run(text: str, folded: str, start: int, stop_words: set[str]) -> tuple[int, int, int]:
    """(start, end, syllables) of the run of capitalised syllables beginning at `start` (skipping `: `)."""
    lead = re.compile(r"[ \t]*[:\-–]?[ \t]*").match(text, start)
    pos = lead.end() if lead else start
    first, end, count = pos, pos, 0
    while count < MAX_NAME_SYLLABLES:
        token = _TOKEN.match(text, pos)
        if token is None or not token.group()[0].isupper() or folded[token.start():token.end()] in stop_words:
            break
        after = token.end()
        if after < len(text) and (text[after].isdigit() or text[after] in "_/"):
            break  # `D8`, `T12`, `PET/CT`: a code, not a syllable
        end, count = after, count + 1
        gap = _NAME_GAP.match(text, after)
        if gap is None:
            break
        pos = gap.end()
    return first, end, count


def _cued_names(text: str, folded: str) -> list[_Span]:
    """Capitalised syllables after a cue (`BN`, `Họ tên:`, `ThS.BS`): the strongest evidence of a name."""
    compiled = _compiled()
    cues = [end for _, end, _ in _cues("name_cue", "name_cues", text, folded)]
    cues += [m.end() for m in compiled["name_title"].finditer(text)]
    spans = []
    for cue_end in cues:
        first, end, count = _name_run(text, folded, cue_end, compiled["not_name"])
        if count:
            spans.append(_Span(first, end, NAME, SURROGATES[NAME]))
    return spans


def _surname_names(text: str, folded: str) -> list[_Span]:
    """Three or more capitalised syllables starting with a common family name (`Trần Thị Lan`)."""
    compiled = _compiled()
    spans = []
    for token in _TOKEN.finditer(text):
        if token.group()[0].isupper() and folded[token.start():token.end()] in compiled["surnames"]:
            first, end, count = _name_run(text, folded, token.start(), compiled["not_name"] - compiled["surnames"])
            if count >= 3:
                spans.append(_Span(first, end, NAME, SURROGATES[NAME]))
    return spans


def _dates(text: str, folded: str, offset: int | None) -> list[_Span]:
    return [_Span(start, end, DATE, SURROGATES[DATE] if moved is None else moved)
            for start, end, moved in find_dates(text, folded, offset)]


_PHONE_CANDIDATE = re.compile(r"(?<![\w+])(?:\+\s?84|0084|\(0\d{1,3}\)|0)[\d\s.\-()]*\d")
_DIGIT_GROUPS = re.compile(r"\+?\d+")


def _valid_phone(digits: str) -> bool:
    if digits.startswith("0084"):
        digits = "0" + digits[4:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    if len(digits) == 10 and digits[:2] in ("03", "05", "07", "08", "09"):
        return True
    return digits.startswith("02") and len(digits) in (10, 11)


def _phones(text: str, folded: str) -> list[_Span]:
    spans = []
    for match in _PHONE_CANDIDATE.finditer(text):
        # the longest prefix of digit groups that is a Vietnamese phone number ("0912 345 678 10 mm")
        digits, best, previous_end = "", None, None
        for group in _DIGIT_GROUPS.finditer(text, match.start(), match.end()):
            if previous_end is not None and group.start() - previous_end > 3:
                break
            digits += group.group().lstrip("+")
            previous_end = group.end()
            if _valid_phone(digits):
                best = group.end()
        if best is not None:
            spans.append(_Span(match.start(), best, PHONE, SURROGATES[PHONE]))
    for _, cue_end, _ in _cues("phone_cue", "phone_cues", text, folded):
        number = re.compile(r"[\s:.]*(\+?[\d(][\d\s.\-()]{5,}\d)").match(text, cue_end)
        if number:
            spans.append(_Span(number.start(1), number.end(1), PHONE, SURROGATES[PHONE]))
    return spans


_ID_TOKEN = re.compile(r"[\s:#.\-]*(?:là\s+)?((?=[\w\-/.]*\d)[A-Za-z0-9][\w\-/.]*[A-Za-z0-9])")
_BHYT = re.compile(r"(?<![\w])[A-Z]{2}[\s.\-]?\d(?:[\s.\-]?\d){12}(?!\w)")
_LONG_NUMBER = re.compile(r"(?<![\w.,])\d{3}[\s.\-]?\d{3}[\s.\-]?\d{3}(?:[\s.\-]?\d{3})?(?![\w])|(?<![\w.,])\d{8,}(?![\w.,])")
_CODED_ID = re.compile(r"(?<![\w])(?:BN|PID|MRN|HS)[\-_]?\d{4,}(?!\w)")


def _ids(text: str, folded: str, cued_only: bool) -> list[_Span]:
    spans = []
    if cued_only:
        for _, cue_end, _ in _cues("id_cue", "id_cues", text, folded):
            token = _ID_TOKEN.match(text, cue_end)
            if token:
                spans.append(_Span(token.start(1), token.end(1), ID, SURROGATES[ID]))
        for pattern in (_BHYT, _CODED_ID):
            spans += [_Span(m.start(), m.end(), ID, SURROGATES[ID]) for m in pattern.finditer(text)]
        return spans
    return [_Span(m.start(), m.end(), ID, SURROGATES[ID]) for m in _LONG_NUMBER.finditer(text)]


_NUMBER_PART = re.compile(r"[ \t]*(\d+[A-Za-z]?(?:[/\-]\d+[A-Za-z]?)*)(?!\w)")
_WEAK_NUMBER = re.compile(r"(?<!\w)số[ \t]+\d+[A-Za-z]?(?:/\d+[A-Za-z]?)*(?!\w)", re.IGNORECASE)


def _addresses(text: str, folded: str) -> list[_Span]:
    compiled = _compiled()
    strong: list[tuple[int, int]] = []
    stop = compiled["not_name"] - {"so"}
    units = _cues("address_unit", "address_units", text, folded)
    units += [(m.start(), m.end(), False) for m in compiled["address_abbrev"].finditer(text)]
    for start, end, without_diacritics in units:
        number = None if without_diacritics else _NUMBER_PART.match(text, end)  # "Thuc quan 1/3" is anatomy
        if number:
            strong.append((start, number.end(1)))
            continue
        _, name_end, count = _name_run(text, folded, end, stop)
        if count:
            strong.append((start, name_end))
    strong += [(s, e) for s, e, _ in _cues("province", "provinces", text, folded) if text[s].isupper()]
    for _, cue_end, _ in _cues("address_cue", "address_cues", text, folded):
        tail = re.compile(r"[^\n;|]*?(?=\.\s|\.$|[\n;|]|$)").match(text, cue_end)
        if tail and tail.end() > cue_end:
            strong.append((cue_end, tail.end()))
    weak = [(m.start(), m.end()) for m in _WEAK_NUMBER.finditer(text)]
    parts = sorted(set(strong) | {(s, e, ) for s, e in weak}, key=lambda p: (p[0], -p[1]))
    is_strong = set(strong)
    merged: list[list[int]] = []  # [start, end, has_strong]
    for start, end in parts:
        if merged and (start <= merged[-1][1] or _address_gap(text, folded, merged[-1][1], start, stop)):
            merged[-1][1] = max(merged[-1][1], end)
            merged[-1][2] |= (start, end) in is_strong
        else:
            merged.append([start, end, (start, end) in is_strong])
    return [_Span(s, e, ADDRESS, SURROGATES[ADDRESS]) for s, e, has_strong in merged if has_strong]


def _address_gap(text: str, folded: str, start: int, end: int, stop: set[str]) -> bool:
    """True when only separators, or one capitalised place name, lie between two address parts
    (`phố Huế, Hai Bà Trưng, Hà Nội`: the district without its unit word is part of the address)."""
    gap = text[start:end]
    if re.fullmatch(r"[\s,\-–/]*", gap):
        return True
    lead = re.match(r"[\s,\-–/]*", gap).end()
    first, name_end, count = _name_run(text, folded, start + lead, stop)
    return count > 0 and first == start + lead and re.fullmatch(r"[\s,\-–/]*", text[name_end:end]) is not None


def _hospitals(text: str, folded: str) -> list[_Span]:
    compiled = _compiled()
    cues = [(s, e) for s, e, _ in _cues("hospital_cue", "hospital_cues", text, folded)]
    cues += [(m.start(), m.end()) for m in re.finditer(r"(?<!\w)BV\.?(?=[ \t])", text)]
    spans = []
    for start, end in cues:
        pos, last, named = end, end, False
        while True:
            gap = re.compile(r"[ \t]+").match(text, pos)
            if gap is None:
                break
            pos = gap.end()
            inner = compiled["hospital_inner"].match(folded, pos)
            if inner and not (text[pos:inner.end()].isascii() or _lower(text[pos:inner.end()]) in compiled["exact"]["hospital_inner_words"]):
                inner = None
            token = re.compile(r"[^\W_]+(?:-[^\W_]+)?").match(text, pos)
            if inner:  # "Hữu nghị", "Đa khoa": an inner phrase, whatever its case
                pos = inner.end()
            elif token and (token.group()[0].isupper() or token.group()[0].isdigit()):
                pos = last = token.end()
                named = True
            else:
                break
        if named:
            spans.append(_Span(start, last, HOSPITAL, SURROGATES[HOSPITAL]))
    return spans


def _known(text: str, folded: str, names: Iterable[str], ids: Iterable[str]) -> list[_Span]:
    """Exact identifiers the caller knows (the DICOM PatientName and PatientID, a metadata id)."""
    spans = []
    for values, kind in ((names, NAME), (ids, ID)):
        for value in values:
            words = fold(str(value).replace("^", " ")).split()
            if not words or sum(len(w) for w in words) < 2:
                continue
            pattern = re.compile(r"(?<!\w)" + r"[\s^_]+".join(re.escape(w) for w in words) + r"(?!\w)")
            spans += [_Span(m.start(), m.end(), kind, SURROGATES[kind]) for m in pattern.finditer(folded)]
    return spans


def deidentify_text(text: str, *, day_offset: int | None = None, known_names: Iterable[str] = (),
                    known_ids: Iterable[str] = ()) -> TextDeidResult:
    """`text` with every identifier replaced; dates shifted by `day_offset` days when given.

    Finders run in priority order and a later one never claims what an earlier one took:
    known values, dates, phones, cued ids, cued names, hospitals, addresses, family-name runs, then
    bare long numbers.
    """
    if not text:
        return TextDeidResult(text or "", {})
    text = unicodedata.normalize("NFC", text)
    folded = fold(text)
    finders = (
        lambda: _known(text, folded, known_names, known_ids),
        lambda: _dates(text, folded, day_offset),
        lambda: _phones(text, folded),
        lambda: _ids(text, folded, cued_only=True),
        lambda: _cued_names(text, folded),
        lambda: _hospitals(text, folded),
        lambda: _addresses(text, folded),
        lambda: _surname_names(text, folded),
        lambda: _ids(text, folded, cued_only=False),
    )
    taken: list[_Span] = []
    for finder in finders:
        for span in sorted(finder(), key=lambda s: (s.start, -(s.end - s.start))):
            if span.end > span.start and not any(span.start < t.end and t.start < span.end for t in taken):
                taken.append(span)
    taken.sort(key=lambda s: s.start)
    pieces, cursor, counts = [], 0, {}
    for span in taken:
        pieces.append(text[cursor:span.start])
        pieces.append(span.replacement)
        cursor = span.end
        counts[span.kind] = counts.get(span.kind, 0) + 1
    pieces.append(text[cursor:])
    return TextDeidResult("".join(pieces), counts)


def merge_counts(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    """Add `more` into `total` (in place) and return it: audit logs sum counts over files."""
    for kind, count in more.items():
        total[kind] = total.get(kind, 0) + count
    return total
