"""From dataset items to model batches: token layouts, padding, optional text augmentation.

Items are the dicts of `vipet.data.dataset` (`sample_id`, `image` (2, D, H, W), `text` (the
report, or the answer of a VQA item), `question`, `task`, `region`). Training batches are padded
on the right; generation batches on the left, so every prompt ends where generation starts.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from vipet.models.prompts import IGNORE_INDEX, PromptEncoder

META_KEYS = ("sample_id", "task", "region", "question", "text")


def _meta(items: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    return {key: [item.get(key) for item in items] for key in META_KEYS}


def _images(items: Sequence[dict[str, Any]]) -> torch.Tensor:
    return torch.stack([torch.as_tensor(item["image"], dtype=torch.float32) for item in items])


class VLMCollator:
    """Right-padded training batches: prompt, visual slots, answer + eos, answer-only labels.

    With `aux_targets="findings"` each batch also carries the clinical-finding labels of every
    report (`aux_targets`) and which rows are reports (`aux_mask`), for the auxiliary loss.
    """

    def __init__(self, prompts: PromptEncoder, aux_targets: str | None = None):
        self.prompts = prompts
        self.aux_targets = aux_targets

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        encoded = [
            self.prompts.encode(item.get("task") or "report", item.get("text") or "", item.get("region") or "whole", item.get("question"))
            for item in items
        ]
        width = max(len(e.input_ids) for e in encoded)
        pad = self.prompts.pad_id
        batch = {
            "image": _images(items),
            "input_ids": torch.tensor([e.input_ids + [pad] * (width - len(e.input_ids)) for e in encoded]),
            "labels": torch.tensor([e.labels + [IGNORE_INDEX] * (width - len(e.labels)) for e in encoded]),
            "attention_mask": torch.tensor([[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in encoded]),
        }
        if self.aux_targets is not None:
            batch["aux_mask"] = torch.tensor([(item.get("task") or "report") == "report" for item in items])
        if self.aux_targets == "findings":
            from vipet.models.findings import finding_targets

            batch["aux_targets"] = finding_targets([item.get("text") or "" for item in items])
        batch.update(_meta(items))
        return batch


def vlm_loss_counts(batch: dict[str, Any]) -> dict[str, int]:
    """The units each VLM loss part is a mean over: `lm_loss` the scored answer tokens (position t
    predicts label t + 1), `aux_loss` the report rows (`aux_mask`; every row without it)."""
    labels = batch["labels"]
    mask = batch.get("aux_mask")
    return {"lm_loss": int((labels[:, 1:] != IGNORE_INDEX).sum()),
            "aux_loss": int(mask.sum()) if mask is not None else int(labels.shape[0])}


class PromptCollator:
    """Left-padded prompts (no answer) for generation; the reference stays in `text`."""

    def __init__(self, prompts: PromptEncoder):
        self.prompts = prompts

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        encoded = [
            self.prompts.encode_prompt(item.get("task") or "report", item.get("region") or "whole", item.get("question"))
            for item in items
        ]
        width = max(len(e.input_ids) for e in encoded)
        pad = self.prompts.pad_id
        batch = {
            "image": _images(items),
            "input_ids": torch.tensor([[pad] * (width - len(e.input_ids)) + e.input_ids for e in encoded]),
            "attention_mask": torch.tensor([[0] * (width - len(e.input_ids)) + [1] * len(e.input_ids) for e in encoded]),
        }
        batch.update(_meta(items))
        return batch


class ContrastiveCollator:
    """Images with their tokenized reports for InfoNCE."""

    def __init__(self, tokenize):
        self.tokenize = tokenize

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        tokens = self.tokenize([item.get("text") or "" for item in items])
        batch = {"image": _images(items), "text_ids": tokens["input_ids"], "text_mask": tokens["attention_mask"]}
        batch.update(_meta(items))
        return batch


class TextAugmented(torch.utils.data.Dataset):
    """Rewrites a training report with probability `probability` (facts kept, by the report toolkit).

    The draw depends on (seed, epoch, index) only, so a resumed run augments exactly as the
    uninterrupted one; the loop calls `set_epoch` before each epoch.
    """

    def __init__(self, dataset, probability: float, seed: int):
        self.dataset = dataset
        self.probability = probability
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def text_items(self):
        return self.dataset.text_items() if hasattr(self.dataset, "text_items") else (self.dataset[i] for i in range(len(self)))

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.dataset[index])
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if item.get("task", "report") == "report" and item.get("text") and rng.random() < self.probability:
            from vipet.reports.augment import augment_report

            item["text"] = augment_report(item["text"], seed=int(rng.integers(2**31)))
        return item
