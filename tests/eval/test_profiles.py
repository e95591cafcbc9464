"""Profiles end to end: vipet-vlm equals NLTK + rouge_score, coco equals pycocoevalcap, both on real reports."""

from __future__ import annotations

import contextlib
import io
import shutil

import numpy as np
import pytest

from vipet.errors import EvalError
from vipet.eval.nlg import score_nlg
from vipet.eval.profiles import get_profile
from vipet.eval.ptb import coco_tokenize


def test_vipet_vlm_equals_nltk_and_rouge_score(real_pairs):
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu
    from rouge_score import rouge_scorer

    predictions, references = real_pairs
    single = [refs[0] for refs in references]
    ours = score_nlg(predictions, single, "vipet-vlm")
    bleu4 = corpus_bleu([[r.strip().split()] for r in single], [p.strip().split() for p in predictions],
                        weights=(0.25, 0.25, 0.25, 0.25), smoothing_function=SmoothingFunction().method4) * 100
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)
    scores = [scorer.score(r, p) for p, r in zip(predictions, single)]
    assert abs(ours["bleu_4"] - bleu4) < 1e-9
    assert abs(ours["rouge_1"] - np.mean([s["rouge1"].fmeasure for s in scores]) * 100) < 1e-9
    assert abs(ours["rouge_l"] - np.mean([s["rougeL"].fmeasure for s in scores]) * 100) < 1e-9
    multi = score_nlg(predictions, references, "vipet-vlm")
    bleu4_multi = corpus_bleu([[r.strip().split() for r in refs] for refs in references],
                              [p.strip().split() for p in predictions], smoothing_function=SmoothingFunction().method4) * 100
    assert abs(multi["bleu_4"] - bleu4_multi) < 1e-9


def _pycocoevalcap(gts: dict, res: dict) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    with contextlib.redirect_stdout(io.StringIO()):
        bleu, _ = Bleu(4).compute_score(gts, res)
    scores = {f"bleu_{n + 1}": bleu[n] for n in range(4)}
    scores["rouge_l"] = Rouge().compute_score(gts, res)[0]
    scores["cider_d"] = Cider().compute_score(gts, res)[0]
    return scores


def test_coco_equals_pycocoevalcap_on_the_same_tokens(real_pairs):
    predictions, references = real_pairs
    gts = {i: [" ".join(coco_tokenize(r)) for r in refs] for i, refs in enumerate(references)}
    res = {i: [" ".join(coco_tokenize(p))] for i, p in enumerate(predictions)}
    oracle = _pycocoevalcap(gts, res)
    ours = score_nlg(predictions, references, "coco")
    assert set(ours) == set(oracle)
    for name in oracle:
        assert abs(ours[name] - oracle[name]) < 1e-9, name


@pytest.mark.skipif(shutil.which("java") is None, reason="java not on PATH: pycocoevalcap's PTBTokenizer cannot run")
def test_coco_equals_the_full_pycocoevalcap_pipeline_with_java(real_pairs):
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    predictions, references = real_pairs
    tokenizer = PTBTokenizer()
    with contextlib.redirect_stderr(io.StringIO()):
        gts = tokenizer.tokenize({i: [{"caption": r} for r in refs] for i, refs in enumerate(references)})
        res = tokenizer.tokenize({i: [{"caption": p}] for i, p in enumerate(predictions)})
    oracle = _pycocoevalcap(gts, res)
    ours = score_nlg(predictions, references, "coco")
    for name in oracle:
        assert abs(ours[name] - oracle[name]) < 1e-9, name


@pytest.mark.parametrize("profile", ["coco", "vipet-vlm"])
def test_empty_predictions_score_zero(profile):
    scores = score_nlg(["", "   "], ["Hình ảnh khối mờ ở thùy trên phổi phải.", "Không phát hiện tràn dịch."], profile)
    assert all(v < 1e-6 for v in scores.values())
    assert score_nlg([], [], profile) == {name: 0.0 for name in get_profile(profile).metrics}


def test_identical_texts_score_perfectly(real_texts):
    texts = real_texts[:10]
    coco = score_nlg(texts, texts, "coco")
    assert coco["bleu_4"] == pytest.approx(1.0, abs=1e-6) and coco["rouge_l"] == pytest.approx(1.0)
    vlm = score_nlg(texts, texts, "vipet-vlm")
    assert vlm["bleu_4"] == pytest.approx(100.0) and vlm["rouge_l"] == pytest.approx(100.0)


def test_profile_provenance_and_unknown_profile():
    info = get_profile("vipet-vlm").info
    assert info["name"] == "vipet-vlm" and "numpy" in info["libraries"] and "rouge_score" in info["reproduces"]
    assert get_profile("coco").info["lowercase"] is True
    with pytest.raises(EvalError, match="unknown profile"):
        get_profile("bertscore")
