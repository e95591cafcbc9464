"""ROUGE-1, ROUGE-2 (n-gram F) and ROUGE-L (LCS F), per sample then averaged.

ROUGE-L needs the longest common subsequence of two ~370-token reports; the reference scorers
fill a 370x370 Python table per pair. Here the LCS length comes from the bit-parallel algorithm
of Allison & Dix / Hyyrö (2004) on Python integers used as bit vectors: one pass over the
shorter sequence, a few big-integer operations per token, identical lengths.

Two F conventions:
- `f1` (rouge_score): P = LCS/|hyp|, R = LCS/|ref|, F = 2PR/(P+R), 0 when either side is empty;
  several references -> the best F.
- `coco` (pycocoevalcap `Rouge`): beta = 1.2 on the MAX precision and MAX recall over the
  references, tokens split on single spaces exactly as it does.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from vipet.eval.ngrams import NgramCounts, TokenCorpus, count_ngrams, encode_corpus, overlap

COCO_BETA = 1.2


def lcs_length(a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray) -> int:
    """Length of the longest common subsequence of two token-id sequences (bit-parallel)."""
    if len(a) == 0 or len(b) == 0:
        return 0
    if len(a) > len(b):
        a, b = b, a  # iterate over the shorter one; bits index the longer one
    masks: dict[int, int] = {}
    for position, token in enumerate(b.tolist() if isinstance(b, np.ndarray) else b):
        masks[token] = masks.get(token, 0) | (1 << position)
    full = (1 << len(b)) - 1
    row = full
    get = masks.get
    for token in a.tolist() if isinstance(a, np.ndarray) else a:
        match = get(token)
        if match:
            u = row & match
            row = ((row + u) | (row - u)) & full
    return len(b) - row.bit_count()


def lcs_per_ref(corpus: TokenCorpus) -> np.ndarray:
    """LCS length between each reference and its sample's hypothesis, shape (R,)."""
    ids, offsets, n = corpus.ids.tolist(), corpus.offsets.tolist(), corpus.n_samples
    out = np.zeros(corpus.n_refs, dtype=np.int64)
    for r, owner in enumerate(corpus.ref_owner.tolist()):
        hyp = ids[offsets[owner] : offsets[owner + 1]]
        ref = ids[offsets[n + r] : offsets[n + r + 1]]
        out[r] = lcs_length(hyp, ref)
    return out


def _f1(match: np.ndarray, hyp_total: np.ndarray, ref_total: np.ndarray, floor_at_one: bool) -> np.ndarray:
    """rouge_score's F: n-gram scores divide by max(count, 1); LCS scores are 0 for empty sides."""
    match = match.astype(np.float64)
    if floor_at_one:
        precision = match / np.maximum(hyp_total, 1)
        recall = match / np.maximum(ref_total, 1)
    else:
        empty = (hyp_total == 0) | (ref_total == 0)
        precision = np.where(empty, 0.0, match / np.maximum(hyp_total, 1))
        recall = np.where(empty, 0.0, match / np.maximum(ref_total, 1))
    denom = precision + recall
    return np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1.0), 0.0)


def best_per_sample(per_ref: np.ndarray, ref_owner: np.ndarray, n_samples: int) -> np.ndarray:
    """Max over each sample's references (references are contiguous per sample)."""
    if len(per_ref) == n_samples:
        return per_ref
    starts = np.flatnonzero(np.r_[True, ref_owner[1:] != ref_owner[:-1]])
    return np.maximum.reduceat(per_ref, starts)


def rouge_n_f1(corpus: TokenCorpus, orders: Sequence[int] = (1, 2), counts: NgramCounts | None = None) -> np.ndarray:
    """Per-sample ROUGE-N F1 for each requested order, shape (N, len(orders)); best reference."""
    counts = counts or count_ngrams(corpus, max(orders))
    stats = overlap(corpus, counts)
    hyp_total = stats.hyp_total[corpus.ref_owner]
    columns = []
    for n in orders:
        k = n - 1
        per_ref = _f1(stats.per_ref_match[:, k], hyp_total[:, k], stats.ref_total[:, k], floor_at_one=True)
        columns.append(best_per_sample(per_ref, corpus.ref_owner, corpus.n_samples))
    return np.column_stack(columns) if columns else np.zeros((corpus.n_samples, 0))


def rouge_l_f1(corpus: TokenCorpus, lcs: np.ndarray | None = None) -> np.ndarray:
    """Per-sample ROUGE-L F1 (rouge_score convention), best reference."""
    lcs = lcs_per_ref(corpus) if lcs is None else lcs
    per_ref = _f1(lcs, corpus.hyp_lengths[corpus.ref_owner], corpus.ref_lengths, floor_at_one=False)
    return best_per_sample(per_ref, corpus.ref_owner, corpus.n_samples)


def rouge_l_coco(corpus: TokenCorpus, lcs: np.ndarray | None = None, beta: float = COCO_BETA) -> np.ndarray:
    """Per-sample ROUGE-L of pycocoevalcap: F-beta of the max precision and the max recall.

    pycocoevalcap splits on single spaces; tokenised text has single spaces, so `split()` tokens
    give the same lengths except for an empty string, handled as its one empty token.
    """
    lcs = lcs_per_ref(corpus) if lcs is None else lcs
    # pycocoevalcap splits "" into [""]: an empty side has length 1 and (against non-empty text) LCS 0.
    hyp_len = np.maximum(corpus.hyp_lengths[corpus.ref_owner], 1).astype(np.float64)
    ref_len = np.maximum(corpus.ref_lengths, 1).astype(np.float64)
    precision = best_per_sample(lcs / hyp_len, corpus.ref_owner, corpus.n_samples)
    recall = best_per_sample(lcs / ref_len, corpus.ref_owner, corpus.n_samples)
    ok = (precision != 0) & (recall != 0)
    denom = np.where(ok, recall + beta**2 * precision, 1.0)
    return np.where(ok, ((1 + beta**2) * precision * recall) / denom, 0.0)


def compute_score(gts: Mapping[object, Sequence[str]], res: Mapping[object, Sequence[str]]) -> tuple[float, np.ndarray]:
    """pycocoevalcap-style ROUGE-L on pre-tokenised strings: (mean, per-sample array)."""
    ids = list(gts.keys())
    if set(ids) != set(res.keys()):
        raise ValueError("gts and res must have the same ids")
    corpus = encode_corpus([res[i][0].split(" ") for i in ids], [[r.split(" ") for r in gts[i]] for i in ids])
    scores = rouge_l_coco(corpus)
    return float(np.mean(scores)), scores
