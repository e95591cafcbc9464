"""BLEU: hand-computed cases for each convention, and equality with pycocoevalcap and NLTK on real reports."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest

from vipet.eval import bleu
from vipet.eval.ngrams import encode_corpus


def _scores(hyp: str, refs: list[str], convention: str) -> np.ndarray:
    corpus = encode_corpus([hyp.split()], [[r.split() for r in refs]])
    return bleu.bleu_from_stats(bleu.bleu_stats(corpus).sum(axis=0), convention)


def test_standard_bleu_hand_computed():
    # unigrams 3/4, bigrams 2/3, trigrams 1/2, 4-grams 0/1, equal lengths (no brevity penalty)
    scores = _scores("a b c d", ["a b c e"], "standard")
    assert scores[0] == pytest.approx(0.75, abs=1e-12)
    assert scores[1] == pytest.approx(math.sqrt(0.75 * 2 / 3), abs=1e-12)
    assert scores[2] == pytest.approx((0.75 * 2 / 3 * 0.5) ** (1 / 3), abs=1e-12)
    assert scores[3] == 0.0  # one zero precision -> 0 without smoothing


def test_coco_bleu_keeps_pycocoevalcap_epsilons():
    scores = _scores("a b c d", ["a b c e"], "coco")
    # even equal lengths get pycocoevalcap's tiny brevity factor: ratio (4 + 1e-15) / (4 + 1e-9) < 1
    penalty = math.exp(1 - (4 + 1e-9) / (4 + 1e-15))
    expected = ((3 + 1e-15) / (4 + 1e-9) * (2 + 1e-15) / (3 + 1e-9) * (1 + 1e-15) / (2 + 1e-9) * 1e-15 / (1 + 1e-9)) ** 0.25
    assert scores[3] == pytest.approx(expected * penalty, rel=1e-12)
    assert scores[0] == pytest.approx((3 + 1e-15) / (4 + 1e-9) * penalty, rel=1e-12)


def test_brevity_penalty_and_closest_reference_length():
    assert _scores("a b", ["a b c d"], "standard")[1] == pytest.approx(math.exp(1 - 4 / 2), abs=1e-12)
    # reference lengths 3 and 6 around a 4-token hypothesis: the closest (3) is used, no penalty
    corpus = encode_corpus([["a", "b", "c", "d"]], [[["a", "b", "c"], list("abcdef")]])
    assert bleu.closest_ref_lengths(corpus).tolist() == [3]
    # a tie (3 and 5 around 4) takes the shorter, as pycocoevalcap and NLTK do
    corpus = encode_corpus([["a", "b", "c", "d"]], [[list("abcde"), ["a", "b", "c"]]])
    assert bleu.closest_ref_lengths(corpus).tolist() == [3]


def test_clipping_uses_the_maximum_count_over_references():
    corpus = encode_corpus([["the"] * 4], [[["the", "x"], ["the", "the", "y"]]])
    stats = bleu.bleu_stats(corpus)
    assert stats[0, 0] == 2 and stats[0, 4] == 4  # 2 clipped unigram matches of 4 guesses


def test_empty_prediction_scores_zero():
    assert np.all(_scores("", ["a b c"], "standard") == 0.0)
    assert np.all(_scores("", ["a b c"], "coco") < 1e-6)


def test_nltk_method4_hand_computed():
    corpus = encode_corpus([["a", "b", "c", "d", "e"]], [[["a", "b", "x", "d", "e", "f"]]])
    value = bleu.nltk_bleu4_from_stats(bleu.nltk_bleu_stats(corpus).sum(axis=0))
    p3 = math.log(5) / 10 / 3  # first zero order: 1 / (2^1 * 5 / ln 5) over 3 trigrams
    p4 = math.log(5) / 20 / 2  # second: 1 / (2^2 * 5 / ln 5) over 2 four-grams
    expected = math.exp(1 - 6 / 5) * math.exp(0.25 * (math.log(0.8) + math.log(0.5) + math.log(p3) + math.log(p4)))
    assert float(value) == pytest.approx(expected, abs=1e-12)


def test_nltk_no_unigram_match_is_zero():
    corpus = encode_corpus([["a"]], [[["b"]]])
    assert float(bleu.nltk_bleu4_from_stats(bleu.nltk_bleu_stats(corpus).sum(axis=0))) == 0.0


def test_equals_pycocoevalcap(corpus_pairs):
    from pycocoevalcap.bleu.bleu import Bleu

    predictions, references = corpus_pairs
    gts = {i: [r.lower() for r in refs] for i, refs in enumerate(references)}
    res = {i: [p.lower()] for i, p in enumerate(predictions)}
    with contextlib.redirect_stdout(io.StringIO()):
        oracle, oracle_per_sample = Bleu(4).compute_score(gts, res)
    ours, ours_per_sample = bleu.compute_score(gts, res)
    assert np.max(np.abs(np.array(oracle) - np.array(ours))) < 1e-9
    assert np.max(np.abs(np.array(oracle_per_sample).T - ours_per_sample)) < 1e-9


def test_equals_nltk_corpus_bleu(corpus_pairs):
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

    predictions, references = corpus_pairs
    hyps = [p.split() for p in predictions]
    refs = [[r.split() for r in rs] for rs in references]
    oracle = corpus_bleu(refs, hyps, smoothing_function=SmoothingFunction().method4)
    ours = bleu.nltk_bleu4_from_stats(bleu.nltk_bleu_stats(encode_corpus(hyps, refs)).sum(axis=0))
    assert abs(float(ours) - oracle) < 1e-9
    # a corpus where several n-gram orders have no match exercises every smoothing branch
    short = [h[:3] for h in hyps[:5]]
    oracle = corpus_bleu(refs[:5], short, smoothing_function=SmoothingFunction().method4)
    ours = bleu.nltk_bleu4_from_stats(bleu.nltk_bleu_stats(encode_corpus(short, refs[:5])).sum(axis=0))
    assert abs(float(ours) - oracle) < 1e-9


def _coco_by_hand(correct: list[int], guess: list[int], hyp_len: int, ref_len: int) -> list[float]:
    """pycocoevalcap's BLEU-1..4 formula, written out: epsilons in the precisions and the penalty."""
    ratio = (hyp_len + 1e-15) / (ref_len + 1e-9)
    penalty = math.exp(1 - 1 / ratio) if ratio < 1 else 1.0
    out, product = [], 1.0
    for k, (c, g) in enumerate(zip(correct, guess), start=1):
        product *= (c + 1e-15) / (g + 1e-9)
        out.append(product ** (1 / k) * penalty)
    return out


