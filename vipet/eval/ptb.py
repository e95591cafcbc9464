"""The tokenisation pycocoevalcap applies before BLEU/ROUGE/CIDEr, reimplemented without Java.

pycocoevalcap pipes every caption through Stanford CoreNLP 3.4.1 `PTBTokenizer -preserveLines
-lowerCase` and then drops the tokens in its PUNCTUATIONS list. This module reproduces the
lexer's behaviour on report-like text (letters of any script, numbers with decimal commas,
units, slashes, hyphens, parentheses, quotes, dashes) with a longest-match scanner, and the same
removal. Two quirks are kept because they change the numbers: brackets become `-lrb-`/`-rrb-`
AFTER lower-casing, so pycocoevalcap (which lists the upper-case forms) keeps them as tokens; and
a colon glued to a number after a word (`SUVmax:6,0`) is one token `:6,0`.

Checked token for token against the Java tokenizer on all 863 real report/question/answer texts
and on a case list of unusual punctuation (tests/eval/test_ptb.py, which runs Java when present).
English-only rules of the Java lexer (clitics beyond 's/n't, its abbreviation list, URLs, e-mail
addresses, SGML) are covered only in their common forms.
"""

from __future__ import annotations

import re
import unicodedata

PUNCTUATIONS: frozenset[str] = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)

_ALNUM = r"[^\W_]"
_LETTER = r"[^\W\d_]"
_RULES: list[tuple[str, re.Pattern[str]]] = [
    # Vulgar fractions are rewritten ("¼" -> "1/4"); listed first so they never read as a word.
    ("fraction", re.compile(r"[½¼¾⅓⅔]")),
    # A word: alphanumeric runs of any script joined by hyphens ("trước-phải", "10-12mm", "d8-d9").
    ("word", re.compile(rf"{_ALNUM}+(?:-{_ALNUM}+)*")),
    # Slashes join ASCII runs only ("pet/ct", "ct/mri/pet"); "viêm/xơ" is three tokens in the lexer.
    ("slashed", re.compile(r"[A-Za-z0-9]+(?:[-/][A-Za-z0-9]+)+")),
    # Letter-initial runs joined by dots ("phải.hình", "pgs.ts"), as the lexer's domain-name rule.
    ("dotted", re.compile(rf"{_LETTER}{_ALNUM}*(?:\.{_ALNUM}+)+")),
    # Letter-dot acronyms keep their final dot ("t.s.", "v.v.", "u.s.").
    ("acronym", re.compile(rf"(?:{_LETTER}\.){{2,}}")),
    # Numbers: sign only at a token start, then digit groups joined by . , : /
    ("number", re.compile(r"[-+]?\d+(?:[.,:/]\d+)*")),
    ("colon_number", re.compile(r":\d+(?:[.,]\d+)*")),
    ("clitic", re.compile(r"(?i:n't|'s|'re|'ve|'ll|'d|'m)(?![^\W_])")),
    ("ellipsis", re.compile(r"\.\.\.|…")),
    ("dashes", re.compile(r"--+|—|–")),
    ("repeat", re.compile(r"!+|\?+")),
    ("symbol", re.compile(r"\S")),
]
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc inc ltd co corp gen gov sen rep jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_SINGLE_MAP = {
    "(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-",
    "“": "``", "”": "''", "‘": "`", "’": "'", "«": "``", "»": "''",
    "½": "1/2", "¼": "1/4", "¾": "3/4", "⅓": "1/3", "⅔": "2/3",
}


def ptb_tokenize(text: str) -> list[str]:
    """PTB tokens (lower-cased, brackets as -lrb- etc.) of one caption, before punctuation removal."""
    text = text.replace("\n", " ")
    tokens: list[str] = []
    position, end = 0, len(text)
    while position < end:
        if text[position].isspace():
            position += 1
            continue
        best_name, best_end = "symbol", position  # longest match wins, earlier rule on ties
        for name, pattern in _RULES:
            match = pattern.match(text, position)
            if match and match.end() > best_end:
                best_name, best_end = name, match.end()
        if best_name == "number" and text[position] in "+-" and position > 0 and text[position - 1].isalnum():
            best_name, best_end = "symbol", position + 1  # a sign glued to a word is a hyphen
        piece = text[position:best_end]
        if best_name in ("word", "slashed") and best_end < end and text[best_end] == "." and piece.lower() in _ABBREVIATIONS:
            piece, best_end = piece + ".", best_end + 1
        elif best_name == "word" and len(piece) > 1 and text[best_end - 1 : best_end + 2].lower() == "n't":
            piece, best_end = piece[:-1], best_end - 1
        opening = position == 0 or text[position - 1].isspace() or text[position - 1] in "([{"
        position = best_end
        if best_name == "ellipsis":
            tokens.append("...")
        elif best_name == "dashes":
            tokens.append("--")
        elif best_name == "symbol" and piece == '"':
            tokens.append("``" if opening else "''")
        elif best_name == "symbol" and piece in "'`":
            tokens.append("`" if opening else "'")
        elif best_name in ("symbol", "fraction") and piece in _SINGLE_MAP:
            tokens.append(_SINGLE_MAP[piece])
        else:
            tokens.append(piece)
    return [t.lower() for t in tokens]


def coco_tokenize(text: str) -> list[str]:
    """pycocoevalcap's caption tokens: NFC, PTB tokens lower-cased, its punctuation list removed.

    As in pycocoevalcap, lower-casing happens inside the lexer, so bracket tokens come out as
    `-lrb-` and are NOT in the (upper-case) removal list: they stay, as they do there.
    """
    text = unicodedata.normalize("NFC", text)
    return [t for t in ptb_tokenize(text) if t not in PUNCTUATIONS]
