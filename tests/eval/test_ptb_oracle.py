"""Property test: the Python PTB tokenizer equals Stanford's Java PTBTokenizer on generated strings.

Hypothesis draws 5,000 distinct strings (derandomized: the same strings on every run) over Vietnamese
letters with their diacritics in both cases, ASCII letters, digits, spaces, newlines, the
punctuation and symbols of medical text, HTML entities, U+FFFD and a list of forms that exercise
the lexer's special rules (abbreviations, clitics, URLs, phone numbers, smileys...). All of them go
through ONE Java call, with pycocoevalcap's own command line, and every string is compared token
for token. Java reads its input as one stream and a few rules look past a line end (see
vipet/eval/ptb.py), so the strings are separated by a blank line, a `0` and a blank line, which
makes each line read as the Python tokenizer reads a caption.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from vipet.eval.ptb import PUNCTUATIONS, coco_tokenize, ptb_tokenize

N_STRINGS = 5000
_SEPARATOR = "\n\n0\n\n"  # each string, then a blank line, a "0", a blank line: 4 output lines per string

_TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]
_VIETNAMESE = sorted({unicodedata.normalize("NFC", base + tone) for base in "aăâeêioôơuưy" for tone in _TONES} | {"đ"})
LETTERS = _VIETNAMESE + [c.upper() for c in _VIETNAMESE] + list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
SYMBOLS = list("+&'’/-()[]:;%°±×≥…,.?!\"") + ["\ufffd"] + list("#$*=<>@_~^|\\{}`“”‘«»–—½¼²·→€£\t\u00a0\u00ad\u0301")
FORMS = [
    "etc.", "Inc.", "Dr.", "U.S.", "u.s.", "ca.", "No.", "Jan.", "Calif.", "cannot", "gonna", "don't", "'twas", "'tis",
    "it's", "I'm", "y'all", "l'", "o'clock", "'90", "http://x.com/a", "www.a.org", "a.com", "x.txt", "c++", "S&P-500",
    "AT&T", "&amp;", "&quot;", "&apos;", "&nbsp;", "&mdash;", "&eacute;", ":)", ";-(", ":D", "(x_x)", "(^-^)", "12 3/4",
    "(123) 456-7890", "12.345.6789", "1-2-2020", "pro-", "anti-", "--", "---", "-----", ". . .", "....", "The", "He",
    "A", "Co.", "Pty.", "Ltd", "@user", "#tag", "$5", "US$", "<b>", "</b>", "<<", ">>", "n't", "'s", "'ll", "SUVmax:",
    "PET/CT", "D8-D9", "b+c+d+e", "B+C+D+E", "Rosenmüller's", "H&P", "h&p", "5,2", "-82HU", "1.000", "T.S.", "v.v.",
]

_word = st.text(st.sampled_from(LETTERS), min_size=1, max_size=8)
_number = st.from_regex(r"\A[+-]?[0-9]{1,4}([.,:/][0-9]{1,3})?\Z")
_symbols = st.text(st.sampled_from(SYMBOLS), min_size=1, max_size=3)
_mixed = st.text(st.sampled_from(LETTERS + list("0123456789 ") + SYMBOLS), min_size=1, max_size=6)
_piece = st.one_of(st.sampled_from(FORMS), _word, _number, _symbols, st.sampled_from([" ", "  ", "\n"]), _mixed)
report_like_text = st.lists(_piece, max_size=10).map("".join)


def generated_strings(n: int) -> list[str]:
    """`n` distinct strings from `report_like_text`, the same ones on every run (derandomized, no database)."""
    drawn: list[str] = []

    # one string per example: Hypothesis draws lists of many strings mostly empty or repeated
    @settings(max_examples=n + n // 12, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(report_like_text)
    def collect(text: str) -> None:
        drawn.append(text)

    collect()
    unique = list(dict.fromkeys(drawn))
    assert len(unique) >= n, f"only {len(unique)} distinct strings drawn"
    return unique[:n]


def java_ptb_tokens(texts: list[str], folder: Path) -> list[list[str]]:
    """Java PTBTokenizer tokens of each text, in ONE call with pycocoevalcap's command line."""
    from pycocoevalcap.tokenizer import ptbtokenizer

    jar = Path(ptbtokenizer.__file__).with_name(ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR)
    source = folder / "captions.txt"
    source.write_text(_SEPARATOR.join(t.replace("\n", " ") for t in texts), encoding="utf-8")
    command = ["java", "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer", "-preserveLines", "-lowerCase", str(source)]
    lines = subprocess.run(command, capture_output=True, check=True).stdout.decode("utf-8").split("\n")
    assert len(lines) == 4 * len(texts) - 3 and set(lines[2::4]) == {"0"}, "Java output lines do not align with the input"
    return [line.split(" ") if line else [] for line in lines[::4]]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return generated_strings(N_STRINGS)


@pytest.mark.skipif(shutil.which("java") is None, reason="java not on PATH: the Stanford PTBTokenizer oracle cannot run")
def test_python_tokenizer_equals_java_on_generated_strings(texts, tmp_path):
    started = time.perf_counter()
    oracle = java_ptb_tokens(texts, tmp_path)
    java_seconds = time.perf_counter() - started
    mismatches = [(text, ptb_tokenize(text), tokens) for text, tokens in zip(texts, oracle) if ptb_tokenize(text) != tokens]
    assert mismatches == [], f"{len(mismatches)} of {len(texts)} differ (Java {java_seconds:.1f} s), first: {mismatches[:5]}"
    # the coco tokens are what pycocoevalcap scores: its punctuation list removed, then str.split() as BLEU/CIDEr do
    nfc = [i for i, text in enumerate(texts) if unicodedata.normalize("NFC", text) == text]
    coco_mismatches = [texts[i] for i in nfc
                       if coco_tokenize(texts[i]) != [w for t in oracle[i] if t not in PUNCTUATIONS for w in t.split()]]
    assert coco_mismatches == []


def test_the_generator_covers_the_reported_alphabet(texts):
    seen = set("".join(texts))
    assert set("+&'’/-()[]:;%°±×≥…,.?!\"\ufffd") <= seen
    assert {"ệ", "Ữ", "đ", "Đ", "ă"} <= seen and any(c.isdigit() for c in seen)
    assert sum("\n" in t for t in texts) > 100 and "" in texts
