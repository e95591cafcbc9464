"""InfoNCE against a hand-computed reference, and retrieval scores on a perfect and a shuffled match."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vipet.train.contrastive import info_nce


def _reference(image, text, scale):
    """Symmetric InfoNCE written out with numpy loops."""
    image = image / np.linalg.norm(image, axis=1, keepdims=True)
    text = text / np.linalg.norm(text, axis=1, keepdims=True)
    logits = scale * image @ text.T
    n = len(logits)

    def ce(rows):
        return -np.mean([rows[i, i] - np.log(np.sum(np.exp(rows[i]))) for i in range(n)])

    return 0.5 * (ce(logits) + ce(logits.T))


def test_info_nce_matches_the_written_out_formula():
    rng = np.random.default_rng(0)
    image, text = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    ours = info_nce(torch.tensor(image), torch.tensor(text), torch.tensor(3.0))
    assert float(ours) == pytest.approx(_reference(image, text, 3.0), rel=1e-6)


def test_info_nce_rewards_aligned_pairs():
    base = torch.eye(4)
    aligned = info_nce(base, base, torch.tensor(10.0))
    shuffled = info_nce(base, base[[1, 2, 3, 0]], torch.tensor(10.0))
    assert float(aligned) < 0.01 < 5.0 < float(shuffled)
