"""BLEU's clipped n-gram matches of every sample, all orders from ONE sort of packed n-gram keys.

BLEU needs, per sample and order, the hypothesis n-gram counts clipped by their largest count in
one reference: sum over the sample's grams of min(hyp count, max over references of the count).
`vipet.eval.ngrams.count_ngrams` builds the full n-gram table (one sort per order, shared with
CIDEr and ROUGE); BLEU on its own needs less. Every token position gets one integer key packing
(sample, the max_order tokens from it, which sequence of the sample it is in): sorted, the keys
of one (sample, k-gram) are contiguous for every k at once, because a k-gram is a prefix of the
key. So one sort of plain integers (no positions carried) serves all orders, and each order's
counts are run lengths read off the sorted keys at the points where the k-gram prefix changes.

Each sequence is followed by an end marker, one value for hypotheses and another for references,
so a window running past the end of a sequence never equals a window of the other side: it can
only group with windows of its own side, whose clipped count is 0. Keys take
bits(samples) + max_order * bits(vocabulary + 2) + bits(references per sample + 1) bits; when that
exceeds 63 (a chunk with a very large vocabulary), `clipped_matches` returns None and the caller
counts with `count_ngrams`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vipet.eval.ngrams import TokenCorpus


def _bits(largest: int) -> int:
    """Bits to hold the values 0..largest."""
    return max(int(largest).bit_length(), 1)


def clipped_matches(corpus: TokenCorpus, max_order: int) -> np.ndarray | None:
    """(N, max_order) int64: per sample, hypothesis n-grams clipped by their largest count in one
    reference, orders 1..max_order; None when the packed key does not fit in 63 bits."""
    n, n_refs = corpus.n_samples, corpus.n_refs
    if n == 0:
        return np.zeros((0, max_order), dtype=np.int64)
    lengths = corpus.lengths
    ref_owner = corpus.ref_owner
    first_ref = np.searchsorted(ref_owner, np.arange(n, dtype=np.int64))
    ref_slot = np.arange(1, n_refs + 1, dtype=np.int64) - first_ref[ref_owner]  # 1.. within its sample
    max_refs = int(ref_slot.max())
    vocab = corpus.vocab_size
    hyp_end, ref_end = vocab, vocab + 1
    token_bits, slot_bits = _bits(ref_end), _bits(max_refs)
    sample_shift = max_order * token_bits + slot_bits
    if sample_shift + _bits(n - 1) > 63:
        # A chunk of a corpus keeps the corpus's vocabulary: numbered afresh, it may fit.
        used, local_ids = np.unique(corpus.ids, return_inverse=True)
        if len(used) >= vocab:
            return None
        return clipped_matches(replace(corpus, ids=local_ids.astype(np.int64), vocab_size=max(len(used), 1)), max_order)
    n_seq = n + n_refs
    # Every sequence followed by its end marker, then max_order - 1 more markers to pad the windows.
    laid_lengths = lengths + 1
    total = int(laid_lengths.sum())
    laid = np.empty(total + max_order - 1, dtype=np.int64)
    token_at = np.repeat(np.arange(n_seq, dtype=np.int64), lengths)
    token_at += np.arange(len(corpus.ids), dtype=np.int64)
    laid[token_at] = corpus.ids
    ends = np.cumsum(laid_lengths)
    ends -= 1
    laid[ends[:n]] = hyp_end
    laid[ends[n:]] = ref_end
    laid[total:] = ref_end
    # key = sample | t_0 | ... | t_{max_order - 1} | slot, high bits to low. One work buffer for
    # every temporary: on a busy machine fresh arrays (page faults) cost more than the arithmetic.
    head = np.concatenate([np.arange(n, dtype=np.int64) << sample_shift, (ref_owner << sample_shift) | ref_slot])
    key = np.repeat(head, laid_lengths)
    del token_at
    work = np.empty(total, dtype=np.int64)
    for j in range(max_order):
        np.left_shift(laid[j : j + total], np.int64((max_order - 1 - j) * token_bits + slot_bits), out=work)
        key |= work
    del laid
    key.sort()
    # cumulative[s][i]: keys of reference slot s + 1 among the first i sorted keys
    cumulative = np.zeros((max_refs, total + 1), dtype=np.int64)
    np.bitwise_and(key, np.int64((1 << slot_bits) - 1), out=work)
    if max_refs == 1:
        np.cumsum(work, out=cumulative[0, 1:])
    else:
        for s in range(max_refs):
            np.cumsum(work == s + 1, out=cumulative[s, 1:])
    changed = work[: total - 1]
    np.bitwise_xor(key[1:], key[:-1], out=changed)  # a k-gram prefix changes between neighbours iff this reaches its lowest bit
    sample_starts = np.searchsorted(key, np.arange(n + 1, dtype=np.int64) << np.int64(sample_shift))
    del key
    if max_refs == 1:
        # One reference: in a run [a, b) with h hypothesis and r reference keys, min(h, r) is
        # ((b - a) - |h - r|) / 2, and h - r is the difference of D(i) = i - 2 * (references before i).
        balance = cumulative[0]
        balance *= -2
        balance += np.arange(total + 1, dtype=np.int64)
    out = np.zeros((n, max_order), dtype=np.int64)
    # changes[i]: the keys i and i + 1 differ in the k-gram prefix (first: the full max_order window)
    changes = np.flatnonzero(changed >= np.int64(1) << np.int64(slot_bits))
    for k in range(max_order - 1, -1, -1):
        lowest = np.int64(1) << np.int64((max_order - 1 - k) * token_bits + slot_bits)
        if k < max_order - 1:
            changes = changes[changed[changes] >= lowest]  # a shorter prefix changes at a subset of the points
        bounds = np.empty(len(changes) + 2, dtype=np.int64)  # run boundaries
        bounds[0], bounds[-1] = 0, total
        np.add(changes, 1, out=bounds[1:-1])
        if max_refs == 1:
            unmatched = np.diff(balance[bounds])
            np.abs(unmatched, out=unmatched)
            summed = np.empty(len(bounds), dtype=np.int64)
            summed[0] = 0
            np.cumsum(unmatched, out=summed[1:])
            at = np.searchsorted(bounds, sample_starts)
            out[:, k] = (np.diff(sample_starts) - np.diff(summed[at])) // 2
            continue
        best = np.zeros(len(bounds) - 1, dtype=np.int64)
        refs_in_run = np.zeros(len(bounds) - 1, dtype=np.int64)
        for per_slot in cumulative:
            in_run = np.diff(per_slot[bounds])
            np.maximum(best, in_run, out=best)
            refs_in_run += in_run
        hyp_in_run = np.diff(bounds) - refs_in_run
        clipped = np.zeros(len(best) + 1, dtype=np.int64)
        np.cumsum(np.minimum(hyp_in_run, best), out=clipped[1:])
        # Sample boundaries are run boundaries at every order: sum the runs of each sample.
        out[:, k] = np.diff(clipped[np.searchsorted(bounds, sample_starts)])
    return out
