"""Dates in Vietnamese report text, found in every common form and moved by a whole-day offset.

Forms: `12/03/2023`, `12-3-2023`, `12.03.2023`, `12/03/23`, `2023-03-12`, `20230312`,
`ngày 12 tháng 3 năm 2023`, `ngày 12/3/2023`, `tháng 3/2023`, `tháng 3 năm 2023`, `3/2023`,
`ngày 12 tháng 3`, `ngày 12/3`, `năm 2023`. A moved date is written in the form it was found
(separators, words, zero padding, two- or four-digit year), so the text reads the same and a
prior study ("so với hình ảnh PET/CT 9/2018") stays a month and a year. Partial dates move by
the same days from a fixed point of the unit they name (the 15th of a month, 1 July of a year).

The patterns run on the folded text (lower case, no diacritics; `deid_text.fold`), which keeps
positions, so spans apply to the original. Organ fractions (`thực quản 1/3 giữa`) have no
four-digit year and never match; `nằm 2019` is no `năm 2019` (the words must be written with
their own diacritics or wholly without).
"""

from __future__ import annotations

import datetime as dt
import re

_YEAR = r"(?:19|20)\d{2}"
_D, _M = r"(?P<d>\d{1,2})", r"(?P<m>\d{1,2})"
DATE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for p in (
    rf"ngay\s+{_D}\s+thang\s+{_M}\s*,?\s*nam\s+(?P<y>{_YEAR})(?!\d)",
    rf"ngay\s+{_D}\s*(?P<s>[/\-.])\s*{_M}\s*(?P=s)\s*(?P<y>{_YEAR})(?!\d)",
    rf"(?<![\d.,/])(?P<y>{_YEAR})-{_M}-{_D}(?![\d/])",
    rf"(?<![\d.,/]){_D}(?P<s>[/\-.]){_M}(?P=s)(?P<y>{_YEAR}|\d{{2}})(?![\d/]|[.,]\d)",
    rf"(?<![\d.,])(?P<y>{_YEAR})(?P<m>\d{{2}})(?P<d>\d{{2}})(?!\d|[.,]\d)",
    rf"thang\s+{_M}\s*(?:,?\s*nam\s+|[/\-.]\s*)(?P<y>{_YEAR})(?!\d)",
    rf"(?<![\d.,/]){_M}[/\-](?P<y>{_YEAR})(?![\d/])",
    rf"ngay\s+{_D}\s+thang\s+{_M}(?!\s*[/\-]?\s*\d)",
    rf"ngay\s+{_D}\s*[/\-]\s*{_M}(?![/\-\d])",
    rf"nam\s+(?P<y>{_YEAR})(?!\d)",
))
_DATE_WORDS = {"ngay": "ngày", "thang": "tháng", "nam": "năm"}
_WORD = re.compile(r"[^\W\d_]+")


def find_dates(text: str, folded: str, offset: int | None) -> list[tuple[int, int, str | None]]:
    """(start, end, moved text) of every date; the moved text is None when no offset is given."""
    found = []
    for pattern in DATE_PATTERNS:
        for match in pattern.finditer(folded):
            if (match.start() and folded[match.start() - 1].isalnum()) or not _words_written_right(text, match):
                continue
            moment = _moment(match)
            if moment is None:
                continue
            moved = None if offset is None else _rewrite(text, match, moment + dt.timedelta(days=offset))
            found.append((match.start(), match.end(), moved))
    return found


def _words_written_right(text: str, match: re.Match[str]) -> bool:
    """`ngày`/`tháng`/`năm` with their own diacritics, or the whole date written without any."""
    written = text[match.start():match.end()]
    if written.isascii():
        return True
    for word in _WORD.finditer(written):
        folded_word = match.string[match.start() + word.start():match.start() + word.end()]
        if word.group().lower() != _DATE_WORDS.get(folded_word, word.group().lower()):
            return False
    return True


def _year(text: str) -> int:
    value = int(text)
    return value if len(text) == 4 else (2000 + value if value <= 50 else 1900 + value)


def _moment(match: re.Match[str]) -> dt.date | None:
    """The date a match names (partial dates at a fixed point of their unit); None when invalid."""
    parts = match.groupdict()
    try:
        year = _year(parts["y"]) if parts.get("y") else 2000  # day and month alone: a leap year
        month = int(parts["m"]) if parts.get("m") else 7
        day = int(parts["d"]) if parts.get("d") else (15 if parts.get("m") else 1)
        return dt.date(year, month, day)
    except ValueError:
        return None


def _rewrite(text: str, match: re.Match[str], new: dt.date) -> str:
    """The matched text with its numbers replaced by `new`'s, in the same style: a year keeps its two
    or four digits; day and month are two digits when the original padded one of them (`12/03/2023`,
    `20230312`), else written plainly (`12-3-2023`, `ngày 12 tháng 3`)."""
    values = {"d": new.day, "m": new.month, "y": new.year}
    present = {name: match.span(name) for name in values if match.groupdict().get(name)}
    padded = match.group().isdigit() or any(text[start] == "0" for name, (start, end) in present.items()
                                            if name != "y" and end - start == 2)
    pieces, cursor = [], match.start()
    for name, (start, end) in sorted(present.items(), key=lambda item: item[1]):
        if name == "y":
            number = f"{values['y'] % 100:02d}" if end - start == 2 else f"{values['y']:04d}"
        else:
            number = f"{values[name]:02d}" if padded else str(values[name])
        pieces += [text[cursor:start], number]
        cursor = end
    pieces.append(text[cursor:match.end()])
    return "".join(pieces)
