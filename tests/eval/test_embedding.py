"""The BERTScore-style score with a tiny random BERT saved to a temporary folder (nothing downloaded)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vipet.errors import EvalError

TEXTS = ["hình ảnh khối mờ ở thùy trên phổi phải", "không phát hiện tràn dịch màng phổi", "hạch dưới carina tăng chuyển hóa"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({w for t in TEXTS for w in t.split()})
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizer(str(folder / "vocab.txt"), do_lower_case=True, strip_accents=False).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    BertModel(config).eval().save_pretrained(folder)
    return folder


def _reference_score(folder, prediction: str, reference: str) -> float:
    """Greedy cosine F1 computed directly from the model's last hidden states, without vipet."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()

    def vectors(text):
        with torch.no_grad():
            hidden = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0, 1:-1].double().numpy()
        return hidden / np.linalg.norm(hidden, axis=1, keepdims=True)

    h, r = vectors(prediction), vectors(reference)
    sim = h @ r.T
    p, rc = sim.max(axis=1).mean(), sim.max(axis=0).mean()
    return 2 * p * rc / (p + rc)


def test_matches_a_direct_computation_and_identity_is_one(tiny_bert):
    from vipet.eval.embedding import embedding_f1

    scores = embedding_f1([TEXTS[0], TEXTS[1], ""], [[TEXTS[0]], [TEXTS[2], TEXTS[1]], [TEXTS[2]]], tiny_bert)
    assert scores[0] == pytest.approx(1.0, abs=1e-6)  # identical text
    assert scores[1] == pytest.approx(1.0, abs=1e-6)  # best of two references is the identical one
    assert scores[2] == 0.0  # empty prediction
    other = embedding_f1([TEXTS[0]], [[TEXTS[2]]], tiny_bert)[0]
    assert other == pytest.approx(_reference_score(tiny_bert, TEXTS[0], TEXTS[2]), abs=1e-6) and other < 1


def test_through_score_nlg(tiny_bert):
    from vipet.eval.nlg import score_nlg

    scores = score_nlg(TEXTS, TEXTS, "coco", embedding_model=str(tiny_bert))
    assert scores["embedding_f1"] == pytest.approx(1.0, abs=1e-6)


def test_missing_model_folder_is_a_clear_error(tmp_path):
    from vipet.eval.embedding import embedding_f1

    with pytest.raises(EvalError, match="embedding model folder not found"):
        embedding_f1(["a"], [["a"]], tmp_path / "no-model")


def test_importing_eval_and_reports_does_not_import_torch_or_transformers():
    # every module of vipet.eval (the lead's leaderboard and HTML report included), not a hand-picked few
    code = ("import importlib, pkgutil, sys, vipet.eval, vipet.reports.categories; "
            "[importlib.import_module('vipet.eval.' + m.name) for m in pkgutil.iter_modules(vipet.eval.__path__)]; "
            "assert 'vipet.eval.embedding' in sys.modules and 'vipet.eval.leaderboard' in sys.modules; "
            "print(any(m.split('.')[0] in ('torch', 'transformers') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
