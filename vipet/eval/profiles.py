"""Scoring profiles: which tokens, which metric conventions, which scale, recorded for provenance.

- `default`: the profile for Vietnamese. NFC, lower case, punctuation split off as tokens,
  syllable tokens from the report toolkit (`vipet.reports.tokenize`, word segmentation with
  `word_segmentation=True`), Vietnamese letters intact. BLEU-1..4 (corpus, closest reference
  length, standard brevity penalty, no epsilon smoothing), ROUGE-1/2/L F1 (per sample, averaged),
  METEOR (exact matching), CIDEr-D, chrF (sacrebleu defaults on the NFC text); all x100.
- `coco`: pycocoevalcap's conventions, numbers equal to its `Bleu(4)`, `Rouge` and `Cider` after
  its PTB tokenisation (reimplemented in `vipet.eval.ptb`, no Java); native scale (0..1, CIDEr
  0..10). Only the scores pycocoevalcap computes offline are reported.
- `vipet-vlm`: the numbers of the prior Vietnamese PET/CT work: BLEU-4 = NLTK `corpus_bleu` over
  `str.split()` tokens (case kept) with smoothing method 4; ROUGE-1/ROUGE-L = rouge_score's default
  tokenizer without stemming (lower case, keeps only [a-z0-9], so Vietnamese letters vanish),
  F1 averaged per sample; x100. Kept for comparability only: it is not a valid Vietnamese metric.

`language="en"` (English reports, `reports_en/`): the `default` profile's metrics and conventions
on English tokens: NFC, the PTB lexer of `vipet.eval.ptb` (the rules pycocoevalcap's tokenizer
applies, so `18 x 21 mm`, `5.2`, `(SUVmax` split as an English reader expects), lower-cased,
punctuation kept as tokens as in the Vietnamese default. `coco` is PTB already and `vipet-vlm`
splits on blanks: both are the same in either language. Vietnamese scoring is unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable

from vipet.errors import EvalError
from vipet.eval.ptb import coco_tokenize, ptb_tokenize
from vipet.provenance import package_versions

PROFILES: tuple[str, ...] = ("default", "coco", "vipet-vlm")
LANGUAGES: tuple[str, ...] = ("vi", "en")  # the report languages a profile scores
_ROUGE_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_ROUGE_SPACES = re.compile(r"\s+")
_ROUGE_VALID = re.compile(r"^[a-z0-9]+$")


@dataclass(frozen=True)
class Profile:
    """A named set of tokenisation and metric conventions."""

    name: str
    tokenize: Callable[[str], list[str]]
    metrics: tuple[str, ...]
    scale: float
    info: dict[str, Any] = field(default_factory=dict)


def rouge_score_tokenize(text: str) -> list[str]:
    """rouge_score's default tokenizer (no stemmer): lower, non-[a-z0-9] -> space, split."""
    text = _ROUGE_NON_ALNUM.sub(" ", text.lower())
    return [t for t in _ROUGE_SPACES.split(text) if _ROUGE_VALID.match(t)]


def english_tokenize(text: str) -> list[str]:
    """English report tokens: NFC, PTB tokens (`vipet.eval.ptb`), lower-cased, punctuation kept."""
    return [word for token in ptb_tokenize(unicodedata.normalize("NFC", text)) for word in token.split()]


def whitespace_tokenize(text: str) -> list[str]:
    """The prior work's BLEU tokens: `text.strip().split()`, case and punctuation kept."""
    return text.strip().split()


def library_versions() -> dict[str, str]:
    """Versions of what computes the numbers: numpy, vipet and pyvi (word segmentation).

    Not the oracle libraries the tests compare against (pycocoevalcap, NLTK, ...): no score uses
    them, and listing them made the metrics JSON differ between an install with test extras and one
    without, for identical scores.
    """
    return package_versions(("numpy", "vipet", "pyvi"))


