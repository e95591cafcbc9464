"""BLEU-1..4 (corpus), three conventions: coco-caption, standard, and NLTK corpus_bleu + method4.

All three are functions of per-sample integer statistics (clipped n-gram matches, hypothesis
n-gram counts, hypothesis length, closest reference length), so the corpus score is a function
of their column sums and a bootstrap resample is one matrix product.

- `coco`: pycocoevalcap `Bleu(4)` exactly: closest reference length (ties -> the shorter),
  `(correct + 1e-15) / (guess + 1e-9)` precisions and the brevity penalty
  `exp(1 - (ref + 1e-9) / (hyp + 1e-15))` when the hypothesis is shorter.
- `standard`: the same statistics without the epsilons (Papineni et al.): BLEU-n is 0 as soon
  as one precision up to n is 0, and an empty corpus of hypotheses scores 0.
- `nltk`: NLTK 3.x `corpus_bleu(weights=(.25,)*4, smoothing_function=SmoothingFunction().method4)`
  including its quirks: per-sentence precision denominators floored at 1, a zero score when no
  unigram matches, and method-4 smoothing driven by the TOTAL hypothesis length.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from vipet.eval.ngrams import NgramCounts, TokenCorpus, count_ngrams, encode_texts, max_ref_matches, sample_chunks
from vipet.eval.packed_ngrams import clipped_matches

MAX_ORDER = 4
_TINY = 1e-15
_SMALL = 1e-9
_NLTK_K = 5  # SmoothingFunction(k=5) default
CHUNK_TOKENS = 32_768  # tokens per chunk when BLEU counts its own n-grams (fits the CPU caches; fastest measured)


def closest_ref_lengths(corpus: TokenCorpus) -> np.ndarray:
    """Per sample, the reference length closest to the hypothesis length (ties: the shorter)."""
    hyp_len = corpus.hyp_lengths[corpus.ref_owner]
    ref_len = corpus.ref_lengths
    # Sort references by (owner, |ref - hyp|, ref) and keep the first of each owner.
    order = np.lexsort((ref_len, np.abs(ref_len - hyp_len), corpus.ref_owner))
    owners = corpus.ref_owner[order]
    first = np.r_[True, owners[1:] != owners[:-1]]
    closest = np.zeros(corpus.n_samples, dtype=np.int64)
    closest[owners[first]] = ref_len[order][first]
    return closest


def bleu_stats(corpus: TokenCorpus, max_order: int = MAX_ORDER, counts: NgramCounts | None = None) -> np.ndarray:
    """(N, 2*max_order + 2) int64: correct_1..n, guess_1..n, hyp_len, closest_ref_len per sample."""
    if counts is None or counts.max_order != max_order:
        # Counted on its own, chunk by chunk (the statistics are per sample, so they do not change),
        # all orders from one sort of packed keys where they fit in 63 bits.
        parts = []
        for chunk in sample_chunks(corpus, CHUNK_TOKENS):
            packed = clipped_matches(chunk, max_order)
            parts.append(packed if packed is not None else max_ref_matches(chunk, count_ngrams(chunk, max_order)))
        matches = np.concatenate(parts)
    else:
        matches = max_ref_matches(corpus, counts)
    hyp_len = corpus.hyp_lengths
    guess = np.maximum(0, hyp_len[:, None] - np.arange(max_order)[None, :])
    return np.column_stack([matches, guess, hyp_len, closest_ref_lengths(corpus)]).astype(np.int64)


def bleu_from_stats(summed: np.ndarray, convention: str = "coco", max_order: int = MAX_ORDER) -> np.ndarray:
    """BLEU-1..n from summed statistics; `summed` is (..., 2n+2), result (..., n)."""
    summed = np.asarray(summed, dtype=np.float64)
    correct = summed[..., :max_order]
    guess = summed[..., max_order : 2 * max_order]
    hyp_len = summed[..., 2 * max_order]
    ref_len = summed[..., 2 * max_order + 1]
    if convention == "coco":
        log_p = np.log((correct + _TINY) / (guess + _SMALL))
        ratio = (hyp_len + _TINY) / (ref_len + _SMALL)
        with np.errstate(divide="ignore"):
            log_bp = np.where(ratio < 1, 1 - 1 / ratio, 0.0)
        cumulative = np.cumsum(log_p, axis=-1) / np.arange(1, max_order + 1)
        return np.exp(cumulative) * np.exp(log_bp)[..., None]
    if convention == "standard":
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(guess > 0, correct / np.maximum(guess, 1), 0.0)
            log_p = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), -np.inf)
            cumulative = np.cumsum(log_p, axis=-1) / np.arange(1, max_order + 1)
            bp = np.where(hyp_len > ref_len, 1.0, np.where(hyp_len > 0, np.exp(1 - ref_len / np.maximum(hyp_len, 1)), 0.0))
            return np.where(np.isfinite(cumulative), np.exp(cumulative), 0.0) * bp[..., None]
    raise ValueError(f"unknown BLEU convention {convention!r} (coco, standard)")


def nltk_bleu_stats(corpus: TokenCorpus, max_order: int = MAX_ORDER, counts: NgramCounts | None = None) -> np.ndarray:
    """(N, 2n+2): NLTK numerators, denominators (floored at 1 per sentence), hyp_len, closest ref."""
    stats = bleu_stats(corpus, max_order, counts)
    stats[:, max_order : 2 * max_order] = np.maximum(1, stats[:, max_order : 2 * max_order])
    return stats


def nltk_bleu4_from_stats(summed: np.ndarray, max_order: int = MAX_ORDER) -> np.ndarray:
    """NLTK corpus_bleu with method4 from summed statistics; (..., 2n+2) -> (...)."""
    summed = np.asarray(summed, dtype=np.float64)
    flat = summed.reshape(-1, summed.shape[-1])
    out = np.array([_nltk_bleu_row(row, max_order) for row in flat])
    return out.reshape(summed.shape[:-1])


def _nltk_bleu_row(row: np.ndarray, max_order: int) -> float:
    """One corpus score with NLTK's arithmetic (Fractions read as floats, math.fsum, method4)."""
    numerators = [int(round(x)) for x in row[:max_order]]
    denominators = [int(round(x)) for x in row[max_order : 2 * max_order]]
    hyp_len, ref_len = int(round(row[2 * max_order])), int(round(row[2 * max_order + 1]))
    if numerators[0] == 0:
        return 0.0
    if hyp_len > ref_len:
        bp = 1.0
    elif hyp_len == 0:
        bp = 0.0
    else:
        bp = math.exp(1 - ref_len / hyp_len)
    precisions: list[float] = []
    increment = 1
    for numerator, denominator in zip(numerators, denominators):
        if numerator == 0 and hyp_len > 1:
            smoothed = 1 / (2**increment * _NLTK_K / math.log(hyp_len))
            precisions.append(smoothed / denominator)
            increment += 1
        else:
            precisions.append(numerator / denominator)
    weight = 1.0 / max_order
    return bp * math.exp(math.fsum(weight * math.log(p) for p in precisions if p > 0))


