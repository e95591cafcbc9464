"""METEOR with exact matching only, NLTK's formula and alignment (alpha 0.9, beta 3, gamma 0.5).

Why exact only: METEOR's stem and synonym stages use English resources (Porter stemmer,
WordNet). Vietnamese syllables have no inflection to stem and WordNet has no Vietnamese, so
those stages could only add spurious English matches; dropping them makes the metric offline,
language-neutral and reproducible. The result equals NLTK's `meteor_score` called with an
identity stemmer and an empty WordNet (the tests do exactly that).

Alignment, as NLTK does it: hypothesis words are visited from last to first and each takes the
LAST still-unmatched reference occurrence of the same word. Equivalently, for every word, the
k-th last hypothesis occurrence pairs with the k-th last reference occurrence, which is how it is
computed here (no quadratic scan). Then P = m/|hyp|, R = m/|ref|,
Fmean = PR / (alpha P + (1 - alpha) R), penalty = gamma (chunks/m)^beta, score = (1 - penalty)
Fmean; several references -> the best score; corpus METEOR = mean over samples.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

import numpy as np

from vipet.eval.ngrams import TokenCorpus, encode_texts

ALPHA = 0.9
BETA = 3.0
GAMMA = 0.5


def meteor_pair(hyp: Sequence[int], ref: Sequence[int], alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA) -> float:
    """METEOR of one hypothesis against one reference (token ids or strings)."""
    if len(hyp) == 0 or len(ref) == 0:
        return 0.0
    ref_positions: dict[object, list[int]] = defaultdict(list)
    for j, token in enumerate(ref):
        ref_positions[token].append(j)
    hyp_positions: dict[object, list[int]] = defaultdict(list)
    for i, token in enumerate(hyp):
        if token in ref_positions:
            hyp_positions[token].append(i)
    pairs: list[tuple[int, int]] = []
    for token, hyp_list in hyp_positions.items():
        ref_list = ref_positions[token]
        k = min(len(hyp_list), len(ref_list))
        pairs.extend(zip(hyp_list[len(hyp_list) - k :], ref_list[len(ref_list) - k :]))
    matches = len(pairs)
    if matches == 0:
        return 0.0
    pairs.sort()
    chunks = 1
    for (h0, r0), (h1, r1) in zip(pairs, pairs[1:]):
        if not (h1 == h0 + 1 and r1 == r0 + 1):
            chunks += 1
    precision = matches / len(hyp)
    recall = matches / len(ref)
    fmean = (precision * recall) / (alpha * precision + (1 - alpha) * recall)
    penalty = gamma * (chunks / matches) ** beta
    return (1 - penalty) * fmean


def meteor(corpus: TokenCorpus, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA) -> np.ndarray:
    """Per-sample METEOR (best reference), shape (N,)."""
    ids, offsets, n = corpus.ids.tolist(), corpus.offsets.tolist(), corpus.n_samples
    best = np.zeros(n)
    seen = np.zeros(n, dtype=bool)
    for r, owner in enumerate(corpus.ref_owner.tolist()):
        score = meteor_pair(ids[offsets[owner] : offsets[owner + 1]], ids[offsets[n + r] : offsets[n + r + 1]], alpha, beta, gamma)
        if not seen[owner] or score > best[owner]:
            best[owner], seen[owner] = score, True
    return best


def compute_score(gts: Mapping[object, Sequence[str]], res: Mapping[object, Sequence[str]]) -> tuple[float, np.ndarray]:
    """pycocoevalcap-style entry point on pre-tokenised strings: (mean, per-sample)."""
    ids = list(gts.keys())
    if set(ids) != set(res.keys()):
        raise ValueError("gts and res must have the same ids")
    corpus = encode_texts([res[i][0] for i in ids], [gts[i] for i in ids])
    scores = meteor(corpus)
    return float(np.mean(scores)) if len(scores) else 0.0, scores
