"""The BERTScore-style greedy cosine F1 (pure numpy, any embedder), and vipet.eval's torch-free imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vipet.eval.embedding import embedding_f1, greedy_cosine_f1
from vipet.eval.nlg import score_nlg

# Fixed unit vectors per word: the score is then computable by hand.
_VECTORS = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0]), "c": np.array([0.6, 0.8])}


def _word_embedder(texts):
    return [np.array([_VECTORS[w] for w in t.split()]).reshape(-1, 2) for t in texts]


def test_greedy_cosine_f1_by_hand():
    # hyp {a, b}, ref {c}: P = mean(0.6, 0.8) = 0.7, R = max(0.6, 0.8) = 0.8, F = 2*0.56/1.5
    hyp, ref = _word_embedder(["a b", "c"])
    assert greedy_cosine_f1(hyp, ref) == pytest.approx(2 * 0.7 * 0.8 / 1.5)
    assert greedy_cosine_f1(hyp, np.zeros((0, 2))) == 0.0


def test_best_reference_and_empty_prediction():
    scores = embedding_f1(["a b", "a", " "], [["c"], ["b", "a"], ["a"]], _word_embedder)
    assert scores == pytest.approx([2 * 0.7 * 0.8 / 1.5, 1.0, 0.0])


def test_one_embedder_call_for_every_text_in_order():
    calls = []

    def recording(texts):
        calls.append(list(texts))
        return _word_embedder(texts)

    embedding_f1(["a", "b"], [["c"], ["a", "b"]], recording)
    assert calls == [["a", "b", "c", "a", "b"]]


def test_an_embedder_returning_too_few_arrays_is_an_error():
    with pytest.raises(ValueError, match="returned 1 arrays for 2 texts"):
        embedding_f1(["a"], [["b"]], lambda texts: _word_embedder(texts[:1]))


def test_through_score_nlg_in_the_profile_scale():
    scores = score_nlg(["a b", "a"], [["c"], ["a"]], "default", embedder=_word_embedder)
    assert scores["embedding_f1"] == pytest.approx(100 * (2 * 0.7 * 0.8 / 1.5 + 1.0) / 2)
    assert "embedding_f1" not in score_nlg(["a"], [["a"]], "default")


def test_importing_eval_and_reports_does_not_import_torch_or_transformers():
    # every module of vipet.eval (the lead's leaderboard and HTML report included), not a hand-picked few
    code = ("import importlib, pkgutil, sys, vipet.eval, vipet.reports.categories; "
            "[importlib.import_module('vipet.eval.' + m.name) for m in pkgutil.iter_modules(vipet.eval.__path__)]; "
            "assert 'vipet.eval.embedding' in sys.modules and 'vipet.eval.leaderboard' in sys.modules; "
            "print(any(m.split('.')[0] in ('torch', 'transformers') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
