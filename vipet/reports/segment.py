"""Cut report text into sentences: the one splitter every report tool uses.

Its own module, below `parse` and `sections`, so that section recovery and parsing both use it
without importing each other, and so that the region split of report text and the tokeniser cut
sentences by the same rules as the lesion extractor.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Callable, Iterable

# "…(SUVmax: 4,1) Hình ảnh …" and "…hai bên, Hình ảnh …": a new finding begins without a full stop.
_UNPUNCTUATED_START = re.compile(r"[),;]\s+(?=Hình ảnh\b)")


_PAREN = re.compile(r"[()]")
_CANDIDATE = re.compile(r"[.!?\n]")


def _paren_pairs(text: str) -> list[tuple[int, int]]:
    """Spans of the closed parentheses (an unclosed '(' must not swallow the rest of the text)."""
    pairs: list[tuple[int, int]] = []
    stack: list[int] = []
    for m in _PAREN.finditer(text):
        if m.group(0) == "(":
            stack.append(m.start())
        elif stack:
            pairs.append((stack.pop(), m.start()))
    return pairs


def inside_any(spans: Iterable[tuple[int, int]]) -> Callable[[int], bool]:
    """A test "is `pos` strictly inside one of these (open) spans", in O(log n) per call.

    The spans are merged once, so a long text with many parentheses is not scanned span by span
    for every candidate position (that made sentence splitting quadratic in the text length).
    """
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(spans):
        if starts and start < ends[-1]:  # open intervals overlap only when strictly inside
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)

    def inside(pos: int) -> bool:
        k = bisect_left(starts, pos) - 1
        return k >= 0 and pos < ends[k]

    return inside


def split_sentences(text: str) -> list[str]:
    """Sentences of a report text, keeping decimals (`5.2`, `5,2`) and parentheses whole.

    A full stop ends a sentence only outside parentheses and when followed by a capital letter
    (or the end); line breaks always end one; a finding glued to the previous one after `)` or `,`
    ("…(SUVmax: 4,1) Hình ảnh …") is split off too.
    """
    inside = inside_any(_paren_pairs(text))

    cuts: list[int] = []
    for m in _CANDIDATE.finditer(text):
        i = m.start()
        if m.group(0) == "\n":
            cuts.append(i + 1)
            continue
        rest = text[i + 1 : i + 40]
        stripped = rest.lstrip(" \t")
        ends = not stripped or stripped[0] == "\n"
        starts_sentence = bool(stripped) and stripped[0].isupper() and (rest[:1].isspace() or (i > 0 and text[i - 1].isalpha()))
        if (ends or starts_sentence) and not inside(i):
            cuts.append(i + 1)
    for m in _UNPUNCTUATED_START.finditer(text):
        if not inside(m.start()):
            cuts.append(m.start() + 1)
    sentences: list[str] = []
    last = 0
    for cut in sorted(set(cuts)) + [len(text)]:
        piece = text[last:cut].strip()
        if piece:
            sentences.append(piece)
        last = cut
    return sentences
