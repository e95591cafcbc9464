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


def test_vipet_vlm_equals_nltk_and_rouge_score(corpus_pairs):
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu
    from rouge_score import rouge_scorer

    predictions, references = corpus_pairs
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


def test_coco_equals_pycocoevalcap_on_the_same_tokens(corpus_pairs):
    predictions, references = corpus_pairs
    gts = {i: [" ".join(coco_tokenize(r)) for r in refs] for i, refs in enumerate(references)}
    res = {i: [" ".join(coco_tokenize(p))] for i, p in enumerate(predictions)}
    oracle = _pycocoevalcap(gts, res)
    ours = score_nlg(predictions, references, "coco")
    assert set(ours) == set(oracle)
    for name in oracle:
        assert abs(ours[name] - oracle[name]) < 1e-9, name


@pytest.mark.skipif(shutil.which("java") is None, reason="java not on PATH: pycocoevalcap's PTBTokenizer cannot run")
def test_coco_equals_the_full_pycocoevalcap_pipeline_with_java(corpus_pairs):
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    predictions, references = corpus_pairs
    tokenizer = PTBTokenizer()
    with contextlib.redirect_stderr(io.StringIO()):
        gts = tokenizer.tokenize({i: [{"caption": r} for r in refs] for i, refs in enumerate(references)})
        res = tokenizer.tokenize({i: [{"caption": p}] for i, p in enumerate(predictions)})
    oracle = _pycocoevalcap(gts, res)
    ours = score_nlg(predictions, references, "coco")
    for name in oracle:
        assert abs(ours[name] - oracle[name]) < 1e-9, name


@pytest.mark.parametrize("profile", ["default", "coco", "vipet-vlm"])
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


class _Tokens:
    """A rouge_score tokenizer returning pre-computed tokens, so the oracle sees exactly our tokens."""

    def __init__(self, tokenize):
        self._tokenize = tokenize

    def tokenize(self, text):
        return self._tokenize(text)


def test_default_profile_equals_the_oracles_on_the_same_tokens(corpus_pairs):
    import sacrebleu
    from nltk.translate.meteor_score import meteor_score
    from pycocoevalcap.cider.cider import Cider
    from rouge_score import rouge_scorer

    predictions, references = corpus_pairs
    profile = get_profile("default")
    ours = score_nlg(predictions, references, profile)
    hyp = [profile.tokenize(p) for p in predictions]
    refs = [[profile.tokenize(r) for r in rs] for rs in references]
    assert any("chuyển" in tokens for tokens in hyp)  # Vietnamese letters intact
    streams = [[" ".join(rs[k]) if k < len(rs) else None for rs in refs] for k in range(2)]
    for n in range(1, 5):
        oracle = sacrebleu.metrics.BLEU(tokenize="none", smooth_method="none", max_ngram_order=n, force=True)
        assert abs(ours[f"bleu_{n}"] - oracle.corpus_score([" ".join(h) for h in hyp], streams).score) < 1e-9
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=_Tokens(profile.tokenize))
    rouge = [scorer.score_multi(rs, p) for p, rs in zip(predictions, references)]
    for name, key in (("rouge_1", "rouge1"), ("rouge_2", "rouge2"), ("rouge_l", "rougeL")):
        assert abs(ours[name] - 100 * np.mean([r[key].fmeasure for r in rouge])) < 1e-9, name

    class NoWordNet:
        def synsets(self, word):
            return []

    class Identity:
        def stem(self, word):
            return word

    meteor = [meteor_score(r, h, preprocess=lambda w: w, stemmer=Identity(), wordnet=NoWordNet()) if h else 0.0
              for h, r in zip(hyp, refs)]
    assert abs(ours["meteor"] - 100 * np.mean(meteor)) < 1e-9
    cider, _ = Cider().compute_score({i: [" ".join(r) for r in rs] for i, rs in enumerate(refs)},
                                     {i: [" ".join(h)] for i, h in enumerate(hyp)})
    assert abs(ours["cider_d"] - 100 * cider) < 1e-9
    chrf_streams = [[rs[k] if k < len(rs) else None for rs in references] for k in range(2)]
    assert abs(ours["chrf"] - sacrebleu.corpus_chrf(predictions, chrf_streams).score) < 1e-9


def test_default_profile_word_segmentation_and_provenance():
    profile = get_profile("default", word_segmentation=True)
    assert "chuyển_hóa" in profile.tokenize("Tăng chuyển hóa FDG ở thùy trên phổi phải.")
    assert profile.info["word_segmentation"] is True and profile.info["tokenizer_info"]["mode"] == "word"
    scores = score_nlg(["Tăng chuyển hóa FDG."], ["Tăng chuyển hóa FDG."], profile)
    assert scores["rouge_l"] == pytest.approx(100.0) and scores["bleu_1"] == pytest.approx(100.0)
