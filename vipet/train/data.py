"""The training view of a `vipet build` folder: the tasks and regions a config asks for, as one dataset.

The build layer owns reading the cache (`vipet.data.dataset`); this module only combines its
report and VQA datasets, adds the optional fact-preserving text augmentation, and gives the
stages the text side of every item without loading volumes (to train the tokenizer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import torch

from vipet.errors import TrainError
from vipet.train.batching import TextAugmented
from vipet.train.config import DataConfig


class TaskMix(torch.utils.data.Dataset):
    """Concatenation of the per-task datasets, keeping `set_epoch` and a cheap text-only view."""

    def __init__(self, parts: list[Any]):
        self.parts = [p for p in parts if len(p)]
        self.offsets = []
        total = 0
        for part in self.parts:
            self.offsets.append(total)
            total += len(part)
        self.total = total

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.total:
            raise IndexError(index)
        for part, offset in zip(reversed(self.parts), reversed(self.offsets)):
            if index >= offset:
                return part[index - offset]
        raise IndexError(index)

    def set_epoch(self, epoch: int) -> None:
        for part in self.parts:
            if hasattr(part, "set_epoch"):
                part.set_epoch(epoch)

    def text_items(self) -> Iterator[dict[str, Any]]:
        """`text`, `question`, `task`, `region` of every item, read from the manifest rows only."""
        for part in self.parts:
            rows, items = getattr(part, "rows", None), getattr(part, "items", None)
            if rows is None or items is None:
                yield from (part[i] for i in range(len(part)))
                continue
            for row_index, question, text in items:
                yield {"text": text, "question": question, "task": part.task, "region": rows[row_index]["region"]}


def open_split(config: DataConfig, split: str, *, training: bool, seed: int) -> torch.utils.data.Dataset:
    """The items of `split` for the configured tasks and regions (augmented only when `training`)."""
    from vipet.data.augment import AugmentConfig
    from vipet.data.dataset import ReportDataset, VQADataset

    root = Path(config.build)
    if not (root / "manifest.parquet").is_file():
        raise TrainError("not a build folder (no manifest.parquet); run `vipet build DATA OUT` first", root)
    augment = AugmentConfig() if training and config.augment_image else None
    regions = tuple(config.regions) if config.regions is not None else None
    parts = []
    if "report" in config.tasks:
        parts.append(ReportDataset(root, split, regions, augment=augment, seed=seed))
    if "vqa" in config.tasks:
        parts.append(VQADataset(root, split, regions, augment=augment, seed=seed, max_questions=config.max_questions))
    dataset: torch.utils.data.Dataset = TaskMix(parts)
    if not len(dataset):
        raise TrainError(f"split {split!r} has no samples for tasks {config.tasks} and regions {config.regions}", root)
    if training and config.max_train_samples is not None and config.max_train_samples < len(dataset):
        dataset = _Subset(dataset, config.max_train_samples)
    if training and config.augment_text > 0:
        dataset = TextAugmented(dataset, config.augment_text, seed)
    return dataset


class _Subset(torch.utils.data.Dataset):
    """An evenly spread, fixed subset (every task and region stays represented)."""

    def __init__(self, dataset, count: int):
        self.dataset = dataset
        total = len(dataset)
        self.indices = sorted({(i * total) // count for i in range(count)})

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.dataset[self.indices[index]]

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def text_items(self) -> Iterator[dict[str, Any]]:
        texts = list(self.dataset.text_items())
        return iter([texts[i] for i in self.indices])