def _pycocoevalcap(gts: dict, res: dict) -> tuple[list[float], np.ndarray]:
    from pycocoevalcap.bleu.bleu import Bleu

    with contextlib.redirect_stdout(io.StringIO()):
        scores, per_sample = Bleu(4).compute_score(gts, res)
    return scores, np.array(per_sample).T


def test_hand_computed_bleu_shorter_than_every_reference_with_max_reference_clipping():
    # hyp "a b a c" (4 tokens) against "a b c d e" (5) and "c a b a x y" (6):
    # unigrams a:min(2, max(1, 2)) + b + c = 4/4; bigrams "a b", "b a" (2nd ref) = 2/3; trigram "a b a" = 1/2;
    # 4-gram 0/1; the closest reference length is 5 (both are longer), so the brevity penalty applies.
    gts, res = {0: ["a b c d e", "c a b a x y"]}, {0: ["a b a c"]}
    scores, per_sample = bleu.compute_score(gts, res)
    corpus = encode_corpus([["a", "b", "a", "c"]], [[list("abcde"), list("cabaxy")]])
    assert bleu.bleu_stats(corpus).tolist() == [[4, 2, 1, 0, 4, 3, 2, 1, 4, 5]]
    expected = _coco_by_hand([4, 2, 1, 0], [4, 3, 2, 1], 4, 5)
    assert scores == pytest.approx(expected, rel=1e-13)
    oracle, oracle_per_sample = _pycocoevalcap(gts, res)
    assert scores == pytest.approx(oracle, rel=1e-13) and per_sample == pytest.approx(oracle_per_sample, rel=1e-13)


def test_empty_hypothesis_equals_pycocoevalcap():
    gts, res = {0: ["a b c"], 1: ["a b c d"]}, {0: [""], 1: ["a b c d"]}
    scores, per_sample = bleu.compute_score(gts, res)
    stats = bleu.bleu_stats(encode_corpus([[], list("abcd")], [[list("abc")], [list("abcd")]]))
    assert stats[0].tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    oracle, oracle_per_sample = _pycocoevalcap(gts, res)
    assert scores == pytest.approx(oracle, rel=1e-13) and per_sample == pytest.approx(oracle_per_sample, rel=1e-13, abs=1e-300)


def test_tie_in_closest_reference_length_takes_the_shorter_through_compute_score():
    # 4 tokens between references of 3 and 5: pycocoevalcap takes 3, so there is no brevity penalty.
    gts, res = {0: ["a b c d e", "a b c"]}, {0: ["a b c d"]}
    scores, _ = bleu.compute_score(gts, res)
    assert scores == pytest.approx(_coco_by_hand([4, 3, 2, 1], [4, 3, 2, 1], 4, 3), rel=1e-13)
    assert scores == pytest.approx(_pycocoevalcap(gts, res)[0], rel=1e-13)
