"""Batched generation into the shared predictions JSONL, for trained runs and for baselines.

Records are `{"id", "task", "prediction", "reference", "question"?, "model", "study"}`, one per
dataset item, in dataset order, written once and complete: the model name is the one the caller
gives (the benchmark's row name) and `study` the study key of the sample id, so intervals
resample studies, not samples. Long generations are resumable: finished records are appended to a
`.partial` file as batches complete, a rerun skips them, and the final file appears atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from vipet.errors import TrainError
from vipet.fsutil import atomic_write_text
from vipet.progress import progress_bar
from vipet.train.batching import PromptCollator
from vipet.train.config import GenerationConfig


def study_key(sample_id: str) -> str:
    """The study of a sample id: ids are `<study key>:<region>[:q<N>]` (vipet.data.manifest)."""
    return sample_id.split(":", 1)[0]


def make_record(item: dict[str, Any], prediction: str, model_name: str) -> dict[str, Any]:
    """The one record format of every predictions file (see the module docstring)."""
    record = {
        "id": str(item["sample_id"]),
        "task": item.get("task") or "report",
        "prediction": prediction,
        "reference": item.get("text") or "",
        "model": model_name,
        "study": study_key(str(item["sample_id"])),
    }
    if record["task"] == "vqa":
        record["question"] = item.get("question") or ""
    return record


@torch.no_grad()
def generate_records(
    model,
    items: Sequence[dict[str, Any]],
    generation: GenerationConfig,
    model_name: str,
    *,
    skip_ids: set[str] | None = None,
    on_batch: Callable[[list[dict[str, Any]]], None] | None = None,
    progress: bool = False,
    num_workers: int = 0,
) -> list[dict[str, Any]]:
    """Generate for every item not in `skip_ids`, batch by batch, on the model's device.

    `model` is the built-in VLM (left-padded prompt batches) or any model with
    `generate_texts(items, **generation)`, which builds its own inputs (`vipet.models.hf_vlm`).
    """
    skip_ids = skip_ids or set()
    todo = [i for i in range(len(items)) if str(_sample_id(items, i)) not in skip_ids]
    if not todo:
        return []
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    renders_itself = callable(getattr(model, "generate_texts", None))
    loader = torch.utils.data.DataLoader(
        items, batch_size=generation.batch_size, sampler=todo,
        collate_fn=_ItemsAsGiven() if renders_itself else _ItemsAndPrompts(model.prompts), num_workers=num_workers,
    )
    records: list[dict[str, Any]] = []
    with progress_bar("generate", len(todo), enabled=progress) as show_progress:
        for batch_items, batch in loader:
            if renders_itself:  # an HF VLM (vipet.models.hf_vlm) makes its own pictures and prompts from the items
                texts = model.generate_texts(batch, **generation.to_generate_kwargs())
            else:
                texts = model.generate(
                    batch["image"].to(device), batch["input_ids"].to(device), batch["attention_mask"].to(device),
                    **generation.to_generate_kwargs(),
                )
            done = [make_record(item, text, model_name) for item, text in zip(batch_items, texts)]
            records.extend(done)
            if on_batch:
                on_batch(done)
            show_progress(len(done))
    model.train(was_training)
    return records


class _ItemsAndPrompts:
    """Collate that keeps the raw items (for ids and references) beside the prompt batch."""

    def __init__(self, prompts):
        self.collate = PromptCollator(prompts)

    def __call__(self, items):
        light = [{k: v for k, v in item.items() if k != "image"} for item in items]
        return light, self.collate(items)


class _ItemsAsGiven:
    """Collate for a model that renders its own inputs: the light items (for records) and the full ones."""

    def __call__(self, items):
        return [{k: v for k, v in item.items() if k != "image"} for item in items], list(items)


def _sample_id(items, index: int) -> str:
    ids = getattr(items, "sample_ids", None)  # datasets that know ids without loading images
    return ids[index] if ids is not None else items[index]["sample_id"]


def write_jsonl(records: Iterable[dict[str, Any]], path: str | Path) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    return atomic_write_text(path, text)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                raise TrainError(f"line {number} is not JSON", path) from None
    return out


def generate_to_file(model, items, generation: GenerationConfig, model_name: str, out: str | Path,
                     progress: bool = True, num_workers: int = 0) -> Path:
    """Resumable generation of `items` into `out` (JSONL), in dataset order."""
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    done: dict[str, dict[str, Any]] = {}
    if partial.exists():
        for line in partial.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                done[record["id"]] = record
            except (json.JSONDecodeError, KeyError):
                continue  # a line cut by a kill: regenerate it
    out.parent.mkdir(parents=True, exist_ok=True)
    with partial.open("a", encoding="utf-8") as handle:

        def append(batch_records: list[dict[str, Any]]) -> None:
            for record in batch_records:
                handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            handle.flush()

        for record in generate_records(model, items, generation, model_name, skip_ids=set(done), on_batch=append,
                                       progress=progress, num_workers=num_workers):
            done[record["id"]] = record
    ordered = [done[str(_sample_id(items, i))] for i in range(len(items))]
    write_jsonl(ordered, out)
    partial.unlink(missing_ok=True)
    return out


def baseline_records(baseline, train_items: Iterable[dict[str, Any]], items: Sequence[dict[str, Any]],
                     tasks: Sequence[str], model_name: str | None = None) -> list[dict[str, Any]]:
    """Fit a baseline on the training items and predict every item of a task it answers.

    Records carry `model_name` (default: the baseline's own name).
    """
    baseline.fit(item for item in train_items if (item.get("task") or "report") in tasks)
    name = model_name or baseline.name
    return [make_record(item, baseline.predict(item), name) for item in items if (item.get("task") or "report") in tasks]
