"""Vectorised n-gram bookkeeping shared by BLEU, ROUGE-N, CIDEr-D and chrF.

The reference scorers (pycocoevalcap, NLTK, sacrebleu) build one Python dict of tuples per
sentence, which is most of their run time on 370-word reports. Here the whole corpus is encoded
once into integer arrays, every n-gram occurrence gets a dense integer id (order by order, by
re-indexing (previous n-gram id, next token) pairs), and all per-sentence counts and clipped
matches come from sorting and `searchsorted` joins. Everything downstream is integer
sums, so results equal the dict-based scorers exactly and bootstrap resamples are matrix sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Sequence

import numpy as np

Tokens = Sequence[str]


@dataclass(frozen=True)
class TokenCorpus:
    """Hypotheses and references of N samples as flat integer arrays.

    Sequences are numbered hypotheses first (0..N-1) then references (N..N+R-1); `ref_owner[r]`
    is the sample of reference r, non-decreasing, so the references of a sample are contiguous.
    """

    ids: np.ndarray  # int64, all tokens of all sequences concatenated
    offsets: np.ndarray  # int64, len = n_sequences + 1
    ref_owner: np.ndarray  # int64, len = R
    n_samples: int
    vocab_size: int

    @property
    def n_refs(self) -> int:
        return len(self.ref_owner)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def hyp_lengths(self) -> np.ndarray:
        return self.lengths[: self.n_samples]

    @property
    def ref_lengths(self) -> np.ndarray:
        return self.lengths[self.n_samples :]

    @property
    def refs_per_sample(self) -> np.ndarray:
        return np.bincount(self.ref_owner, minlength=self.n_samples)

    def sequence(self, index: int) -> np.ndarray:
        return self.ids[self.offsets[index] : self.offsets[index + 1]]


def encode_corpus(hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]]) -> TokenCorpus:
    """Integer-encode token lists (one hypothesis and one or more references per sample).

    The vocabulary is built with `dict.fromkeys` and tokens are mapped with `map`, both at C speed:
    no Python statement runs per token.
    """
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} reference lists")
    sequences: list[Tokens] = list(hyps)
    owner: list[int] = []
    for sample, ref_list in enumerate(refs):
        if len(ref_list) == 0:
            raise ValueError(f"sample {sample} has no reference")
        sequences.extend(ref_list)
        owner.extend([sample] * len(ref_list))
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    all_tokens = list(chain.from_iterable(sequences))
    vocab = {token: index for index, token in enumerate(dict.fromkeys(all_tokens))}
    ids = np.fromiter(map(vocab.__getitem__, all_tokens), dtype=np.int64, count=len(all_tokens))
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return TokenCorpus(
        ids=ids,
        offsets=offsets,
        ref_owner=np.asarray(owner, dtype=np.int64),
        n_samples=len(hyps),
        vocab_size=max(len(vocab), 1),
    )


@dataclass(frozen=True)
class NgramCounts:
    """Distinct n-grams (orders 1..max_order) of every sequence with their counts.

    Rows are sorted by (sequence, gram); gram ids are global across orders, so one id names one
    n-gram everywhere in the corpus.
    """

    seq: np.ndarray
    gram: np.ndarray
    order: np.ndarray  # 0-based order (0 = unigram)
    count: np.ndarray
    n_grams: int
    max_order: int
    order_starts: tuple[int, ...] = (0,)  # first gram id of each order

    def order_of(self, gram: np.ndarray) -> np.ndarray:
        """0-based order of gram ids."""
        return np.searchsorted(np.asarray(self.order_starts[1:], dtype=np.int64), gram, side="right")


def count_ngrams(corpus: TokenCorpus, max_order: int) -> NgramCounts:
    """Count every n-gram of every sequence, orders 1..max_order, in a few sorts."""
    lengths = corpus.lengths
    n_seq = len(lengths)
    seq_of_pos = np.repeat(np.arange(n_seq, dtype=np.int64), lengths)
    total = len(corpus.ids)
    grams_seq: list[np.ndarray] = []
    grams_id: list[np.ndarray] = []
    order_starts: list[int] = []
    offset = 0
    prev_ids = corpus.ids
    prev_pos = np.arange(total, dtype=np.int64)
    for k in range(max_order):
        if k == 0:
            pos, dense, n_unique = prev_pos, prev_ids, corpus.vocab_size
        else:
            keep = prev_pos + k < total
            pos = prev_pos[keep]
            base = prev_ids[keep]
            keep2 = seq_of_pos[pos + k] == seq_of_pos[pos]
            pos, base = pos[keep2], base[keep2]
            key = base * np.int64(corpus.vocab_size) + corpus.ids[pos + k]
            dense, n_unique = dense_ids(key)
        grams_seq.append(seq_of_pos[pos])
        grams_id.append(dense + offset)
        order_starts.append(offset)
        offset += n_unique
        prev_ids, prev_pos = dense, pos
    n_grams = max(offset, 1)
    key = np.concatenate(grams_seq) * np.int64(n_grams) + np.concatenate(grams_id)
    uniq, counts = sorted_counts(key)
    gram = uniq % n_grams
    return NgramCounts(
        seq=uniq // n_grams,
        gram=gram,
        order=(np.searchsorted(np.asarray(order_starts[1:], dtype=np.int64), gram, side="right")).astype(np.int8),
        count=counts,
        n_grams=n_grams,
        max_order=max_order,
        order_starts=tuple(order_starts),
    )


@dataclass(frozen=True)
class Overlap:
    """Hypothesis/reference n-gram statistics the metrics are built from.

    `per_ref_match[r, k]`: clipped matches of order k+1 between reference r and its sample's
    hypothesis (ROUGE-N, chrF); `max_ref_match[i, k]`: hypothesis counts clipped by the maximum
    count over the sample's references (BLEU); `hyp_total`/`ref_total`: n-gram occurrences per
    sequence and order.
    """

    per_ref_match: np.ndarray
    max_ref_match: np.ndarray
    hyp_total: np.ndarray
    ref_total: np.ndarray


def _split(counts: NgramCounts, n_samples: int) -> tuple[slice, slice]:
    """Rows of the hypotheses, then of the references (rows are sorted by sequence)."""
    first_ref = int(np.searchsorted(counts.seq, n_samples))
    return slice(0, first_ref), slice(first_ref, len(counts.seq))


def overlap(corpus: TokenCorpus, counts: NgramCounts) -> Overlap:
    """Clipped matches per (reference, order) and per (sample, order) against the max reference."""
    n, n_orders, g = corpus.n_samples, counts.max_order, np.int64(counts.n_grams)
    hyp_rows, ref_rows = _split(counts, n)
    hyp_key = counts.seq[hyp_rows] * g + counts.gram[hyp_rows]  # sorted: rows are sorted by (seq, gram)
    hyp_count = counts.count[hyp_rows]
    ref_index = counts.seq[ref_rows] - n
    ref_owner = corpus.ref_owner[ref_index]
    ref_key = ref_owner * g + counts.gram[ref_rows]
    ref_count = counts.count[ref_rows]
    single_ref = corpus.n_refs == n

    merged = _merge_join(hyp_key, hyp_count, ref_key, ref_count) if single_ref else None
    if merged is not None:
        # one reference per sample: the per-reference and the max-reference matches are the same
        key, matched = merged
        gram = key % g
        per_ref = max_ref = np.bincount(
            (key // g) * n_orders + counts.order_of(gram), weights=matched, minlength=n * n_orders
        ).reshape(n, n_orders)
    else:
        ref_order = counts.order[ref_rows].astype(np.int64)
        matched_hyp = gather(hyp_count, lookup(hyp_key, ref_key))
        per_ref = np.bincount(
            ref_index * n_orders + ref_order,
            weights=np.minimum(matched_hyp, ref_count),
            minlength=corpus.n_refs * n_orders,
        ).reshape(corpus.n_refs, n_orders)
        max_key, max_count = _max_by_key(ref_key, ref_count, already_unique=single_ref)
        clipped = np.minimum(hyp_count, gather(max_count, lookup(max_key, hyp_key)))
        hyp_order = counts.order[hyp_rows].astype(np.int64)
        max_ref = np.bincount(
            counts.seq[hyp_rows] * n_orders + hyp_order, weights=clipped, minlength=n * n_orders
        ).reshape(n, n_orders)

    totals = np.bincount(
        counts.seq * n_orders + counts.order, weights=counts.count, minlength=(n + corpus.n_refs) * n_orders
    ).reshape(n + corpus.n_refs, n_orders)
    return Overlap(
        per_ref_match=np.rint(per_ref).astype(np.int64),
        max_ref_match=np.rint(max_ref).astype(np.int64),
        hyp_total=np.rint(totals[:n]).astype(np.int64),
        ref_total=np.rint(totals[n:]).astype(np.int64),
    )


def _merge_join(
    hyp_key: np.ndarray, hyp_count: np.ndarray, ref_key: np.ndarray, ref_count: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Keys present on both sides with min(count), by ONE sort of (key, side, count) packed in int64.

    Both key arrays are distinct values; after sorting, a key present on both sides appears as a
    hypothesis entry immediately followed by its reference entry. None when the packing would
    not fit in 63 bits (the caller then joins with binary searches).
    """
    if len(hyp_key) == 0 or len(ref_key) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    count_bits = max(int(max(hyp_count.max(), ref_count.max())).bit_length(), 1)
    key_bits = int(max(hyp_key.max(), ref_key.max())).bit_length()
    if key_bits + 1 + count_bits > 63:
        return None
    shift = np.int64(count_bits + 1)
    side = np.int64(1 << count_bits)
    packed = np.concatenate([(hyp_key << shift) | hyp_count, (ref_key << shift) | side | ref_count])
    packed.sort()
    keys = packed >> shift
    pair = np.flatnonzero(keys[1:] == keys[:-1])
    mask = np.int64((1 << count_bits) - 1)
    return keys[pair], np.minimum(packed[pair] & mask, packed[pair + 1] & mask)