def _default_profile(word_segmentation: bool) -> Profile:
    from vipet.reports.tokenize import tokenize, tokenizer_info
    mode = "word" if word_segmentation else "syllable"

    def tokens(text: str) -> list[str]:
        return tokenize(unicodedata.normalize("NFC", text), mode)

    return Profile(
        name="default",
        tokenize=tokens,
        metrics=("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_1", "rouge_2", "rouge_l", "meteor", "cider_d", "chrf"),
        scale=100.0,
        info={
            "tokenizer": f"vipet.reports.tokenize(mode={mode!r})",
            "tokenizer_info": tokenizer_info(mode),
            "unicode_normalization": "NFC",
            "lowercase": True,
            "punctuation": "split off as separate tokens (kept)",
            "word_segmentation": word_segmentation,
            "scale": "0-100",
            "conventions": {
                "bleu": "corpus BLEU-1..4, closest reference length (ties: shorter), standard brevity penalty, no smoothing",
                "rouge": "ROUGE-1/2/L F1 per sample (best reference), averaged",
                "meteor": "exact matching only (no stemmer, no WordNet), NLTK alignment, alpha 0.9 beta 3 gamma 0.5",
                "cider_d": "pycocoevalcap CIDEr-D: n 4, sigma 6, df from the evaluated references",
                "chrf": "sacrebleu CHRF defaults (char order 6, beta 2, whitespace removed, case kept) on NFC text",
            },
        },
    )


def _coco_profile() -> Profile:
    return Profile(
        name="coco",
        tokenize=coco_tokenize,
        metrics=("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider_d"),
        scale=1.0,
        info={
            "tokenizer": "Stanford PTBTokenizer 3.4.1 -lowerCase, reimplemented in Python (vipet.eval.ptb), "
            "then pycocoevalcap's PUNCTUATIONS removed",
            "unicode_normalization": "NFC",
            "lowercase": True,
            "punctuation": "removed (pycocoevalcap list; -lrb-/-rrb- kept as pycocoevalcap keeps them)",
            "scale": "native (BLEU/ROUGE 0-1, CIDEr-D 0-10)",
            "reproduces": "pycocoevalcap Bleu(4) (closest ref length, 1e-15/1e-9 epsilons), Rouge (beta 1.2), Cider (CIDEr-D)",
        },
    )


def _vipet_vlm_profile() -> Profile:
    return Profile(
        name="vipet-vlm",
        tokenize=whitespace_tokenize,
        metrics=("bleu_4", "rouge_1", "rouge_l"),
        scale=100.0,
        info={
            "tokenizer": "BLEU: str.split() (case and punctuation kept); ROUGE: rouge_score default tokenizer, no stemmer",
            "unicode_normalization": "none (as the prior work)",
            "lowercase": "ROUGE only",
            "punctuation": "kept for BLEU; removed with every non-[a-z0-9] character for ROUGE",
            "scale": "0-100",
            "reproduces": "nltk corpus_bleu(weights=(0.25,)*4, SmoothingFunction().method4); "
            "rouge_score RougeScorer(['rouge1','rougeL'], use_stemmer=False) F1 averaged per sample",
            "warning": "rouge_score's tokenizer drops Vietnamese letters with diacritics; use for comparison with published numbers only",
        },
    )


def _english_default_profile() -> Profile:
    base = _default_profile(False)
    info = {key: value for key, value in base.info.items() if key not in ("tokenizer_info", "word_segmentation")}
    info.update({"tokenizer": "PTB lexer (vipet.eval.ptb, Stanford PTBTokenizer 3.4.1 rules), lower-cased",
                 "language": "en"})
    return Profile(name="default", tokenize=english_tokenize, metrics=base.metrics, scale=base.scale, info=info)


def get_profile(name: str, word_segmentation: bool = False, language: str = "vi") -> Profile:
    """The profile called `name` for reports in `language` (`LANGUAGES`), with its provenance
    (including library versions) in `info`; English is recorded there, Vietnamese keeps its bytes."""
    if language not in LANGUAGES:
        raise EvalError(f"unknown report language {language!r}; choose one of {', '.join(LANGUAGES)}")
    if language == "en" and word_segmentation:
        raise EvalError("word segmentation is for Vietnamese; English reports are tokenised by the PTB rules")
    if name == "default" and language == "en":
        profile = _english_default_profile()
    elif name == "default":
        profile = _default_profile(word_segmentation)
    elif name == "coco":
        profile = _coco_profile()
    elif name == "vipet-vlm":
        profile = _vipet_vlm_profile()
    else:
        raise EvalError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    profile.info.update({"name": profile.name, "metrics": list(profile.metrics), "libraries": library_versions()})
    if language == "en":
        profile.info["language"] = "en"
    return profile
