"""`vipet train CONFIG`: one stage, one run folder, from config to saved model.

The run folder holds everything needed to trust and repeat the run: `config.yaml` (resolved, with
defaults), `run_info.json` (seed, git revision, library versions), `metrics.csv` and `tb/`,
`checkpoints/step_*` (resumable), `final/` (the model the next stage or `vipet generate` loads),
`training_curve.png` and `summary.json`. Rerunning the same command resumes from the last
checkpoint; a different config in an existing folder is refused instead of mixed in.

Under `accelerate launch` every process runs this; the main process alone writes the folder's
files (config, run info, the built-in LM's init, `final/`, summary, curve) and the others wait
for what they read, so no two processes ever write one file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml

from vipet.errors import TrainError
from vipet.fsutil import atomic_write_json, atomic_write_text
from vipet.hashing import json_differences, json_path_text
from vipet.train.config import RunConfig, config_to_dict, dump_config
from vipet.train.loop import StageTask, make_accelerator, run_loop
from vipet.provenance import git_revision, package_versions
from vipet.train.runlog import plot_training_curves

FINAL_DIR = "final"
# Settings that may change between a run and its resumption without changing what is learned.
RESUMABLE_CHANGES = {("train", "max_steps"), ("train", "max_minutes"), ("train", "progress"), ("train", "eval_every"),
                     ("train", "save_every"), ("train", "log_every"), ("train", "keep_checkpoints"), ("data", "num_workers"),
                     ("data", "max_val_samples"), ("generation",), ("eval",)}


def library_versions() -> dict[str, str]:
    """The packages that decide a trained model's numbers."""
    return package_versions(("vipet", "torch", "transformers", "peft", "accelerate", "tokenizers", "numpy"))


def prepare_run_dir(config: RunConfig, run_dir: str | Path) -> Path:
    """Create the run folder or check that an existing one ran this same config (then it resumes)."""
    run_dir = Path(run_dir)
    saved = run_dir / "config.yaml"
    current = config_to_dict(config)
    if saved.exists():
        previous = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
        changed = [path for path, _, _ in json_differences(previous, current)
                   if not any(path[: len(r)] == r for r in RESUMABLE_CHANGES)]
        if changed:
            names = ", ".join(json_path_text(path) for path in changed[:5])
            raise TrainError(f"run folder holds a different config ({names}); choose another --out or delete it", run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(saved, dump_config(config))
    info_path = run_dir / "run_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {"started": []}
    info.update({"seed": config.seed, "stage": config.stage, "name": config.name, "git_revision": git_revision(),
                 "versions": library_versions()})
    info["started"] = list(info.get("started", [])) + [dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")]
    atomic_write_json(info_path, info)
    return run_dir


def train(config: RunConfig, run_dir: str | Path, train_data=None, val_data=None, *, resume: bool = True,
          stop_at: int | None = None, plot: bool = True) -> dict[str, Any]:
    """Run one stage into `run_dir`; datasets default to the build named in `config.data`.

    With `stop_at` the run pauses after that optimizer step (checkpoint, no final model); the same
    call without it continues exactly where it stopped.
    """
    process = make_accelerator(config.train)  # before anything is written: it knows which process this is
    with process.main_process_first():
        run_dir = prepare_run_dir(config, run_dir) if process.is_main_process else Path(run_dir)
    if train_data is None or val_data is None:
        from vipet.train.data import open_split

        if train_data is None:
            train_data = open_split(config.data, config.data.train_split, training=True, seed=config.seed)
        if val_data is None:
            val_data = open_split(config.data, config.data.val_split, training=False, seed=config.seed)
    val_items = spread_subset(val_data, config.data.max_val_samples)
    with process.main_process_first():  # the main process writes the LM init the others then read
        task = _stage_task(config, run_dir, train_data, val_items)
    result = run_loop(task, config.train, run_dir, config.seed, resume=resume, stop_at=stop_at, accelerator=process)
    model = result.pop("model")
    if result["stop_reason"] == "stop_at" or not process.is_main_process:
        return {k: v for k, v in result.items()}
    final = run_dir / FINAL_DIR
    if config.stage == "contrastive":
        from vipet.train.contrastive import save_contrastive

        save_contrastive(model, final)
    else:
        model.save_pretrained(final)
    summary = {k: v for k, v in result.items() if k != "last"}
    summary.update({"final": FINAL_DIR, "last": result["last"], "train_samples": len(train_data), "val_samples": len(val_items)})
    atomic_write_json(run_dir / "summary.json", summary)
    if plot:
        val_names = ("i2t_top1",) if config.stage == "contrastive" else ("report.F1-T", "report.F1-TPF", "vqa.closed.accuracy")
        plot_training_curves(run_dir, val_metrics=val_names)
    return summary


def _stage_task(config: RunConfig, run_dir: Path, train_data, val_items) -> StageTask:
    if config.stage == "contrastive":
        return _contrastive_task(config, run_dir, train_data, val_items)
    from vipet.models.vlm import VisionLanguageModel
    from vipet.train.batching import vlm_loss_counts
    from vipet.train.loop import LossParts
    if config.model.hf_vlm is not None:
        from vipet.train.hf_stage import build_hf_vlm_task

        return build_hf_vlm_task(config, run_dir, train_data, val_items)
    from vipet.train.stages import build_vlm_task

    task = build_vlm_task(config, run_dir, train_data, val_items)
    if task.loss_parts is None and isinstance(task.model, VisionLanguageModel):
        # VisionLanguageModel.forward: loss = lm_loss + aux_weight * aux_loss, each a mean (vlm_loss_counts)
        task.loss_parts = LossParts({"lm_loss": 1.0, "aux_loss": task.model.config.aux_weight}, vlm_loss_counts)
    return task


def _contrastive_task(config: RunConfig, run_dir: Path, train_data, val_items) -> StageTask:
    import torch

    from vipet.models.text_encoder import create_small_text_encoder
    from vipet.train.batching import ContrastiveCollator
    from vipet.train.contrastive import build_contrastive_model, contrastive_loss_fn, retrieval_scores
    from vipet.train.stages import text_items_of, param_groups, tokenizer_corpus

    text_path = config.model.text_encoder.path
    if text_path is None or text_path == "small-bert":
        folder = run_dir / "text_encoder_init"
        if not (folder / "config.json").exists():
            create_small_text_encoder(tokenizer_corpus(text_items_of(train_data)), folder, config.model.text_encoder, config.seed)
        text_path = str(folder)
    torch.manual_seed(config.seed)
    model = build_contrastive_model(config.model, text_path)
    collate = ContrastiveCollator(model.text_encoder.tokenize)

    def evaluate(inner, step: int) -> dict[str, float]:
        device = next(inner.parameters()).device
        size = config.train.batch_size
        batches = []
        for start in range(0, len(val_items), size):
            batch = collate([val_items[i] for i in range(start, min(len(val_items), start + size))])
            batches.append({k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()})
        with torch.no_grad():
            return retrieval_scores(inner, batches)

    overrides = {"encoder": config.train.lr_encoder}
    return StageTask(
        model=model, train_data=train_data, collate=collate, loss_fn=contrastive_loss_fn,
        param_groups=param_groups(model, config.train.lr, config.train.weight_decay, overrides),
        evaluate=evaluate, num_workers=config.data.num_workers,
    )


def spread_subset(dataset, limit: int | None):
    """At most `limit` items spread evenly over the split (fixed, reproducible), materialised once."""
    total = len(dataset)
    count = total if limit is None else min(limit, total)
    indices = sorted({(i * total) // count for i in range(count)}) if count else []
    return [dataset[i] for i in indices]
