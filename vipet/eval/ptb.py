"""The tokenisation pycocoevalcap applies before BLEU/ROUGE/CIDEr, reimplemented without Java.

pycocoevalcap writes every caption on its own line (a newline inside a caption becomes a space),
pipes the file through Stanford CoreNLP 3.4.1 `PTBTokenizer -preserveLines -lowerCase` and then
drops the tokens in its PUNCTUATIONS list. This module runs the same lexer: the rules of
`PTBLexer.flex` v3.4.1, ported rule for rule in `vipet.eval.ptb_rules`, under JFlex's semantics
(longest match, earlier rule on a tie, trailing context counted but not consumed, characters no
rule matches deleted). Two quirks are kept because they change the numbers: brackets become
`-lrb-`/`-rrb-` AFTER lower-casing, so pycocoevalcap (which lists the upper-case forms) keeps them
as tokens; and `-LSB-`/`-RSB-` are not in its list either.

One thing cannot be reproduced per caption: Java reads the whole file as one stream, and three
abbreviation rules look past the end of a line (an abbreviation such as `etc.` keeps a separate
`.` when the next line is empty or starts with an upper-case letter; `ca.` before a digit; an
acronym before `The`, `He`, ...). A caption here is read as if a blank line followed it, which is
what pycocoevalcap does whenever the next caption starts with an upper-case letter.

Checked token for token against the Java tokenizer on generated strings over Vietnamese and ASCII
letters, digits and punctuation (tests/eval/test_ptb_oracle.py, run when Java is present) and on
all real report/question/answer texts.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from re import _constants as sre  # the parsed form of a pattern, to know which characters can start it
from re import _parser as sre_parse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vipet.eval.ptb_rules import Rule

PUNCTUATIONS: frozenset[str] = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)
# What follows every caption: pycocoevalcap's line break, read as if the next line were blank.
_AFTER_CAPTION = "\n\n"


_BMP = frozenset(range(0x10000))


@lru_cache(maxsize=1)
def _same_case() -> dict[str, set[int]]:
    table: dict[str, set[int]] = {}
    for code in _BMP:
        for key in {chr(code).lower(), chr(code).upper()}:
            table.setdefault(key, set()).add(code)
    return table


def _case_variants(code: int) -> set[int]:
    """Every BMP character an IGNORECASE literal `chr(code)` may match (a superset is fine)."""
    char, table = chr(code), _same_case()
    return {code} | table.get(char.lower(), set()) | table.get(char.upper(), set())


def _first(items, ignorecase: bool) -> tuple[frozenset[int] | None, bool]:
    """(characters that can start a match of the parsed sequence, None for any; whether it can match empty)."""
    out: set[int] = set()
    for op, arg in items:
        if op is sre.LITERAL:
            chars, nullable = (_case_variants(arg) if ignorecase else {arg}), False
        elif op is sre.NOT_LITERAL:
            chars, nullable = _BMP - {arg}, False
        elif op is sre.IN:
            chars, nullable = _class_chars(arg, ignorecase), False
        elif op is sre.SUBPATTERN:
            _, add, remove, sub = arg
            chars, nullable = _first(sub, (ignorecase or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE)
        elif op is sre.BRANCH:
            branches = [_first(sub, ignorecase) for sub in arg[1]]
            if any(chars is None for chars, _ in branches):
                return None, False
            chars, nullable = set().union(*(c for c, _ in branches)), any(n for _, n in branches)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            chars, nullable = _first(arg[2], ignorecase)
            nullable = nullable or arg[0] == 0
        else:
            return None, False
        if chars is None:
            return None, False
        out |= chars
        if not nullable:
            return frozenset(out), False
    return frozenset(out), True


def _class_chars(items, ignorecase: bool) -> frozenset[int] | None:
    negate, chars = False, set()
    for op, arg in items:
        if op is sre.NEGATE:
            negate = True
        elif op is sre.LITERAL:
            chars.add(arg)
        elif op is sre.RANGE:
            chars.update(range(arg[0], arg[1] + 1))
        else:
            return None
    if ignorecase:
        chars = set().union(*(_case_variants(c) for c in chars))
    return _BMP - chars if negate else frozenset(chars)


def _first_chars(rule: Rule) -> frozenset[int] | None:
    chars, nullable = _first(sre_parse.parse(rule.pattern.pattern), False)
    return None if nullable else chars


@lru_cache(maxsize=1)
def _rule_table() -> list[tuple[Rule, frozenset[int] | None]]:
    """The lexer rules with the characters each can start with, built on first use: the Unicode
    tables behind them take a few tenths of a second, which `import vipet.eval` should not pay."""
    from vipet.eval.ptb_rules import RULES

    return [(rule, _first_chars(rule)) for rule in RULES]


@lru_cache(maxsize=4096)
def _candidates(char: str) -> tuple[Rule, ...]:
    """The rules that can match at a position holding `char`, in grammar order (only a speed-up)."""
    return tuple(rule for rule, first in _rule_table() if first is None or ord(char) in first)


def ptb_tokenize(text: str) -> list[str]:
    """PTB tokens (lower-cased, brackets as -lrb- etc.) of one caption, before punctuation removal."""
    end = len(text)
    stream = text.replace("\n", " ") + _AFTER_CAPTION
    tokens: list[str] = []
    position = 0
    while position < end:
        best = None
        best_end, best_order = position, 0
        for rule in _candidates(stream[position]):
            match = rule.pattern.match(stream, position)
            if match is None:
                continue
            if match.end() > best_end or (match.end() == best_end and best is not None and rule.order < best_order):
                best, best_end, best_order = (rule, match), match.end(), rule.order
        if best is None:  # a character beyond the BMP (two surrogates in Java): untokenizable, deleted
            position += 1
            continue
        rule, match = best
        main = match.group("m")
        token, consumed = rule.action(main) if rule.action is not None else (main, len(main))
        if token is not None:
            tokens.append(token)
        position += consumed
    return [t.lower() for t in tokens]


def coco_tokenize(text: str) -> list[str]:
    """pycocoevalcap's caption tokens: NFC, PTB tokens lower-cased, its punctuation list removed.

    As in pycocoevalcap, lower-casing happens inside the lexer, so bracket tokens come out as
    `-lrb-` and are NOT in the (upper-case) removal list: they stay, as they do there. The few
    tokens the lexer writes with a no-break space (phone numbers, `12 3/4`) are split at it, as
    pycocoevalcap's BLEU and CIDEr do (`str.split()`); its ROUGE-L splits on " " only and would
    count such a token as one word.
    """
    text = unicodedata.normalize("NFC", text)
    return [word for token in ptb_tokenize(text) if token not in PUNCTUATIONS for word in token.split()]