def _sample_spans(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> list[tuple[int, int]]:
    """(start, stop) runs of samples holding about CHUNK_TOKENS tokens of text (a token and its
    space take ~4.6 characters in the real reports; an underestimate only makes smaller chunks,
    and `bleu_stats` cuts a chunk that is too large again)."""
    chars = CHUNK_TOKENS * 5
    sizes = np.cumsum([len(h) + sum(map(len, r)) for h, r in zip(hyps, refs)])
    if len(sizes) == 0:
        return [(0, 0)]
    cuts = np.unique(np.r_[0, np.searchsorted(sizes, np.arange(chars, int(sizes[-1]), chars), side="right"), len(sizes)])
    return list(zip(cuts[:-1].tolist(), cuts[1:].tolist()))


def per_sample_coco_bleu(stats: np.ndarray, max_order: int = MAX_ORDER) -> np.ndarray:
    """pycocoevalcap's per-image BLEU list (its second return value), shape (N, n)."""
    return bleu_from_stats(stats, "coco", max_order)


def compute_score(
    gts: Mapping[object, Sequence[str]], res: Mapping[object, Sequence[str]], n: int = MAX_ORDER
) -> tuple[list[float], np.ndarray]:
    """pycocoevalcap-style entry point on pre-tokenised, space-joined strings (coco convention).

    Returns (corpus BLEU-1..n, per-sample BLEU array of shape (N, n)).
    """
    ids = list(gts.keys())
    if set(ids) != set(res.keys()):
        raise ValueError("gts and res must have the same ids")
    hyps, refs = [res[i][0] for i in ids], [gts[i] for i in ids]
    # Per-sample statistics need no corpus-wide vocabulary: each chunk of samples is encoded and
    # counted on its own, so every array stays in the CPU caches.
    stats = np.concatenate([bleu_stats(encode_texts(hyps[a:b], refs[a:b]), n) for a, b in _sample_spans(hyps, refs)])
    return list(bleu_from_stats(stats.sum(axis=0), "coco", n)), per_sample_coco_bleu(stats, n)
