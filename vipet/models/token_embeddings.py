"""Contextual token vectors from a LOCAL encoder folder, for the BERTScore-style score of `vipet.eval.embedding`.

The metric itself (greedy cosine F1) is pure numpy and lives in `vipet.eval`, which never imports
torch; this module is the torch side: it loads an encoder saved with `save_pretrained` from a
folder with `local_files_only=True` (nothing is ever downloaded, no hub model is assumed) and turns
texts into L2-normalised token vectors. An instance is the `TokenEmbedder` the metric takes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from vipet.errors import EvalError


class LocalTokenEmbedder:
    """texts -> one (n_tokens, dim) float64 array of unit rows per text; special tokens dropped.

    `layer` indexes the model's hidden states (-1: the last layer); texts are truncated to
    `max_length` tokens and embedded `batch_size` at a time.
    """

    def __init__(self, model_dir: str | Path, layer: int = -1, batch_size: int = 16, max_length: int = 512) -> None:
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise EvalError("embedding model folder not found (a local folder saved with save_pretrained is required)", model_dir)
        from transformers import AutoModel, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
            self.model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            raise EvalError(f"cannot load the embedding model ({exc.__class__.__name__}: {str(exc).splitlines()[0]})", model_dir) from None
        self.model_dir, self.layer, self.batch_size, self.max_length = model_dir, layer, batch_size, max_length

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        with torch.no_grad():
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                encoded = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True,
                                         max_length=self.max_length, return_special_tokens_mask=True)
                special = encoded.pop("special_tokens_mask")
                hidden = self.model(**encoded, output_hidden_states=True).hidden_states[self.layer]
                keep = (encoded["attention_mask"] == 1) & (special == 0)
                for row in range(len(batch)):
                    vectors = hidden[row][keep[row]].double().numpy()
                    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                    out.append(vectors / np.where(norms > 0, norms, 1.0))
        return out
