"""Torch datasets over a build: item contract, determinism, batching, VQA."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TARGET
from torch.utils.data import DataLoader

from vipet.data.augment import AugmentConfig
from vipet.data.dataset import ImageTextDataset, ReportDataset, VQADataset, collate


def test_report_item_contract(built):
    out, _ = built
    dataset = ReportDataset(out, split="train", regions=("whole", "chest"))
    assert len(dataset) == 6  # 3 train studies (one moved there by the leak fix) x 2 sample kinds
    item = dataset[0]
    assert set(item) == {"sample_id", "image", "text", "question", "task", "region"}
    assert item["image"].dtype == torch.float32 and tuple(item["image"].shape) == (2, *TARGET)
    assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    assert item["task"] == "report" and item["question"] is None and item["region"] in ("whole", "chest")
    assert item["sample_id"].startswith("2018_")
    with pytest.raises(IndexError):
        dataset[len(dataset)]


def test_augmented_items_are_deterministic_per_epoch(built):
    out, _ = built
    dataset = ReportDataset(out, split=None, regions=("chest",), augment=AugmentConfig(flip_lr_p=0.5), seed=1)
    first = [dataset[i] for i in range(len(dataset))]
    again = [dataset[i] for i in range(len(dataset))]
    assert all(torch.equal(a["image"], b["image"]) and a["text"] == b["text"] for a, b in zip(first, again))
    dataset.set_epoch(1)
    later = [dataset[i] for i in range(len(dataset))]
    assert any(not torch.equal(a["image"], b["image"]) for a, b in zip(first, later))
    flipped = [it for it in first + later if "trái" in it["text"]]
    assert flipped and all("phổi trái" in it["text"] for it in flipped)


def test_image_text_pairs_and_loader_batches(built):
    out, _ = built
    pairs = ImageTextDataset(out, split=None)
    assert {it["region"] for it in (pairs[i] for i in range(len(pairs)))} == {"head_neck", "chest", "abdomen_pelvis"}
    batch = next(iter(DataLoader(pairs, batch_size=4, collate_fn=collate)))
    assert tuple(batch["image"].shape) == (4, 2, *TARGET) and len(batch["text"]) == 4


def test_vqa_items_use_the_report_toolkit(built):
    out, _ = built
    dataset = VQADataset(out, split=None, regions=("whole",), max_questions=3)
    item = dataset[0]
    assert item["task"] == "vqa" and item["question"] and item["text"]
    assert item["sample_id"].endswith(":q0")
    assert np.isfinite(item["image"].numpy()).all()
