"""The local-folder token embedder behind the BERTScore-style score, with a tiny random BERT (nothing downloaded)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizer
from typer.testing import CliRunner

from vipet.cli import app
from vipet.errors import EvalError
from vipet.eval.embedding import embedding_f1
from vipet.eval.nlg import score_nlg
from vipet.models.token_embeddings import LocalTokenEmbedder

TEXTS = ["hình ảnh khối mờ ở thùy trên phổi phải", "không phát hiện tràn dịch màng phổi", "hạch dưới carina tăng chuyển hóa"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
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


def test_vectors_are_unit_rows_without_special_tokens(tiny_bert):
    vectors = LocalTokenEmbedder(tiny_bert, batch_size=2)(TEXTS + [""])
    assert [v.shape for v in vectors] == [(9, 32), (7, 32), (6, 32), (0, 32)]  # one row per word, [CLS]/[SEP] dropped
    assert all(v.dtype == np.float64 for v in vectors)
    assert np.allclose(np.linalg.norm(vectors[0], axis=1), 1.0)


def test_matches_a_direct_computation_and_identity_is_one(tiny_bert):
    embedder = LocalTokenEmbedder(tiny_bert)
    scores = embedding_f1([TEXTS[0], TEXTS[1], ""], [[TEXTS[0]], [TEXTS[2], TEXTS[1]], [TEXTS[2]]], embedder)
    assert scores[0] == pytest.approx(1.0, abs=1e-6)  # identical text
    assert scores[1] == pytest.approx(1.0, abs=1e-6)  # best of two references is the identical one
    assert scores[2] == 0.0  # empty prediction
    other = embedding_f1([TEXTS[0]], [[TEXTS[2]]], embedder)[0]
    assert other == pytest.approx(_reference_score(tiny_bert, TEXTS[0], TEXTS[2]), abs=1e-6) and other < 1


def test_through_score_nlg(tiny_bert):
    scores = score_nlg(TEXTS, TEXTS, "coco", embedder=LocalTokenEmbedder(tiny_bert))
    assert scores["embedding_f1"] == pytest.approx(1.0, abs=1e-6)


def test_cli_evaluate_builds_the_embedder_from_the_folder(tmp_path, tiny_bert):
    preds = tmp_path / "preds.jsonl"
    rows = [{"id": f"r{i}", "task": "report", "prediction": t, "reference": t, "model": "m"} for i, t in enumerate(TEXTS)]
    preds.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["evaluate", str(preds), "--embedding-model", str(tiny_bert), "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "preds.metrics.json").read_text(encoding="utf-8"))
    scores = metrics["results"]["m"]["report"]["nlg"]["scores"]
    assert scores["embedding_f1"]["value"] == pytest.approx(100.0, abs=1e-4)
    missing = CliRunner().invoke(app, ["evaluate", str(preds), "--embedding-model", str(tmp_path / "no-model")])
    assert missing.exit_code != 0 and "embedding model folder not found" in missing.output


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(EvalError, match="embedding model folder not found"):
        LocalTokenEmbedder(tmp_path / "no-model")


def test_a_folder_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(EvalError, match="cannot load the embedding model"):
        LocalTokenEmbedder(tmp_path)
