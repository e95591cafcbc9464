"""BLEU's one-sort clipped matches equal plain dict counting: several references, empty sides, repeated
words, every order up to 6, chunks that keep a large corpus vocabulary, and keys too wide for 63 bits."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from vipet.eval import bleu
from vipet.eval.ngrams import TokenCorpus, count_ngrams, encode_corpus, max_ref_matches
from vipet.eval.packed_ngrams import clipped_matches


def _grams(tokens: list[str], k: int) -> Counter:
    return Counter(tuple(tokens[i : i + k]) for i in range(len(tokens) - k + 1))


def _clipped_by_hand(hyps: list[list[str]], refs: list[list[list[str]]], max_order: int) -> list[list[int]]:
    """BLEU's clipped matches as the papers state them: min(hyp count, max count in one reference)."""
    out = []
    for hyp, ref_list in zip(hyps, refs):
        row = []
        for k in range(1, max_order + 1):
            ref_counts = [_grams(r, k) for r in ref_list]
            row.append(sum(min(c, max(rc[g] for rc in ref_counts)) for g, c in _grams(hyp, k).items()))
        out.append(row)
    return out


def _random_corpus(rng: random.Random, n: int, max_refs: int, pool_size: int) -> tuple[list[list[str]], list[list[list[str]]]]:
    pool = [f"w{i}" for i in range(pool_size)]

    def tokens() -> list[str]:
        return [rng.choice(pool) for _ in range(rng.choice([0, 1, 2, rng.randint(0, 40)]))]

    return [tokens() for _ in range(n)], [[tokens() for _ in range(rng.randint(1, max_refs))] for _ in range(n)]


@pytest.mark.parametrize("max_order", [1, 2, 4, 6])
@pytest.mark.parametrize("seed", range(8))
def test_clipped_matches_equal_dict_counts(seed, max_order):
    rng = random.Random(seed)
    hyps, refs = _random_corpus(rng, rng.randint(1, 30), max_refs=rng.choice([1, 2, 4]), pool_size=rng.choice([2, 5, 50]))
    corpus = encode_corpus(hyps, refs)
    matches = clipped_matches(corpus, max_order)
    assert matches is not None
    assert matches.tolist() == _clipped_by_hand(hyps, refs, max_order)
    assert np.array_equal(matches, max_ref_matches(corpus, count_ngrams(corpus, max_order)))


def test_a_window_past_the_end_of_a_sequence_never_matches():
    # "x y" ends the hypothesis and starts the next sample's reference: never a bigram match.
    hyps = [["a", "x"], ["y", "b"]]
    refs = [[["a", "q"]], [["x", "y"]]]
    assert clipped_matches(encode_corpus(hyps, refs), 2).tolist() == [[1, 0], [1, 0]]


def test_a_chunk_keeping_a_large_vocabulary_is_renumbered():
    hyps, refs = _random_corpus(random.Random(5), 12, max_refs=3, pool_size=6)
    corpus = encode_corpus(hyps, refs)
    wide = TokenCorpus(ids=corpus.ids * 1000 + 7, offsets=corpus.offsets, ref_owner=corpus.ref_owner,
                       n_samples=corpus.n_samples, vocab_size=2**20)  # 21-bit tokens: 4 of them do not fit with the rest
    assert clipped_matches(wide, 4).tolist() == _clipped_by_hand(hyps, refs, 4)


def test_keys_wider_than_63_bits_fall_back_to_the_ngram_table():
    rng = random.Random(9)
    hyps, refs = _random_corpus(rng, 20, max_refs=2, pool_size=300)  # ~9-bit tokens, 8 orders: over 63 bits
    corpus = encode_corpus(hyps, refs)
    assert clipped_matches(corpus, 8) is None
    stats = bleu.bleu_stats(corpus, 8)
    assert stats[:, :8].tolist() == _clipped_by_hand(hyps, refs, 8)


def test_an_empty_corpus_has_no_rows():
    corpus = encode_corpus([], [])
    assert clipped_matches(corpus, 4).shape == (0, 4)
