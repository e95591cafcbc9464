"""A BERTScore-style similarity: greedy cosine F1 of contextual token embeddings, given an embedder.

Pure numpy, like the rest of `vipet.eval`: the token vectors come from a `TokenEmbedder`, any
callable that maps texts to one array of L2-normalised token vectors (rows) per text. The one
shipped with vipet is `vipet.models.token_embeddings.LocalTokenEmbedder`, which reads an encoder
saved with `save_pretrained` from a local folder (nothing is ever downloaded); `vipet evaluate
--embedding-model DIR` builds it. Keeping the model outside this package is what lets `vipet.eval`
stay torch-free (an import-linter contract in pyproject.toml).

Score (Zhang et al. 2020, without idf weighting and without baseline rescaling, both of which
need corpus or hub statistics): P = mean over prediction tokens of the best cosine with a
reference token, R = mean over reference tokens of the best cosine with a prediction token,
F = 2PR/(P+R); the best F over a sample's references. An empty prediction scores 0.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class TokenEmbedder(Protocol):
    """texts -> one (n_tokens, dim) array of unit-length token vectors per text, in order."""

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray]: ...


def greedy_cosine_f1(hyp: np.ndarray, ref: np.ndarray) -> float:
    """F of greedy cosine matching between two sets of unit vectors (rows)."""
    if len(hyp) == 0 or len(ref) == 0:
        return 0.0
    similarity = hyp @ ref.T
    precision = float(similarity.max(axis=1).mean())
    recall = float(similarity.max(axis=0).mean())
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def embedding_f1(predictions: Sequence[str], references: Sequence[Sequence[str]], embedder: TokenEmbedder) -> np.ndarray:
    """Per-sample greedy cosine F1 against the best reference, shape (N,); one embedder call for all texts."""
    flat_refs = [r for refs in references for r in refs]
    texts = [p if p.strip() else "" for p in predictions] + flat_refs
    embeddings = embedder(texts)
    if len(embeddings) != len(texts):
        raise ValueError(f"the embedder returned {len(embeddings)} arrays for {len(texts)} texts")
    hyp_embeddings, ref_embeddings = embeddings[: len(predictions)], embeddings[len(predictions) :]
    scores = np.zeros(len(predictions))
    position = 0
    for i, refs in enumerate(references):
        scores[i] = max(greedy_cosine_f1(hyp_embeddings[i], ref_embeddings[position + k]) for k in range(len(refs)))
        position += len(refs)
    return scores
