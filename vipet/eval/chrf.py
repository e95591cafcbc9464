"""chrF with sacrebleu's defaults (character 6-grams, beta 2, whitespace removed, case kept).

Characters are Python string characters (code points), so the text must be normalised (NFC)
before scoring, as every profile does; sacrebleu scores the same strings to the same number.
Statistics per sample are, for each order 1..6, (hypothesis n-grams, reference n-grams, matches)
with sacrebleu's rule that the hypothesis count is reported as 0 when the reference has no
n-gram of that order; with several references the one with the best sentence chrF is kept
(first on ties). The corpus score is computed from the summed statistics: precision and recall
averaged over the orders where both sides have n-grams ("effective order"), then F-beta, x100.
The characters are scored with the same n-gram machinery as the word metrics.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from vipet.eval.ngrams import count_ngrams, encode_corpus, overlap

CHAR_ORDER = 6
BETA = 2.0


def _chars(text: str) -> list[str]:
    return list("".join(text.split()))


def chrf_stats(hyps: Sequence[str], refs: Sequence[Sequence[str]], order: int = CHAR_ORDER, beta: float = BETA) -> np.ndarray:
    """(N, 3*order) int64: hyp, ref, match counts per character order, best reference per sample."""
    corpus = encode_corpus([_chars(h) for h in hyps], [[_chars(r) for r in ref_list] for ref_list in refs])
    stats = overlap(corpus, count_ngrams(corpus, order))
    ref_total = stats.ref_total
    hyp_total = np.where(ref_total > 0, stats.hyp_total[corpus.ref_owner], 0)
    per_ref = np.stack([hyp_total, ref_total, stats.per_ref_match], axis=-1).reshape(corpus.n_refs, 3 * order)
    if corpus.n_refs == corpus.n_samples:
        return per_ref.astype(np.int64)
    f_scores = chrf_from_stats(per_ref, order, beta)
    best = np.zeros(corpus.n_samples, dtype=np.int64)
    best_f = np.full(corpus.n_samples, -1.0)
    for r, owner in enumerate(corpus.ref_owner.tolist()):
        if f_scores[r] > best_f[owner]:
            best_f[owner], best[owner] = f_scores[r], r
    return per_ref[best].astype(np.int64)


def chrf_from_stats(summed: np.ndarray, order: int = CHAR_ORDER, beta: float = BETA) -> np.ndarray:
    """chrF (0..100) from summed statistics, (..., 3*order) -> (...), sacrebleu's arithmetic."""
    summed = np.asarray(summed, dtype=np.float64)
    n_hyp = summed[..., 0::3]
    n_ref = summed[..., 1::3]
    n_match = summed[..., 2::3]
    effective = (n_hyp > 0) & (n_ref > 0)
    precision = np.where(effective, n_match / np.where(n_hyp > 0, n_hyp, 1.0), 0.0)
    recall = np.where(effective, n_match / np.where(n_ref > 0, n_ref, 1.0), 0.0)
    count = effective.sum(axis=-1)
    avg_p = np.where(count > 0, precision.sum(axis=-1) / np.maximum(count, 1), 0.0)
    avg_r = np.where(count > 0, recall.sum(axis=-1) / np.maximum(count, 1), 0.0)
    factor = beta**2
    denom = factor * avg_p + avg_r
    score = np.where(avg_p + avg_r > 0, (1 + factor) * avg_p * avg_r / np.where(denom > 0, denom, 1.0), 0.0)
    return 100 * score


def corpus_chrf(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> float:
    """Corpus chrF of hypotheses against their reference lists (sacrebleu `corpus_score`)."""
    if not hyps:
        return 0.0
    return float(chrf_from_stats(chrf_stats(hyps, refs).sum(axis=0)))
