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

A large corpus is scored in chunks of samples (`vipet.eval.nlg`) so that memory follows the
chunk, not the corpus: `DocumentFrequency` counts the document frequencies of the WHOLE corpus
chunk by chunk and gives each chunk's `cider_d` the frequencies of its n-grams, so a chunk
scores exactly as it would inside the whole corpus (same idf, same N, same order of every sum).
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from vipet.eval.ngrams import (NgramCounts, TokenCorpus, count_ngrams, dense_ids, document_frequency, encode_texts,
                               gram_groups, lookup, sorted_counts)

N_ORDER = 4
SIGMA = 6.0


def cider_d(corpus: TokenCorpus, counts: NgramCounts | None = None, n: int = N_ORDER, sigma: float = SIGMA,
            frequencies: "DocumentFrequency | None" = None) -> np.ndarray:
    """Per-sample CIDEr-D scores, shape (N,); with `frequencies`, `corpus` is a chunk of the
    corpus they were counted on and its idf is that corpus's."""
    counts = counts if counts is not None and counts.max_order == n else count_ngrams(corpus, n)
    n_samples = corpus.n_samples
    n_seq = n_samples + corpus.n_refs
    groups = gram_groups(corpus, counts)
    if frequencies is None:
        df = document_frequency(corpus, counts, groups)
        n_documents = n_samples
    else:
        df = frequencies.of_chunk(corpus, counts)
        n_documents = frequencies.n_samples
    log_n = np.log(float(n_documents)) if n_documents > 0 else 0.0
    idf = log_n - np.log(np.maximum(1.0, df.astype(np.float64)))
    value = counts.count.astype(np.float64) * idf[counts.gram]
    order = counts.order.astype(np.int64)
    # bincount adds its weights in row order; a sequence's rows come in increasing gram order,
    # so every norm and dot product is summed in the same order as a (sequence, gram)-sorted table.
    norms = np.sqrt(np.bincount(counts.seq * n + order, weights=value**2, minlength=n_seq * n)).reshape(n_seq, n)
    bigram_len = (np.maximum(corpus.lengths - 1, 0) if n > 1 else np.zeros(n_seq, dtype=np.int64)).astype(np.float64)

    first = groups.first_row
    hyp_value_of_group = np.where(groups.is_hyp_row[first], value[first], 0.0)
    ref_rows = np.flatnonzero(~groups.is_hyp_row)
    ref_index = counts.seq[ref_rows] - n_samples
    hyp_value = hyp_value_of_group[groups.group_of_row[ref_rows]]
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


def _chained_ids(corpus: TokenCorpus, max_order: int, tables: Sequence[np.ndarray]) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """For each 0-based order k: (positions, chunk-local gram ids, corpus-wide gram keys) of every n-gram.

    The local ids are the ones `count_ngrams` gives the same corpus (the same construction: dense
    ids of (previous id, next token)), so they index its `NgramCounts`. The corpus-wide key of an
    order-k gram is (row of its prefix in `tables[k - 1]`) * vocab_size + last token, the token id
    itself for k = 0, and -1 when the prefix is not in the table (then no reference holds it).
    `tables[k]` is the sorted array of the corpus-wide keys of order k (only needed for k < max_order - 1).
    """
    ids, vocab = corpus.ids, np.int64(corpus.vocab_size)
    total = len(ids)
    seq_of_pos = np.repeat(np.arange(len(corpus.lengths), dtype=np.int64), corpus.lengths)
    prev_pos = np.arange(total, dtype=np.int64)
    prev_local, prev_global = ids, ids
    for k in range(max_order):
        if k == 0:
            pos, local, keys = prev_pos, ids, ids
        else:
            keep = prev_pos + k < total
            pos, base, row = prev_pos[keep], prev_local[keep], prev_global[keep]
            same = seq_of_pos[pos + k] == seq_of_pos[pos]
            pos, base, row = pos[same], base[same], row[same]
            local, _ = dense_ids(base * vocab + ids[pos + k])
            keys = np.where(row >= 0, row * vocab + ids[pos + k], -1)
        yield k, pos, local, keys
        if k + 1 < max_order:
            prev_global = keys if k == 0 else np.where(keys >= 0, lookup(tables[k], keys), -1)
            prev_local, prev_pos = local, pos


