"""CIDEr-D exactly as pycocoevalcap's `Cider` computes it, vectorised over the whole corpus.

pycocoevalcap conventions kept on purpose (they define the published numbers):
- n = 4, sigma = 6; document frequency = number of SAMPLES whose references contain the n-gram,
  counted over the references of the evaluated corpus (so the score of one sample depends on the
  corpus it is evaluated in); idf = log(N) - log(max(1, df)); N = number of samples (one sample
  scores 0 everywhere since log(1) = 0);
- tf-idf vectors per order, the hypothesis value clipped by the reference value in the dot
  product (`min(h, r) * r`), cosine by the two norms when both are non-zero;
- the Gaussian length penalty uses the number of BIGRAMS of each side as its "length";
- per sample: mean over the 4 orders of the sum over references, divided by the number of
  references, times 10; corpus score = mean over samples.

For bootstrap intervals the idf is fixed from the full corpus and samples are resampled
(per-sample scores averaged), which is the standard practice for corpus-dependent metrics.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from vipet.eval.ngrams import NgramCounts, TokenCorpus, count_ngrams, document_frequency, encode_corpus, gather, lookup

N_ORDER = 4
SIGMA = 6.0


def cider_d(corpus: TokenCorpus, counts: NgramCounts | None = None, n: int = N_ORDER, sigma: float = SIGMA) -> np.ndarray:
    """Per-sample CIDEr-D scores, shape (N,)."""
    counts = counts if counts is not None and counts.max_order == n else count_ngrams(corpus, n)
    n_samples = corpus.n_samples
    n_seq = n_samples + corpus.n_refs
    df = document_frequency(corpus, counts)
    log_n = np.log(float(n_samples)) if n_samples > 0 else 0.0
    idf = log_n - np.log(np.maximum(1.0, df.astype(np.float64)))
    value = counts.count.astype(np.float64) * idf[counts.gram]
    order = counts.order.astype(np.int64)
    norms = np.sqrt(np.bincount(counts.seq * n + order, weights=value**2, minlength=n_seq * n)).reshape(n_seq, n)
    bigram_len = np.bincount(
        counts.seq, weights=np.where(order == 1, counts.count, 0), minlength=n_seq
    ).astype(np.float64)

    is_hyp = counts.seq < n_samples
    hyp_rows, ref_rows = np.flatnonzero(is_hyp), np.flatnonzero(~is_hyp)
    g = np.int64(counts.n_grams)
    hyp_key = counts.seq[hyp_rows] * g + counts.gram[hyp_rows]
    ref_index = counts.seq[ref_rows] - n_samples
    owner = corpus.ref_owner[ref_index]
    query = owner * g + counts.gram[ref_rows]
    hyp_value = gather(value[hyp_rows], lookup(hyp_key, query))
    ref_value = value[ref_rows]
    dot = np.bincount(
        ref_index * n + order[ref_rows], weights=np.minimum(hyp_value, ref_value) * ref_value, minlength=corpus.n_refs * n
    ).reshape(corpus.n_refs, n)

    hyp_norm = norms[:n_samples][corpus.ref_owner]
    ref_norm = norms[n_samples:]
    both = (hyp_norm != 0) & (ref_norm != 0)
    cosine = np.where(both, dot / np.where(both, hyp_norm * ref_norm, 1.0), dot)
    delta = bigram_len[:n_samples][corpus.ref_owner] - bigram_len[n_samples:]
    penalised = cosine * np.exp(-(delta**2) / (2 * sigma**2))[:, None]
    if corpus.n_refs == n_samples:  # one reference each: refs are in sample order
        per_sample_orders = penalised
    else:
        per_sample_orders = np.zeros((n_samples, n))
        np.add.at(per_sample_orders, corpus.ref_owner, penalised)
    return per_sample_orders.mean(axis=1) / corpus.refs_per_sample * 10.0


def compute_score(
    gts: Mapping[object, Sequence[str]], res: Mapping[object, Sequence[str]], n: int = N_ORDER, sigma: float = SIGMA
) -> tuple[float, np.ndarray]:
    """pycocoevalcap-style entry point on pre-tokenised, space-joined strings: (mean, per-sample)."""
    ids = list(gts.keys())
    if set(ids) != set(res.keys()):
        raise ValueError("gts and res must have the same ids")
    corpus = encode_corpus([res[i][0].split() for i in ids], [[r.split() for r in gts[i]] for i in ids])
    scores = cider_d(corpus, n=n, sigma=sigma)
    return float(np.mean(scores)), scores