def document_frequency(corpus: TokenCorpus, counts: NgramCounts) -> np.ndarray:
    """For each gram id, the number of SAMPLES whose references contain it (CIDEr's idf base)."""
    _, ref_rows = _split(counts, corpus.n_samples)
    owner = corpus.ref_owner[counts.seq[ref_rows] - corpus.n_samples]
    key, _ = sorted_counts(owner * np.int64(counts.n_grams) + counts.gram[ref_rows])
    return np.bincount(key % counts.n_grams, minlength=counts.n_grams)


def sorted_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a non-negative int64 array, sorted, with their counts.

    `np.sort` is SIMD-accelerated in numpy 2 while `np.unique` hashes or argsorts; on millions of
    n-gram keys this is several times faster.
    """
    if len(keys) == 0:
        return keys.astype(np.int64), np.zeros(0, dtype=np.int64)
    ordered = np.sort(keys)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(ordered)])
    return ordered[starts], counts.astype(np.int64)


def dense_ids(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense ids 0..n-1 for the distinct values of a non-negative int64 array (ordered like the values).

    The argsort is done as a plain sort of (value << bits | position) when both fit in 63 bits,
    which is several times faster than `argsort`; otherwise it falls back to a stable argsort.
    """
    n = len(keys)
    if n == 0:
        return keys.astype(np.int64), 0
    position_bits = max(int(n - 1).bit_length(), 1)
    if int(keys.max()).bit_length() + position_bits <= 63:
        packed = np.sort((keys << np.int64(position_bits)) | np.arange(n, dtype=np.int64))
        order = packed & np.int64((1 << position_bits) - 1)
        ordered = packed >> np.int64(position_bits)
    else:
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
    rank = np.cumsum(np.r_[0, (ordered[1:] != ordered[:-1]).astype(np.int64)])
    dense = np.empty(n, dtype=np.int64)
    dense[order] = rank
    return dense, int(rank[-1]) + 1


