"""Vectorised n-gram bookkeeping shared by BLEU, ROUGE-N, CIDEr-D and chrF.

The reference scorers (pycocoevalcap, NLTK, sacrebleu) build one Python dict of tuples per
sentence, which is most of their run time on 370-word reports. Here the whole corpus is encoded
once into integer arrays (`encode_texts` splits space-separated text on its UTF-8 bytes, with
no Python string per token: `vipet.eval.byte_split`), every n-gram occurrence gets a dense integer id (order
by order, by ranking (previous n-gram id, next token) keys), and all per-sentence counts and
clipped matches come from ONE sort per order: the occurrences are laid out sample by sample, so
sorting (key, position) groups each n-gram's occurrences by sample with the hypothesis first.
Everything downstream is integer sums (or float sums in a fixed n-gram order), so results equal
the dict-based scorers exactly and bootstrap resamples are matrix sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections import defaultdict
from itertools import chain, count
from typing import Sequence

import numpy as np

from vipet.eval.byte_split import split_ids

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


def hyps_then_refs(hyps: Sequence, refs: Sequence[Sequence]) -> tuple[list, list[int]]:
    """Every hypothesis, then every reference, and the sample each reference belongs to: the one
    layout both encoders number tokens over (a sample without a reference is an error)."""
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} reference lists")
    flat: list = list(hyps)
    owner: list[int] = []
    for sample, ref_list in enumerate(refs):
        if len(ref_list) == 0:
            raise ValueError(f"sample {sample} has no reference")
        flat.extend(ref_list)
        owner.extend([sample] * len(ref_list))
    return flat, owner


def encode_corpus(hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]]) -> TokenCorpus:
    """Integer-encode token lists (one hypothesis and one or more references per sample).

    Tokens are mapped with `map` over a `defaultdict` whose factory numbers new tokens, at C
    speed: no Python statement runs per token, and ids follow the order of first occurrence.
    """
    sequences, owner = hyps_then_refs(hyps, refs)
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    # One hash lookup per token: a missing token gets the next id (first-occurrence order).
    vocab: defaultdict[object, int] = defaultdict(count().__next__)
    ids = np.fromiter(map(vocab.__getitem__, chain.from_iterable(sequences)), dtype=np.int64, count=int(lengths.sum()))
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return TokenCorpus(
        ids=ids,
        offsets=offsets,
        ref_owner=np.asarray(owner, dtype=np.int64),
        n_samples=len(hyps),
        vocab_size=max(len(vocab), 1),
    )


def sample_chunks(corpus: TokenCorpus, max_tokens: int) -> list[TokenCorpus]:
    """The corpus cut into runs of whole samples of about `max_tokens` tokens each (same vocabulary).

    Per-sample statistics (BLEU's) are the same whatever corpus a sample is counted in; counted
    chunk by chunk, the working arrays stay in the CPU caches, which matters on a busy machine.
    """
    n = corpus.n_samples
    if n == 0 or len(corpus.ids) <= max_tokens:
        return [corpus]
    ref_starts = np.searchsorted(corpus.ref_owner, np.arange(n + 1))  # first reference of each sample
    tokens_before = corpus.offsets[:n + 1] - corpus.offsets[0] + corpus.offsets[n + ref_starts] - corpus.offsets[n]
    cuts = np.unique(np.r_[0, np.searchsorted(tokens_before, np.arange(max_tokens, int(tokens_before[-1]), max_tokens)), n])
    chunks = []
    for start, stop in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
        if stop <= start:
            continue
        r0, r1 = int(ref_starts[start]), int(ref_starts[stop])
        hyp_ids = corpus.ids[corpus.offsets[start] : corpus.offsets[stop]]
        ref_ids = corpus.ids[corpus.offsets[n + r0] : corpus.offsets[n + r1]]
        offsets = np.concatenate([corpus.offsets[start : stop + 1] - corpus.offsets[start],
                                  corpus.offsets[n + r0 + 1 : n + r1 + 1] - corpus.offsets[n + r0] + len(hyp_ids)])
        chunks.append(TokenCorpus(ids=np.concatenate([hyp_ids, ref_ids]), offsets=offsets,
                                  ref_owner=corpus.ref_owner[r0:r1] - start, n_samples=stop - start, vocab_size=corpus.vocab_size))
    return chunks


def encode_texts(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> TokenCorpus:
    """`encode_corpus` of the texts' `str.split()` tokens, without making a Python string per token
    (`vipet.eval.byte_split`); texts it leaves to the plain path go through `str.split` and
    `encode_corpus`. Both number tokens by first occurrence, so they give the same corpus."""
    texts, owner = hyps_then_refs(hyps, refs)
    split = split_ids(texts)
    if split is None:
        return encode_corpus([h.split() for h in hyps], [[r.split() for r in ref_list] for ref_list in refs])
    ids, counts_per_text, vocab_size = split
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(counts_per_text, out=offsets[1:])
    return TokenCorpus(ids=ids, offsets=offsets, ref_owner=np.asarray(owner, dtype=np.int64), n_samples=len(hyps),
                       vocab_size=max(vocab_size, 1))


@dataclass(frozen=True)
class NgramCounts:
    """Distinct n-grams (orders 1..max_order) of every sequence with their counts, gram-major.

    Rows are sorted by gram, then sample, the hypothesis before its references (in reference
    order), so the rows of one (gram, sample) are contiguous and start with the hypothesis row
    when the hypothesis holds the gram. Gram ids are global across orders (order k's ids start at
    `order_starts[k]`; within an order they follow the lexicographic order of the token ids), so
    one id names one n-gram everywhere in the corpus, and for one sequence its rows come in
    increasing gram order (which fixes the order of every floating-point sum over them).
    """

    seq: np.ndarray
    gram: np.ndarray
    order: np.ndarray  # 0-based order (0 = unigram)
    count: np.ndarray
    n_grams: int
    max_order: int
    order_starts: tuple[int, ...] = (0,)  # first gram id of each order
    sample: np.ndarray | None = None  # the sample each row's sequence belongs to

    def order_of(self, gram: np.ndarray) -> np.ndarray:
        """0-based order of gram ids."""
        return np.searchsorted(np.asarray(self.order_starts[1:], dtype=np.int64), gram, side="right")


def _interleaved(corpus: TokenCorpus) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The token ids re-laid sample by sample (hypothesis, then its references), each sequence
    followed by one sentinel id (`vocab_size`), with the sequence index of every position and the
    original number of each laid-out sequence.

    Why: one sort of (n-gram key, position) then orders every n-gram's occurrences by (sample,
    hypothesis first), and an n-gram is inside one sequence exactly when it holds no sentinel.
    """
    n, lengths = corpus.n_samples, corpus.lengths
    owner_of_seq = np.concatenate([np.arange(n, dtype=np.int64), corpus.ref_owner])
    seq_order = np.argsort(owner_of_seq, kind="stable")  # hypothesis s (index s < n) before its references
    laid_lengths = lengths[seq_order] + 1
    laid_starts = np.zeros(len(seq_order) + 1, dtype=np.int64)
    np.cumsum(laid_lengths, out=laid_starts[1:])
    rank = np.empty_like(seq_order)
    rank[seq_order] = np.arange(len(seq_order), dtype=np.int64)
    shift = laid_starts[:-1][rank] - corpus.offsets[:-1]
    laid = np.full(int(laid_starts[-1]), corpus.vocab_size, dtype=np.int32 if corpus.vocab_size < 2**31 - 1 else np.int64)
    laid[np.arange(len(corpus.ids), dtype=np.int64) + np.repeat(shift, lengths)] = corpus.ids
    seq_of_pos = np.repeat(np.arange(len(seq_order), dtype=np.int32), laid_lengths)
    return laid, seq_of_pos, seq_order


def _sorted_occurrences(keys: np.ndarray, pos: np.ndarray, pos_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(keys, positions) ordered by (key, position): one plain sort of `key << bits | position`
    when that fits in 63 bits (several times faster than argsort), else a lexsort."""
    if len(keys) and int(keys.max()).bit_length() + pos_bits > 63:
        order = np.lexsort((pos, keys))
        return keys[order], pos[order]
    packed = (keys << np.int64(pos_bits)) | pos
    packed.sort()
    return packed >> np.int64(pos_bits), packed & np.int64((1 << pos_bits) - 1)


def count_ngrams(corpus: TokenCorpus, max_order: int) -> NgramCounts:
    """Count every n-gram of every sequence, orders 1..max_order, with one sort per order.

    Order k's key of an occurrence is (dense id of its first k tokens) * vocab + its last token;
    sorting the (key, position) pairs gives at once the dense ids of order k (ranks of the distinct
    keys, so ids follow the lexicographic order of token ids) and the runs of one gram in one
    sequence (its count); the occurrences that extend to order k + 1 are read off the same sorted
    array, so no positional scatter is needed.
    """
    laid, seq_of_pos, seq_order = _interleaved(corpus)
    owner_of_seq = np.concatenate([np.arange(corpus.n_samples, dtype=np.int64), corpus.ref_owner])
    sentinel = np.int64(corpus.vocab_size)
    pos_bits = max(int(len(laid)).bit_length(), 1)
    pos = np.flatnonzero(laid != sentinel)
    keys = laid[pos].astype(np.int64)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    order_starts: list[int] = []
    offset = 0
    n_laid = len(seq_order)
    for k in range(max_order):
        order_starts.append(offset)
        if k == 0 and len(keys) and corpus.vocab_size * n_laid <= 8 * len(keys) + 4096:
            # Unigrams of a small vocabulary: one bincount over (token, sequence) cells gives the
            # rows already in (gram, sequence) order, and the positions need no sort to extend.
            cells = np.bincount(keys * n_laid + seq_of_pos[pos], minlength=corpus.vocab_size * n_laid)
            filled = np.flatnonzero(cells)
            parts.append(((filled % n_laid).astype(seq_of_pos.dtype), filled // n_laid, cells[filled]))
            dense, n_unique = keys, corpus.vocab_size
            offset += n_unique
            following = laid[pos + 1]
            extends = following != sentinel
            pos = pos[extends]
            keys = dense[extends] * sentinel + following[extends]
            continue
        keys, pos = _sorted_occurrences(keys, pos, pos_bits)
        if len(keys) == 0:
            parts.append((keys, keys, keys))
            dense = keys
            n_unique = corpus.vocab_size if k == 0 else 0
        else:
            new_key = keys[1:] != keys[:-1]
            if k == 0:
                dense, n_unique = keys, corpus.vocab_size
            else:
                dense = np.empty(len(keys), dtype=np.int64)
                dense[0] = 0
                np.cumsum(new_key, out=dense[1:])
                n_unique = int(dense[-1]) + 1
            laid_seq = seq_of_pos[pos]
            boundary = np.empty(len(keys) + 1, dtype=bool)
            boundary[0] = boundary[-1] = True
            np.not_equal(laid_seq[1:], laid_seq[:-1], out=boundary[1:-1])
            boundary[1:-1] |= new_key
            edges = np.flatnonzero(boundary)
            run = edges[:-1]
            parts.append((laid_seq[run], dense[run] + offset, np.diff(edges)))
        offset += n_unique
        if k + 1 < max_order:
            following = laid[pos + (k + 1)]
            extends = following != sentinel
            pos = pos[extends]
            keys = dense[extends] * sentinel + following[extends]
    laid_seq = np.concatenate([p[0] for p in parts])
    seq = seq_order[laid_seq]
    return NgramCounts(
        seq=seq,
        gram=np.concatenate([p[1] for p in parts]),
        order=np.repeat(np.arange(max_order, dtype=np.int8), [len(p[0]) for p in parts]),
        count=np.concatenate([p[2] for p in parts]),
        n_grams=max(offset, 1),
        max_order=max_order,
        order_starts=tuple(order_starts),
        sample=owner_of_seq[seq_order][laid_seq],
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


@dataclass(frozen=True)
class GramGroups:
    """The rows of `NgramCounts` grouped by (gram, sample): per group its first row, the
    hypothesis count (0 when the hypothesis lacks the gram) and the largest reference count;
    `group_of_row` maps every row to its group."""

    first_row: np.ndarray
    group_of_row: np.ndarray | None  # None when not asked for (BLEU does not need it)
    hyp_count: np.ndarray
    max_ref_count: np.ndarray
    is_hyp_row: np.ndarray


def gram_groups(corpus: TokenCorpus, counts: NgramCounts, with_rows: bool = True) -> GramGroups:
    """Group the gram-major rows by (gram, sample); each group starts with its hypothesis row if any."""
    sample = counts.sample if counts.sample is not None else _owners(corpus, counts.seq)
    is_hyp = counts.seq < corpus.n_samples
    if len(counts.seq) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return GramGroups(empty, empty, empty, empty, is_hyp)
    starts = np.empty(len(counts.seq), dtype=bool)
    starts[0] = True
    np.not_equal(counts.gram[1:], counts.gram[:-1], out=starts[1:])
    starts[1:] |= sample[1:] != sample[:-1]
    first_row = np.flatnonzero(starts)
    group_of_row = np.cumsum(starts) - 1 if with_rows else None
    hyp_count = np.where(is_hyp[first_row], counts.count[first_row], 0)
    max_ref_count = np.maximum.reduceat(counts.count * ~is_hyp, first_row)
    return GramGroups(first_row, group_of_row, hyp_count, max_ref_count, is_hyp)


def _owners(corpus: TokenCorpus, seq: np.ndarray) -> np.ndarray:
    return np.concatenate([np.arange(corpus.n_samples, dtype=np.int64), corpus.ref_owner])[seq]


def ngram_totals(lengths: np.ndarray, max_order: int) -> np.ndarray:
    """(len(lengths), max_order): n-gram occurrences of each order in sequences of these lengths."""
    return np.maximum(0, lengths[:, None] - np.arange(max_order, dtype=np.int64)[None, :])


def max_ref_matches(corpus: TokenCorpus, counts: NgramCounts, groups: GramGroups | None = None) -> np.ndarray:
    """(N, max_order): hypothesis n-gram counts clipped by their largest count in one reference (BLEU)."""
    n, n_orders = corpus.n_samples, counts.max_order
    sample = counts.sample if counts.sample is not None else _owners(corpus, counts.seq)
    if groups is None and corpus.n_refs == n:
        # One reference each: a matched gram is a hypothesis row directly followed by the
        # reference row of the same (gram, sample), so no grouping is needed.
        is_hyp = counts.seq < n
        pair = is_hyp[:-1] & ~is_hyp[1:]
        pair &= counts.gram[1:] == counts.gram[:-1]
        pair &= sample[1:] == sample[:-1]
        first = np.flatnonzero(pair)
        clipped = np.minimum(counts.count[first], counts.count[first + 1])
    else:
        groups = groups or gram_groups(corpus, counts, with_rows=False)
        first = groups.first_row
        clipped = np.minimum(groups.hyp_count, groups.max_ref_count)
        keep = clipped > 0
        first, clipped = first[keep], clipped[keep]
    key = sample[first] * n_orders + counts.order[first]
    return np.bincount(key, weights=clipped, minlength=n * n_orders).round().astype(np.int64).reshape(n, n_orders)


def overlap(corpus: TokenCorpus, counts: NgramCounts, groups: GramGroups | None = None) -> Overlap:
    """Clipped matches per (reference, order) and per (sample, order) against the max reference."""
    n, n_orders = corpus.n_samples, counts.max_order
    if groups is None or groups.group_of_row is None:
        groups = gram_groups(corpus, counts)
    order = counts.order.astype(np.int64)
    ref_rows = np.flatnonzero(~groups.is_hyp_row)
    per_ref = np.bincount(
        (counts.seq[ref_rows] - n) * n_orders + order[ref_rows],
        weights=np.minimum(groups.hyp_count[groups.group_of_row[ref_rows]], counts.count[ref_rows]),
        minlength=corpus.n_refs * n_orders,
    )
    return Overlap(
        per_ref_match=np.rint(per_ref).astype(np.int64).reshape(corpus.n_refs, n_orders),
        max_ref_match=max_ref_matches(corpus, counts, groups),
        hyp_total=ngram_totals(corpus.hyp_lengths, n_orders),
        ref_total=ngram_totals(corpus.ref_lengths, n_orders),
    )


def document_frequency(corpus: TokenCorpus, counts: NgramCounts, groups: GramGroups | None = None) -> np.ndarray:
    """For each gram id, the number of SAMPLES whose references contain it (CIDEr's idf base)."""
    groups = groups or gram_groups(corpus, counts)
    held = groups.first_row[groups.max_ref_count > 0]
    return np.bincount(counts.gram[held], minlength=counts.n_grams)


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
