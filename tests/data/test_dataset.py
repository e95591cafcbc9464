"""Torch datasets over a build: item contract, determinism, VQA answers true to the report and to a flip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import CORRUPT_KEY, STUDIES, TARGET

from vipet.data.augment import AugmentConfig
from vipet.data.dataset import ReportDataset, VQADataset

FLIP_ONLY = AugmentConfig(flip_lr_p=1.0, affine_p=0.0, intensity_p=0.0, noise_p=0.0, crop_p=0.0)
# The cohort's one report: a 40 x 40 mm mass of the right lower lobe, SUVmax 9,0, judged likely malignant.
PRESENCE = "Có khối mờ ở phổi không?"
SUVMAX = "SUVmax của khối mờ ở thùy dưới phổi phải là bao nhiêu?"
SIZE = "Kích thước của khối mờ ở thùy dưới phổi phải là bao nhiêu?"
BONE = "Có tổn thương tăng chuyển hóa FDG khu trú ở xương không?"


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


def test_vqa_items_use_the_report_toolkit(built):
    out, _ = built
    dataset = VQADataset(out, split=None, regions=("whole",), max_questions=3)
    item = dataset[0]
    assert item["task"] == "vqa" and item["question"] and item["text"]
    assert item["sample_id"].endswith(":q0")
    assert np.isfinite(item["image"].numpy()).all()



def _by_study(dataset: VQADataset) -> dict[str, dict[str, dict]]:
    """study key -> question -> item, over every item of the dataset."""
    out: dict[str, dict[str, dict]] = {}
    for i, (row_index, _, _) in enumerate(dataset.items):
        item = dataset[i]
        out.setdefault(dataset.rows[row_index]["study_key"], {})[item["question"]] = item
    return out


def _mirrored(text: str) -> str:
    """phải <-> trái by hand (the cohort's texts use both words only as sides)."""
    return text.replace("phải", "<side>").replace("trái", "phải").replace("<side>", "trái")


def test_vqa_answers_agree_with_the_report(built):
    out, _ = built
    per_study = _by_study(VQADataset(out, split=None, regions=("whole",)))
    built_keys = {f"2018_{m:02d}_{d:02d}_{pid}" for m, d, pid, *_ in STUDIES} - {CORRUPT_KEY}
    assert set(per_study) == built_keys
    for questions in per_study.values():
        assert len(questions) == 11
        assert questions[PRESENCE]["text"].startswith("Có. Khối mờ ở thùy dưới phổi phải, kích thước 40 x 40 mm")
        assert questions[SUVMAX]["text"] == "SUVmax của tổn thương là 9."  # the report's "SUVmax: 9,0"
        assert questions[SIZE]["text"] == "40 x 40 mm."
        assert questions[BONE]["text"].startswith("Không.")  # the report finds nothing in the bones


def test_a_left_right_flip_mirrors_the_image_and_the_answer(built):
    out, _ = built
    plain = VQADataset(out, split=None, regions=("whole",))
    flipped = VQADataset(out, split=None, regions=("whole",), augment=FLIP_ONLY, seed=3)
    assert len(flipped) == len(plain)
    for i in range(len(plain)):
        before, after = plain[i], flipped[i]
        assert torch.equal(after["image"], before["image"].flip(-1))
        assert after["sample_id"] == before["sample_id"] and after["text"] == _mirrored(before["text"])
    presence = next(flipped[i] for i in range(len(flipped)) if flipped[i]["question"] == PRESENCE)
    assert presence["text"].startswith("Có. Khối mờ ở thùy dưới phổi trái,") and "phải" not in presence["text"]


def test_a_left_right_flip_mirrors_the_question(built):
    out, _ = built
    plain = VQADataset(out, split=None, regions=("whole",))
    flipped = VQADataset(out, split=None, regions=("whole",), augment=FLIP_ONLY, seed=3)
    for i in range(len(plain)):
        assert flipped[i]["question"] == _mirrored(plain[i]["question"])
