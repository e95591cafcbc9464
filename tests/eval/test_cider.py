"""CIDEr-D: hand-computed corpora and equality with pycocoevalcap's Cider on real reports."""

from __future__ import annotations

import numpy as np
import pytest

from vipet.eval import cider
from vipet.eval.ngrams import encode_corpus


def test_single_token_corpus_by_hand():
    # sample 1: "a" vs "a": unigram cosine 1, orders 2-4 empty -> mean 1/4, x10 = 2.5
    # sample 2: "b" vs "c": no shared n-gram -> 0
    corpus = encode_corpus([["a"], ["b"]], [[["a"]], [["c"]]])
    assert cider.cider_d(corpus).tolist() == pytest.approx([2.5, 0.0], abs=1e-12)


def test_identical_bigram_sentences_by_hand():
    # orders 1 and 2 have cosine 1, orders 3-4 have no n-grams: (1 + 1) / 4 * 10 = 5
    corpus = encode_corpus([["a", "b"], ["c", "d"]], [[["a", "b"]], [["c", "d"]]])
    assert cider.cider_d(corpus).tolist() == pytest.approx([5.0, 5.0], abs=1e-12)


def test_length_penalty_uses_bigram_counts():
    # same unigram cosine but the hypothesis has 7 more bigrams than the reference: exp(-49 / 72)
    hyp = ["a"] + ["z"] * 7
    corpus = encode_corpus([hyp, ["q"]], [[["a"]], [["r"]]])
    unigram_cos = 1.0 / np.sqrt(1 + 7**2 * 1.0)  # z has df 0 -> idf log 2, same as a
    assert cider.cider_d(corpus)[0] == pytest.approx(unigram_cos / 4 * 10 * np.exp(-(7**2) / 72), abs=1e-12)


def test_one_sample_corpus_scores_zero_like_pycocoevalcap():
    corpus = encode_corpus([["a", "b"]], [[["a", "b"]]])
    assert cider.cider_d(corpus).tolist() == [0.0]  # idf = log(1) - log(1)


def test_equals_pycocoevalcap_cider(corpus_pairs):
    from pycocoevalcap.cider.cider import Cider

    predictions, references = corpus_pairs
    gts = {i: [r.lower() for r in refs] for i, refs in enumerate(references)}
    res = {i: [p.lower()] for i, p in enumerate(predictions)}
    oracle, oracle_per_sample = Cider().compute_score(gts, res)
    ours, ours_per_sample = cider.compute_score(gts, res)
    assert abs(oracle - ours) < 1e-9
    assert np.max(np.abs(oracle_per_sample - ours_per_sample)) < 1e-9
