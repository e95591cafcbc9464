"""ROUGE: bit-parallel LCS against the dynamic programme, hand cases, pycocoevalcap and rouge_score on real reports."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vipet.eval import rouge
from vipet.eval.ngrams import encode_corpus
from vipet.eval.profiles import rouge_score_tokenize


def _lcs_dp(a, b) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1][j], table[i][j - 1])
    return table[-1][-1]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=90), st.lists(st.integers(0, 6), max_size=90))
def test_bit_parallel_lcs_equals_dynamic_programme(a, b):
    assert rouge.lcs_length(a, b) == _lcs_dp(a, b)


def test_lcs_long_sequences():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 30, 400).tolist(), rng.integers(0, 30, 350).tolist()
    assert rouge.lcs_length(a, b) == _lcs_dp(a, b)


def test_rouge_l_hand_computed():
    corpus = encode_corpus([["a", "b", "c", "d", "e"]], [[["a", "c", "e", "x"]]])  # LCS "a c e" = 3
    p, r = 3 / 5, 3 / 4
    assert rouge.rouge_l_f1(corpus)[0] == pytest.approx(2 * p * r / (p + r), abs=1e-12)
    assert rouge.rouge_l_coco(corpus)[0] == pytest.approx((1 + 1.44) * p * r / (r + 1.44 * p), abs=1e-12)


def test_rouge_n_hand_computed_and_best_reference():
    corpus = encode_corpus([["a", "b", "c"]], [[["a", "b", "x", "y"], ["a", "b", "c"]]])
    scores = rouge.rouge_n_f1(corpus, (1, 2))
    assert scores[0].tolist() == [1.0, 1.0]  # the second reference is identical
    corpus = encode_corpus([["a", "b", "c"]], [[["a", "b", "x", "y"]]])
    p1, r1 = 2 / 3, 2 / 4
    assert rouge.rouge_n_f1(corpus, (1,))[0, 0] == pytest.approx(2 * p1 * r1 / (p1 + r1), abs=1e-12)


def test_empty_prediction_scores_zero():
    corpus = encode_corpus([[]], [[["a", "b"]]])
    assert rouge.rouge_l_f1(corpus)[0] == 0.0 and rouge.rouge_l_coco(corpus)[0] == 0.0
    assert rouge.rouge_n_f1(corpus, (1, 2))[0].tolist() == [0.0, 0.0]


def test_equals_pycocoevalcap_rouge(corpus_pairs):
    from pycocoevalcap.rouge.rouge import Rouge

    predictions, references = (part[:15] for part in corpus_pairs)  # the oracle's Python LCS table is slow
    gts = {i: [r.lower() for r in refs] for i, refs in enumerate(references)}
    res = {i: [p.lower()] for i, p in enumerate(predictions)}
    oracle, oracle_per_sample = Rouge().compute_score(gts, res)
    ours, ours_per_sample = rouge.compute_score(gts, res)
    assert abs(oracle - ours) < 1e-9
    assert np.max(np.abs(oracle_per_sample - ours_per_sample)) < 1e-9


def test_equals_rouge_score(corpus_pairs):
    from rouge_score import rouge_scorer

    predictions, references = (part[:15] for part in corpus_pairs)  # the oracle's Python LCS table is slow
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    corpus = encode_corpus([rouge_score_tokenize(p) for p in predictions], [[rouge_score_tokenize(r[0])] for r in references])
    ours = np.column_stack([rouge.rouge_n_f1(corpus, (1, 2)), rouge.rouge_l_f1(corpus)])
    for i, (p, refs) in enumerate(zip(predictions, references)):
        oracle = scorer.score(refs[0], p)
        expected = [oracle["rouge1"].fmeasure, oracle["rouge2"].fmeasure, oracle["rougeL"].fmeasure]
        assert np.max(np.abs(ours[i] - expected)) < 1e-9


def test_rouge_score_tokenizer_drops_vietnamese_letters():
    # the pitfall the vipet-vlm profile reproduces on purpose
    assert rouge_score_tokenize("Tổn thương") == ["t", "n", "th", "ng"]
