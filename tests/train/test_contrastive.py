"""InfoNCE against hand-computed values, retrieval scores on fixed embeddings, and a short run that learns to match."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vipet.train.contrastive import info_nce, retrieval_scores


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


def test_info_nce_on_aligned_and_shuffled_one_hot_pairs():
    """Orthonormal pairs at scale 10: the positive's logit is 10 (aligned) or 0 with one negative at 10 (shuffled)."""
    base = torch.eye(4, dtype=torch.float64)
    aligned = info_nce(base, base, torch.tensor(10.0))
    shuffled = info_nce(base, base[[1, 2, 3, 0]], torch.tensor(10.0))
    # info_nce works in float32: agreement to float32 resolution.
    assert float(aligned) == pytest.approx(math.log(1 + 3 * math.exp(-10)), abs=1e-7)
    assert float(shuffled) == pytest.approx(math.log(math.exp(10) + 3), rel=1e-6)


class _FixedEmbeddings:
    """Stands in for a ContrastiveModel: a batch's "image"/"text_ids" already are the embeddings."""

    def __call__(self, image, text_ids, text_mask):
        return {"loss": text_mask.float().mean()}

    def embed_images(self, image):
        return image

    def embed_texts(self, text_ids, text_mask):
        return text_ids


def test_retrieval_scores_count_how_many_reports_beat_the_true_one():
    images = torch.eye(8)
    texts = torch.eye(8)
    texts[0] = -texts[0]  # image 0: its report is the worst of all 8 (7 beat it): misses top-1 and top-5
    texts[[6, 7]] = texts[[7, 6]]  # images 6 and 7: the other's report wins (rank 1): top-5, not top-1
    batches = [{"image": images[:3], "text_ids": texts[:3], "text_mask": torch.ones(3, 1)},
               {"image": images[3:], "text_ids": texts[3:], "text_mask": torch.full((5, 1), 3.0)}]
    scores = retrieval_scores(_FixedEmbeddings(), batches)
    # Ranks are over the whole split (8 reports), not within a batch.
    assert scores == {"loss": 2.0, "i2t_top1": 5 / 8, "i2t_top5": 7 / 8}
    assert retrieval_scores(_FixedEmbeddings(), []) == {}


def test_a_few_steps_make_every_image_retrieve_its_own_report(tmp_path, make_items, texts):
    from vipet.models.encoders import EncoderConfig, build_encoder
    from vipet.models.text_encoder import TextEncoder, TextEncoderConfig, create_small_text_encoder
    from vipet.train.contrastive import ContrastiveModel

    items = [item for item in make_items(12, 0) if item["task"] == "report"][:3]  # three different reports
    assert len({item["text"] for item in items}) == 3
    text_config = TextEncoderConfig(vocab_size=400, hidden_size=32, num_heads=2)
    create_small_text_encoder(texts * 5, tmp_path / "text", text_config, seed=0)
    torch.manual_seed(0)
    encoder = build_encoder(EncoderConfig(input_size=(8, 16, 16), token_grid=(1, 2, 2), channels=(8, 16), out_dim=32))
    model = ContrastiveModel(encoder, TextEncoder(tmp_path / "text", text_config), embed_dim=16, temperature=0.07)
    tokens = model.text_encoder.tokenize([item["text"] for item in items])
    batch = {"image": torch.stack([item["image"] for item in items]), "text_ids": tokens["input_ids"],
             "text_mask": tokens["attention_mask"]}
    model.eval()  # no dropout: the scores below are of one fixed function
    before = retrieval_scores(model, [batch])
    assert before["i2t_top1"] < 1.0  # the random start does not already match them
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(15):
        loss = model(**batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = retrieval_scores(model, [batch])
    assert after["loss"] < before["loss"] / 2
    assert after["i2t_top1"] == 1.0  # each image's own report scores highest
    with torch.no_grad():
        sims = torch.nn.functional.normalize(model.embed_images(batch["image"]), dim=-1) @ \
            torch.nn.functional.normalize(model.embed_texts(batch["text_ids"], batch["text_mask"]), dim=-1).t()
    assert all(sims[i, i] > sims[i, j] for i in range(3) for j in range(3) if j != i)
