"""Mirror the side words of a text, for a left/right flip of the image it describes.

Columns run patient right -> left (`vipet.study`), so after a flip a lesion of the right lung sits
where the left lung was and the text must say "trái" where it said "phải". "phải" also means
"must": the lexicon lists the words around it that keep that sense ("cần phải", "phải là"). A
"phải" right after an anatomical site or "bên" is a side even before "là" ("SUVmax của khối mờ ở
thùy dưới phổi phải là bao nhiêu?"), so questions mirror with their image.
"""

from __future__ import annotations

import re
from functools import lru_cache

from vipet.reports.lexicon import Lexicon, load_lexicon


def _alternation(words: tuple[str, ...]) -> str:
    return "|".join(r"\s+".join(map(re.escape, w.split())) for w in sorted(words, key=len, reverse=True))


@lru_cache(maxsize=4)
def _patterns(lex: Lexicon) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    must_before = rf"(?i)\b(?:{_alternation(lex.must_before)})\s+phải\b"
    must_after = rf"(?i)\bphải\s+(?:{_alternation(lex.must_after)})\b"
    side = rf"(?i)\b({_alternation(tuple(lex.side_words))})\b"
    return re.compile(must_before), re.compile(must_after), re.compile(side)


def _follows_a_site(text: str, position: int, lex: Lexicon) -> bool:
    """Whether the word before `position` ends an anatomical site phrase or is "bên"."""
    before = text[max(0, position - 60) : position].rstrip().lower()
    if before.endswith("bên") and (len(before) == 3 or not before[-4].isalnum()):
        return True
    return any(m.end == len(before) for m in lex.sites.finditer(before))


def swap_left_right(text: str, lex: Lexicon | None = None) -> str:
    """Mirror side words (phải <-> trái, right <-> left), keeping case, sparing "must" uses of phải."""
    if not text:
        return text
    lex = lex or load_lexicon()
    must_before, must_after, side_word = _patterns(lex)
    protected = [(m.start(), m.end()) for m in must_before.finditer(text)]
    protected += [(m.start(), m.end()) for m in must_after.finditer(text) if not _follows_a_site(text, m.start(), lex)]

    def replace(match: re.Match[str]) -> str:
        if any(a <= match.start() < b for a, b in protected):
            return match.group(0)
        word = match.group(0)
        swapped = lex.side_words[word.lower()]
        if word.isupper():
            return swapped.upper()
        return swapped.capitalize() if word[0].isupper() else swapped

    return side_word.sub(replace, text)