def lookup(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of each query in `sorted_keys`, or -1 when absent."""
    if len(sorted_keys) == 0:
        return np.full(len(queries), -1, dtype=np.int64)
    at = np.searchsorted(sorted_keys, queries)
    at_clipped = np.minimum(at, len(sorted_keys) - 1)
    return np.where(sorted_keys[at_clipped] == queries, at_clipped, -1)


def gather(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """values[found] where found >= 0, else 0 (also when `values` is empty)."""
    if len(values) == 0:
        return np.zeros(len(found), dtype=values.dtype)
    return np.where(found >= 0, values[np.maximum(found, 0)], 0)


def _max_by_key(keys: np.ndarray, values: np.ndarray, already_unique: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys with the maximum value of each (values are small counts)."""
    if already_unique or len(keys) == 0:
        return keys, values
    value_bits = max(int(values.max()).bit_length(), 1)
    if int(keys.max()).bit_length() + value_bits <= 63:
        packed = np.sort((keys << np.int64(value_bits)) | values)
        keys, values = packed >> np.int64(value_bits), packed & np.int64((1 << value_bits) - 1)
    else:
        order = np.lexsort((values, keys))
        keys, values = keys[order], values[order]
    last = np.flatnonzero(np.r_[keys[1:] != keys[:-1], True])  # the largest value closes each run
    return keys[last], values[last]