class DocumentFrequency:
    """CIDEr-D's document frequency (samples whose references hold an n-gram) of a corpus given as chunks.

    `chunks()` yields the corpus as `TokenCorpus` chunks of whole samples sharing one vocabulary;
    it is read `n - 1` times (order k needs the table of order k - 1), each chunk on its own, so
    memory holds one chunk and the tables of distinct reference n-grams, never the whole corpus's
    n-gram rows.
    """

    def __init__(self, chunks: Callable[[], Iterable[TokenCorpus]], vocab_size: int, n_samples: int, n: int = N_ORDER):
        self.n, self.n_samples, self.vocab_size = n, n_samples, vocab_size
        self.tables: list[np.ndarray] = [np.arange(vocab_size, dtype=np.int64)]
        self.frequencies: list[np.ndarray] = []
        for k in range(n):
            if k > 0 and len(self.tables[k - 1]) * vocab_size >= 2**62:
                raise ValueError("too many distinct n-grams for 64-bit CIDEr keys")
            keys, counts = self._count_order(chunks(), k)
            if k == 0:
                frequency = np.zeros(vocab_size, dtype=np.int64)
                frequency[keys] = counts
                self.frequencies.append(frequency)
            else:
                self.tables.append(keys)
                self.frequencies.append(counts)

    def _count_order(self, chunks: Iterable[TokenCorpus], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Sorted distinct reference keys of order k with the number of samples holding each."""
        merged_keys, merged_counts = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        pending: list[tuple[np.ndarray, np.ndarray]] = []
        pending_rows = 0
        for corpus in chunks:
            seq_of_pos = np.repeat(np.arange(len(corpus.lengths), dtype=np.int64), corpus.lengths)
            for order, pos, _, keys in _chained_ids(corpus, k + 1, self.tables):
                if order != k:
                    continue
                seq = seq_of_pos[pos]
                is_ref = (seq >= corpus.n_samples) & (keys >= 0)
                owner = corpus.ref_owner[seq[is_ref] - corpus.n_samples]
                ref_keys = keys[is_ref]
                order_rows = np.lexsort((ref_keys, owner))
                owner, ref_keys = owner[order_rows], ref_keys[order_rows]
                first = np.r_[True, (owner[1:] != owner[:-1]) | (ref_keys[1:] != ref_keys[:-1])] if len(owner) else owner.astype(bool)
                pending.append(sorted_counts(ref_keys[first]))
                pending_rows += len(pending[-1][0])
            if pending_rows > 2 * len(merged_keys) + 65536:
                merged_keys, merged_counts = _merge_counts([(merged_keys, merged_counts), *pending])
                pending, pending_rows = [], 0
        return _merge_counts([(merged_keys, merged_counts), *pending])

    def of_chunk(self, corpus: TokenCorpus, counts: NgramCounts) -> np.ndarray:
        """The document frequency of each gram id of `counts` (a chunk of this corpus): what
        `document_frequency` gives for the same ids on the whole corpus."""
        if corpus.vocab_size != self.vocab_size or counts.max_order != self.n:
            raise ValueError("chunk and document frequencies do not share a vocabulary or an n-gram order")
        df = np.zeros(counts.n_grams, dtype=np.int64)
        for k, _, local, keys in _chained_ids(corpus, self.n, self.tables):
            start = counts.order_starts[k]
            if k == 0:
                df[start : start + self.vocab_size] = self.frequencies[0]
                continue
            row = np.where(keys >= 0, lookup(self.tables[k], keys), -1)
            found = row >= 0
            df[start + local[found]] = self.frequencies[k][row[found]]
        return df


def _merge_counts(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys (sorted) of several (keys, counts) pairs with their counts summed."""
    keys = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    if len(keys) == 0:
        return keys.astype(np.int64), counts.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], np.add.reduceat(counts, starts).astype(np.int64)


def compute_score(
    gts: Mapping[object, Sequence[str]], res: Mapping[object, Sequence[str]], n: int = N_ORDER, sigma: float = SIGMA
) -> tuple[float, np.ndarray]:
    """pycocoevalcap-style entry point on pre-tokenised, space-joined strings: (mean, per-sample)."""
    ids = list(gts.keys())
    if set(ids) != set(res.keys()):
        raise ValueError("gts and res must have the same ids")
    corpus = encode_texts([res[i][0] for i in ids], [gts[i] for i in ids])
    scores = cider_d(corpus, n=n, sigma=sigma)
    return float(np.mean(scores)), scores
