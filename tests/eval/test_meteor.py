"""METEOR (exact matching): NLTK's alignment and formula, hand cases and NLTK itself on real reports."""

from __future__ import annotations

import numpy as np
import pytest

from vipet.eval import meteor
from vipet.eval.ngrams import encode_corpus


class _NoWordNet:
    def synsets(self, word):  # no synonyms: the exact stage is all that matches
        return []


class _IdentityStemmer:
    def stem(self, word):
        return word


def test_fragmentation_penalty_by_hand():
    # all 4 words match in 3 chunks: P = R = 1, penalty 0.5 * (3/4)^3
    assert meteor.meteor_pair("a b c d".split(), "a b d c".split()) == pytest.approx(1 - 0.5 * 0.75**3, abs=1e-12)


def test_partial_match_by_hand():
    # 2 matches ("a", "c") in 2 chunks, |hyp| = 3, |ref| = 2
    p, r = 2 / 3, 1.0
    fmean = p * r / (0.9 * p + 0.1 * r)
    assert meteor.meteor_pair("a b c".split(), "a c".split()) == pytest.approx((1 - 0.5 * (2 / 2) ** 3) * fmean, abs=1e-12)


def test_no_match_and_empty():
    assert meteor.meteor_pair(["a"], ["b"]) == 0.0
    assert meteor.meteor_pair([], ["b"]) == 0.0


def test_repeated_words_align_from_the_end_like_nltk():
    from nltk.translate.meteor_score import meteor_score

    hyp, ref = "x a y a z a".split(), "a q a".split()
    oracle = meteor_score([ref], hyp, preprocess=lambda w: w, stemmer=_IdentityStemmer(), wordnet=_NoWordNet())
    assert meteor.meteor_pair(hyp, ref) == pytest.approx(oracle, abs=1e-12)


def test_equals_nltk(corpus_pairs):
    from nltk.translate.meteor_score import meteor_score

    predictions, references = corpus_pairs
    hyps = [p.lower().split() for p in predictions]
    refs = [[r.lower().split() for r in rs] for rs in references]
    ours = meteor.meteor(encode_corpus(hyps, refs))
    oracle = [
        meteor_score(r, h, preprocess=lambda w: w, stemmer=_IdentityStemmer(), wordnet=_NoWordNet()) if h else 0.0
        for h, r in zip(hyps, refs)
    ]
    assert np.max(np.abs(ours - np.array(oracle))) < 1e-9
