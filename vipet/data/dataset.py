"""Torch datasets over a build folder: report generation and VQA.

Items are dicts, the same for every task so one collate function (vipet.train.batching) and one
model interface serve all of them:

    {"sample_id": str, "image": FloatTensor (C, D, H, W) channels [PET, CT...] in [0, 1],
     "text": str target, "question": str | None, "task": "report" | "vqa", "region": str}

Each item reads one compressed volume from the cache (`cache.open_array`: ~1 MB read, a few ms of
zstd decompression on one thread, CRC-checked) and makes one float32 copy; nothing of the source
is decoded or resampled at load time (benchmarks/cache_size.py measures both ways).
Augmentation (vipet.data.augment) is drawn from (seed, epoch, index): call `set_epoch` each epoch.
Text paraphrase is a training concern (`data.augment_text`, vipet.train.batching.TextAugmented).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vipet.data.augment import AugmentConfig, augment, rng_for
from vipet.data.cache import open_array
from vipet.schema import WHOLE
from vipet.data.manifest import read_manifest
from vipet.data.tasks import qa_pairs
from vipet.errors import BuildError


class PetCtDataset(Dataset):
    """Manifest rows of one split (and chosen regions) with their cached volumes.

    `regions`: sample kinds to include ("whole", "head_neck", "chest", "abdomen_pelvis"); None = all.
    `augment`: an AugmentConfig for training, None for evaluation.
    """

    task = "report"

    def __init__(self, root: str | Path, split: str | Sequence[str] | None = "train",
                 regions: Iterable[str] | None = (WHOLE,), *, augment: AugmentConfig | None = None,
                 seed: int = 0, rows: list[dict[str, Any]] | None = None):
        self.root = Path(root)
        all_rows = rows if rows is not None else read_manifest(self.root)
        splits = {split} if isinstance(split, str) else (set(split) if split is not None else None)
        wanted = set(regions) if regions is not None else None
        self.full_text = {r["study_key"]: r["report_text"] for r in all_rows if r["region"] == WHOLE}
        self.rows = [r for r in all_rows
                     if (splits is None or r["split"] in splits) and (wanted is None or r["region"] in wanted)
                     and r["report_text"].strip()]
        self.augment_config = augment
        self.seed = seed
        self.epoch = 0
        self.items = self._items()

    def _items(self) -> list[tuple[int, str | None, str]]:
        """(row index, question, target text) per item."""
        return [(i, None, row["report_text"]) for i, row in enumerate(self.rows)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def load_image(self, row: dict[str, Any]) -> np.ndarray:
        """The cached (C, D, H, W) volume of a row as float32 (float16 in the cache, widened exactly).

        Widened by torch: its half-to-float conversion is vectorised and ~10x NumPy's `astype`,
        the largest cost of an item otherwise (benchmarks/cache_size.py).
        """
        values = open_array(self.root / row["image_path"], mmap=False)
        if values.dtype == np.float16:
            return torch.from_numpy(values).float().numpy()
        return values.astype(np.float32, copy=False)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.items):
            raise IndexError(index)
        row_index, question, text = self.items[index]
        row = self.rows[row_index]
        image = self.load_image(row)
        if self.augment_config is not None:
            rng = rng_for(self.seed, self.epoch, index)
            texts = [text] if question is None else [text, question]
            image, texts, _ = augment(image, texts, rng, self.augment_config)
            text, question = texts[0], (texts[1] if question is not None else None)
        return {
            "sample_id": row["sample_id"] if question is None else f"{row['sample_id']}:q{self._qa_number(index)}",
            "image": torch.from_numpy(np.ascontiguousarray(image)),
            "text": text,
            "question": question,
            "task": self.task,
            "region": row["region"],
        }

    def _qa_number(self, index: int) -> int:
        return 0


class ReportDataset(PetCtDataset):
    """Report generation: image -> the region's report text (full report for "whole")."""


class VQADataset(PetCtDataset):
    """Visual question answering: questions generated from each sample's text by the report toolkit."""

    task = "vqa"

    def __init__(self, root: str | Path, split: str | Sequence[str] | None = "train",
                 regions: Iterable[str] | None = (WHOLE,), *, max_questions: int | None = None, **kwargs: Any):
        self.max_questions = max_questions
        super().__init__(root, split, regions, **kwargs)

    def _items(self) -> list[tuple[int, str | None, str]]:
        items: list[tuple[int, str | None, str]] = []
        self._numbers: list[int] = []
        for i, row in enumerate(self.rows):
            text = self.full_text.get(row["study_key"], row["report_text"])
            for n, qa in enumerate(qa_pairs(text, row["region"], max_pairs=self.max_questions)):
                items.append((i, qa["question"], qa["answer"]))
                self._numbers.append(n)
        if self.rows and not items:
            raise BuildError("no questions could be generated from the selected reports", self.root)
        return items

    def _qa_number(self, index: int) -> int:
        return self._numbers[index]

