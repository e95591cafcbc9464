"""Vietnamese tokens for the metrics: syllables (whitespace units) or words (pyvi segmentation).

Both modes first apply `normalize_text` (NFC, one tone-mark placement, one spelling of SUVmax,
sizes and decimals), then lower-case, so two spellings of the same fact never count as a
mismatch. Syllable mode splits punctuation off and keeps decimals ("5,2") and sizes' numbers whole.
Word mode runs pyvi's CRF segmenter sentence by sentence (its model is loaded once, lazily) and
joins the syllables of a word with "_" ("chuyển_hóa"); because reports repeat the same sentences,
sentence segmentations are cached, which is what makes 20,000 reports affordable.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import metadata
from typing import Any

from vipet.errors import ReportError
from vipet.reports.normalize import NORMALIZATION_INFO, normalize_text
from vipet.reports.segment import split_sentences

MODES: tuple[str, ...] = ("syllable", "word")
SYLLABLE_PATTERN = r"\d+(?:[.,]\d+)+|\w+|[^\w\s]"
_SYLLABLE = re.compile(SYLLABLE_PATTERN)


def _pyvi_version() -> str:
    try:
        return metadata.version("pyvi")
    except metadata.PackageNotFoundError:  # pragma: no cover - pyvi is a declared dependency
        return "not installed"


TOKENIZER_INFO: dict[str, Any] = {
    "name": "vipet-vi",
    "modes": list(MODES),
    "default_mode": "syllable",
    "normalization": dict(NORMALIZATION_INFO),
    "lowercase": True,
    "syllable_pattern": SYLLABLE_PATTERN,
    "word_segmenter": f"pyvi.ViTokenizer {_pyvi_version()} (CRF, offline), per sentence",
    "word_joiner": "_",
}


def tokenizer_info(mode: str = "syllable") -> dict[str, Any]:
    """The settings dict to store beside a metric computed with `tokenize(..., mode)`."""
    _check_mode(mode)
    return {**TOKENIZER_INFO, "mode": mode}


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ReportError(f"unknown tokenizer mode {mode!r}; expected one of {', '.join(MODES)}")


@lru_cache(maxsize=1)
def _vi_tokenizer() -> Any:
    """pyvi's tokenizer class; importing it loads the CRF model (about 2 s), so do it once."""
    from pyvi import ViTokenizer

    return ViTokenizer


@lru_cache(maxsize=131072)
def _segment_sentence(sentence: str) -> tuple[str, ...]:
    segmented = _vi_tokenizer().tokenize(sentence)
    return tuple(tok.lower() for tok in segmented.split())


def tokenize(text: str, mode: str = "syllable") -> list[str]:
    """Tokens of a report text: "syllable" (default) or "word" (pyvi, syllables joined by "_")."""
    _check_mode(mode)
    normalized = normalize_text(text)
    if mode == "syllable":
        return _SYLLABLE.findall(normalized.lower())
    tokens: list[str] = []
    for sentence in split_sentences(normalized):
        tokens.extend(_segment_sentence(sentence))
    return tokens
