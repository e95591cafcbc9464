"""Canonical spelling of report text, so that the same fact is always written the same way.

Choices (recorded in `NORMALIZATION_INFO` for metric provenance):
- Unicode NFC.
- Tone marks in the old ("classic") placement for the open diphthongs oa, oe, uy: `hóa`, `khỏe`,
  `thùy`, `hòa`. The real reports use this form almost exclusively (2,659 `hóa` against 0 `hoá`,
  388 `thùy` against 0 `thuỳ`), so canonicalising towards it changes the fewest references.
  Syllables with a final consonant (`hoàn`, `thuyết`) and `qu-` syllables (`quý`) are left alone:
  both conventions agree on them.
- Decimal comma in measurements (`SUVmax: 5,2`, `2,5 x 3 cm`), the Vietnamese convention and the
  majority form in the corpus; `SUVmax` written `SUVmax: <value>` whatever the separator (`SUVmax:6,0`,
  `SUVmax; 4,6`, `SUV max 5.2`); sizes `18 x 21 mm` (`18x21mm`, `18 × 21 mm`); units spaced (`10 mm`).
- Spacing: one space between words, none before `, . ; : )` or after `(`.
Idempotent: normalising twice gives the same text.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

NORMALIZATION_INFO: dict[str, str] = {
    "unicode": "NFC",
    "tone_marks": "old-style placement on open oa/oe/uy (hóa, thùy, khỏe, hòa)",
    "decimal_separator": "comma in SUVmax and sizes (5,2)",
    "suvmax": "'SUVmax: <value>'",
    "sizes": "'A x B mm' with spaced unit",
}

_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # huyền, sắc, ngã, hỏi, nặng
_OPEN_DIPHTHONG = re.compile(r"^([bcdđghklmnpqrstvx]*)([ou])([aey])$")

def _with_tones(bases: str) -> str:
    return "".join(unicodedata.normalize("NFC", b + t) for b in bases + bases.upper() for t in ("",) + tuple(_TONES))


# Only words ending in an open oa/oe/uy diphthong can need moving their tone mark; the pattern
# starts at the diphthong (fast to scan for) and the word start is found by walking back.
_CANDIDATE = re.compile(rf"[{_with_tones('ou')}][{_with_tones('aey')}](?!\w)")
_SPACES = re.compile(r" {2,}")
_SUVMAX_VALUE = re.compile(r"(?i)\bSUV\s*max\s*(?::|;|=|\s)\s*(?=\d)|\bSUVmax(?=\d)")
_SUVMAX_WORD = re.compile(r"\b[Ss][Uu][Vv]\s+[Mm][Aa][Xx]\b|\b(?!SUVmax\b)[Ss][Uu][Vv][Mm][Aa][Xx]\b")
_SUV_DECIMAL = re.compile(r"(SUVmax: \d+)\.(\d+)")
_TIMES = re.compile(r"(?<=\d)\s*[xX×\*]\s*(?=\d)")
_UNIT = re.compile(r"(?<=\d)(mm|cm)\b")
_MEASURE = re.compile(r"\d+(?:[.,]\d+)?(?: x \d+(?:[.,]\d+)?)* (?:mm|cm)\b")
_BEFORE_PUNCT = re.compile(r"\s+([,.;:)])")
_AFTER_PAREN = re.compile(r"\(\s+")
_COMMA_GLUE = re.compile(r",(?<=[^\W\d_],)(?=[^\W\d_])")
_ODD_CHARS = {"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'",
              "\t": " ", "\u00a0": " ", "\u202f": " ", "\u3000": " ", "\u200b": " "}
_ODD_CHARS.update({chr(c): " " for c in range(0x2000, 0x200B)})
_TRANSLATION = str.maketrans(_ODD_CHARS)
_HAS_ODD = re.compile("[" + "".join(_ODD_CHARS) + "]")


@lru_cache(maxsize=65536)
def canonical_tone(word: str) -> str:
    """One word with its tone mark in the canonical (old-style) place; other words unchanged."""
    decomposed = unicodedata.normalize("NFD", word)
    tones = [c for c in decomposed if c in _TONES]
    if len(tones) != 1:
        return word
    base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONES))
    match = _OPEN_DIPHTHONG.match(base.lower())
    if match is None or match.group(1).endswith("q"):
        return word
    cut = len(match.group(1)) + 1  # just after the first vowel of the diphthong
    return unicodedata.normalize("NFC", base[:cut] + tones[0] + base[cut:])


def normalize_tones(text: str) -> str:
    """Apply `canonical_tone` to every word of an NFC text."""
    pieces: list[str] = []
    last = 0
    for m in _CANDIDATE.finditer(text):
        start = m.start()
        while start > last and text[start - 1].isalpha():
            start -= 1
        word = text[start : m.end()]
        fixed = canonical_tone(word)
        if fixed != word:
            pieces.append(text[last:start])
            pieces.append(fixed)
            last = m.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def _measure_comma(match: re.Match[str]) -> str:
    return match.group(0).replace(".", ",")


def normalize_text(text: str) -> str:
    """The canonical spelling described in the module docstring (NFC, tones, numbers, spacing)."""
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if _HAS_ODD.search(text):
        text = text.translate(_TRANSLATION)
    text = normalize_tones(text)
    text = _SPACES.sub(" ", text)
    if "\n" in text:
        text = "\n".join(line.strip() for line in text.split("\n"))
    text = text.strip()
    text = _SUVMAX_VALUE.sub("SUVmax: ", text)
    text = _SUVMAX_WORD.sub("SUVmax", text)
    text = _SUV_DECIMAL.sub(r"\1,\2", text)
    text = _TIMES.sub(" x ", text)
    text = _UNIT.sub(r" \1", text)
    text = _MEASURE.sub(_measure_comma, text)
    text = _AFTER_PAREN.sub("(", text)
    text = _BEFORE_PUNCT.sub(r"\1", text)
    text = _COMMA_GLUE.sub(", ", text)
    return _SPACES.sub(" ", text)


def parse_number(text: str) -> float:
    """A number written with either decimal separator ("5,2" or "5.2")."""
    return float(text.replace(",", "."))


def format_number(value: float) -> str:
    """A number the way the reports write it: decimal comma, no trailing ",0" for integers."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:g}".replace(".", ",")
