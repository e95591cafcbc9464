"""A BERTScore-style similarity (greedy cosine F1 of contextual token embeddings), from a LOCAL model.

Only this module touches torch/transformers, and only inside `embedding_f1`, so importing
`vipet.eval` stays torch-free. The model is read from a folder with `local_files_only=True`;
nothing is ever downloaded (no hub model is assumed: pass any encoder saved with
`save_pretrained`, e.g. a multilingual or Vietnamese BERT you have on disk).

Score (Zhang et al. 2020, without idf weighting and without baseline rescaling, both of which
need corpus or hub statistics): token embeddings of the chosen layer, special tokens dropped,
L2-normalised; P = mean over prediction tokens of the best cosine with a reference token,
R = mean over reference tokens of the best cosine with a prediction token, F = 2PR/(P+R); the best
F over a sample's references. An empty prediction scores 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from vipet.errors import EvalError


def _embed(texts: list[str], tokenizer, model, layer: int, batch_size: int, max_length: int) -> list[np.ndarray]:
    import torch

    out: list[np.ndarray] = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            encoded = tokenizer(batch, return_tensors="pt", padding=True, truncation=True, max_length=max_length,
                                return_special_tokens_mask=True)
            special = encoded.pop("special_tokens_mask")
            hidden = model(**encoded, output_hidden_states=True).hidden_states[layer]
            keep = (encoded["attention_mask"] == 1) & (special == 0)
            for row in range(len(batch)):
                vectors = hidden[row][keep[row]].double().numpy()
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                out.append(vectors / np.where(norms > 0, norms, 1.0))
    return out


def greedy_cosine_f1(hyp: np.ndarray, ref: np.ndarray) -> float:
    """F of greedy cosine matching between two sets of unit vectors (rows)."""
    if len(hyp) == 0 or len(ref) == 0:
        return 0.0
    similarity = hyp @ ref.T
    precision = float(similarity.max(axis=1).mean())
    recall = float(similarity.max(axis=0).mean())
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def embedding_f1(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    model_path: str | Path,
    layer: int = -1,
    batch_size: int = 16,
    max_length: int = 512,
) -> np.ndarray:
    """Per-sample greedy cosine F1 against the best reference, shape (N,)."""
    model_path = Path(model_path)
    if not model_path.is_dir():
        raise EvalError("embedding model folder not found (a local folder saved with save_pretrained is required)", model_path)
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
        model = AutoModel.from_pretrained(model_path, local_files_only=True).eval()
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot load the embedding model ({exc.__class__.__name__}: {str(exc).splitlines()[0]})", model_path) from None
    flat_refs = [r for refs in references for r in refs]
    texts = [p if p.strip() else "" for p in predictions] + flat_refs
    embeddings = _embed(texts, tokenizer, model, layer, batch_size, max_length)
    hyp_embeddings, ref_embeddings = embeddings[: len(predictions)], embeddings[len(predictions) :]
    scores = np.zeros(len(predictions))
    position = 0
    for i, refs in enumerate(references):
        scores[i] = max(greedy_cosine_f1(hyp_embeddings[i], ref_embeddings[position + k]) for k in range(len(refs)))
        position += len(refs)
    return scores
