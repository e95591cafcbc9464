"""The one training loop every stage shares: plain, top to bottom, on `accelerate`.

accelerate only places things on devices (CPU, one or many GPUs, bf16, DeepSpeed ZeRO-2) and
saves/restores model, optimizer, scheduler and RNG states. Everything else is written out here:
the epoch permutation, the cosine schedule, accumulation, logging, evaluation and checkpoints.

Exact resume: a checkpoint is taken only at an optimizer-step boundary and stores, besides
accelerate's states, the data position (epoch, batch within epoch). Batches come from a
permutation that is a pure function of (seed, epoch), and loader workers are seeded from
(seed, epoch, position), so the run continued from a checkpoint sees the same next batch with
the same RNG state as the run that never stopped: the next-step loss is identical. Resume is
strict: a checkpoint must hold exactly the weights a save keeps (every weight but the frozen ones
and second names of tied tensors), or it is refused with the names that differ.

Several processes (`accelerate launch --num_processes N`, DDP) train on the same global batches as
one process: `train.batch_size` is the global micro-batch, each process takes every N-th item of
it, and a stage that says how its loss is made of means (`LossParts`) has each process's share
weighted so the averaged gradient is the one-process gradient of the whole batch. Checkpoints
hold the unwrapped weights (no `module.` prefix), the optimizer and the data position, which do
not depend on the process count: a run saved by 2 processes resumes on 1 and the other way round.
Dropout draws from each process's own RNG, so only runs without dropout are identical across
process counts; augmentation is keyed by (seed, epoch, index) and is.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from vipet.errors import TrainError
from vipet.progress import progress_bar
from vipet.train.config import TrainConfig
from vipet.train.runlog import RunLogger

CHECKPOINT_DIR = "checkpoints"
_STEP_DIR = re.compile(r"^step_(\d+)$")


@dataclass
class LossParts:
    """How a stage's `loss` is made of means: `loss = sum(weights[name] * out[name])`, each
    `out[name]` a mean over `counts(batch)[name]` units (answer tokens, report rows).

    Plain DDP averages the processes' losses, which weights every shard alike; when shards hold
    different numbers of units (reports are longer than VQA answers) that is not the mean over the
    global batch. With the counts summed over processes, each process scales each part by
    (its units x processes / all units), and the average is exactly the one-process loss.
    """

    weights: dict[str, float]
    counts: Callable[[dict[str, Any]], dict[str, int]]


@dataclass
class StageTask:
    """What a stage hands to the loop: the model, its data, and how to score a batch."""

    model: nn.Module
    train_data: Any  # a map-style dataset of item dicts
    collate: Callable[[list[dict[str, Any]]], dict[str, Any]]
    loss_fn: Callable[[nn.Module, dict[str, Any]], dict[str, torch.Tensor]]  # "loss" plus logged parts
    param_groups: list[dict[str, Any]]
    evaluate: Callable[[nn.Module, int], dict[str, float]] | None = None
    frozen_state_keys: set[str] = field(default_factory=set)  # weights that never change: not checkpointed
    num_workers: int = 0
    loss_parts: LossParts | None = None  # None: several processes average their shards' losses alike


@dataclass
class LoopState:
    """Where training is; saved with every checkpoint."""

    step: int = 0  # optimizer steps done
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of `epoch` already consumed
    samples_seen: int = 0

    def state_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.__dict__.update(state)


def cosine_with_warmup(warmup_steps: int, total_steps: int, min_ratio: float) -> Callable[[int], float]:
    """LR multiplier: linear warm-up from 0, then half a cosine from 1 down to `min_ratio` at `total_steps`."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def epoch_order(num_items: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> np.ndarray:
    """This rank's item order for `epoch`: a seeded permutation, cut to equal shards across ranks."""
    order = np.random.default_rng([seed, epoch]).permutation(num_items)
    per_rank = num_items // world
    return order[: per_rank * world][rank::world]


def make_loader(dataset, batch_size: int, collate, *, seed: int, epoch: int, start_batch: int, num_workers: int,
                rank: int = 0, world: int = 1, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """This rank's share of the full global batches of this epoch from batch `start_batch` on.

    `batch_size` is the global batch; each of the `world` ranks gets `batch_size / world` items of
    it. Global batch j is epoch positions [j * batch_size, (j + 1) * batch_size) for every `world`
    (rank r holds the positions = r mod world), so the batches, their number and the data position
    do not depend on the process count. Worker RNG depends only on the position.
    """
    if batch_size % world:
        raise TrainError(f"train.batch_size {batch_size} (the global batch) does not split evenly over {world} processes")
    per_rank = batch_size // world
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    order = epoch_order(len(dataset), seed, epoch, rank, world)
    n_batches = len(order) // per_rank
    if n_batches == 0:
        raise TrainError(f"{len(dataset)} training samples cannot fill one batch of {batch_size} on {world} process(es)")
    indices = order[start_batch * per_rank : n_batches * per_rank].tolist()
    generator = torch.Generator().manual_seed(int(np.random.default_rng([seed, epoch, start_batch]).integers(2**62)))
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=per_rank,
        sampler=indices,
        collate_fn=collate,
        num_workers=num_workers,
        generator=generator,
        drop_last=True,
        pin_memory=pin_memory,
        persistent_workers=False,
    )


def make_accelerator(config: TrainConfig):
    """Accelerator for this config: CPU, GPU(s), bf16/fp16, DeepSpeed ZeRO by config."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    if AcceleratorState._shared_state and AcceleratorState().num_processes == 1:
        # A second run in the same process (tests, `vipet bench`) may use other settings.
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    plugin = None
    if config.deepspeed is not None:
        try:
            import deepspeed  # noqa: F401
        except ImportError:
            raise TrainError("train.deepspeed is set but the deepspeed package is not installed (pip install deepspeed)") from None
        from accelerate.utils import DeepSpeedPlugin

        plugin = DeepSpeedPlugin(
            zero_stage=config.deepspeed.zero_stage,
            gradient_accumulation_steps=config.grad_accum,
            gradient_clipping=config.max_grad_norm,
            offload_optimizer_device="cpu" if config.deepspeed.offload_optimizer else "none",
        )
    accelerator = Accelerator(
        cpu=config.cpu,
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.grad_accum,
        deepspeed_plugin=plugin,
    )
    if plugin is not None:
        from accelerate.utils import DistributedType

        if accelerator.distributed_type != DistributedType.DEEPSPEED:  # accelerate drops it quietly on a forced CPU
            raise TrainError("train.deepspeed is set but accelerate did not start DeepSpeed: it does not with "
                             "train.cpu: true or ACCELERATE_USE_CPU=1")
        # The loop makes its own loaders (not prepared), so DeepSpeed is told the per-process batch here.
        accelerator.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = \
            config.batch_size // accelerator.num_processes
    return accelerator


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and (p / "loop_state.json").exists()]
    return sorted(found)


def checkpoint_weights(state: dict[str, torch.Tensor], frozen: set[str]) -> dict[str, torch.Tensor]:
    """What a checkpoint keeps of a model state dict: what training changes, each tied tensor once
    (safetensors refuses aliases). The save hook writes exactly this; resume expects exactly this."""
    seen: set[tuple[int, tuple[int, ...]]] = set()
    kept = {}
    for key, value in state.items():
        alias = (value.untyped_storage().data_ptr(), tuple(value.shape))
        if key.removeprefix("module.") in frozen or alias in seen:
            continue
        seen.add(alias)
        kept[key] = value
    return kept


def check_checkpoint_weights(checkpoint: Path, model: nn.Module, frozen: set[str]) -> None:
    """Refuse a checkpoint whose weights are not exactly those `checkpoint_weights` keeps of `model`.

    The weights are then loaded with `strict=False` only because the frozen (and tied) tensors are
    known to be absent; any other missing or unexpected name is a `TrainError` naming it.
    """
    from safetensors import safe_open

    path = Path(checkpoint) / "model.safetensors"
    if not path.is_file():
        raise TrainError("checkpoint has no model.safetensors (not written by this loop?)", checkpoint)
    with safe_open(str(path), framework="pt") as handle:
        saved = {key.removeprefix("module.") for key in handle.keys()}
    expected = {key.removeprefix("module.") for key in checkpoint_weights(model.state_dict(), frozen)}
    missing, unexpected = sorted(expected - saved), sorted(saved - expected)
    if missing or unexpected:
        def names(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")

        parts = ([f"missing weights {names(missing)}"] if missing else []) + \
                ([f"unexpected weights {names(unexpected)}"] if unexpected else [])
        raise TrainError(f"checkpoint does not match the model: {'; '.join(parts)}", path)


def _save_checkpoint(accelerator, state: LoopState, run_dir: Path, keep: int) -> Path:
    """Save into a temporary folder and rename, so a killed save never looks like a checkpoint."""
    import json

    final = Path(run_dir) / CHECKPOINT_DIR / f"step_{state.step:07d}"
    partial = final.with_name(final.name + ".partial")
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial), safe_serialization=True)
    accelerator.wait_for_everyone()  # every process's RNG file is written before the folder is renamed
    if accelerator.is_main_process:
        (partial / "loop_state.json").write_text(json.dumps(state.state_dict()), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        for _, old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def run_loop(task: StageTask, config: TrainConfig, run_dir: str | Path, seed: int, *, resume: bool = True,
             stop_at: int | None = None, accelerator=None) -> dict[str, Any]:
    """Train `task.model` for `config.max_steps` optimizer steps (or `max_minutes`), resuming when possible.

    `stop_at` pauses the run after that step with a checkpoint (the schedule still spans
    `max_steps`), for training in chunks on machines that are lent for a limited time.
    `max_minutes` counts from the start of this call (a resumed run gets a fresh budget).
    `accelerator`: the one `make_accelerator(config)` made for this run (made here when None).

    Returns a summary: steps done, last logged values, elapsed seconds, data-loading share.
    """
    import json

    from accelerate.utils import DistributedType, set_seed

    run_dir = Path(run_dir)
    if config.threads:
        torch.set_num_threads(config.threads)
    accelerator = accelerator if accelerator is not None else make_accelerator(config)
    set_seed(seed)
    optimizer = torch.optim.AdamW(task.param_groups, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, cosine_with_warmup(config.warmup_steps, config.max_steps, config.min_lr_ratio)
    )
    model, optimizer = accelerator.prepare(task.model, optimizer)
    state = LoopState()
    accelerator.register_for_checkpointing(scheduler)

    frozen = task.frozen_state_keys
    wrapped = accelerator.unwrap_model(model) is not model  # DDP: state-dict names start with "module."

    def drop_frozen(models, weights, output_dir):
        for i, weight in enumerate(weights):
            kept = checkpoint_weights(weight, frozen)
            weights[i] = {k.removeprefix("module."): v for k, v in kept.items()} if wrapped else kept

    def load_unwrapped(models, input_dir):
        """Load the unwrapped names into the unwrapped model, whatever process count saved them."""
        from safetensors.torch import load_file

        for loaded in list(models):  # accelerate lists here the models it would load itself (not DeepSpeed's)
            saved = load_file(str(Path(input_dir) / "model.safetensors"))  # on the CPU; load_state_dict copies to the device
            accelerator.unwrap_model(loaded).load_state_dict({k.removeprefix("module."): v for k, v in saved.items()},
                                                             strict=False)  # names checked by check_checkpoint_weights
            models.remove(loaded)

    accelerator.register_save_state_pre_hook(drop_frozen)
    accelerator.register_load_state_pre_hook(load_unwrapped)

    checkpoints = list_checkpoints(run_dir) if resume else []
    if checkpoints:
        step, path = checkpoints[-1]
        if accelerator.distributed_type != DistributedType.DEEPSPEED:  # DeepSpeed saves and loads every weight itself
            check_checkpoint_weights(path, model, frozen)
        accelerator.load_state(str(path), strict=False)
        state.load_state_dict(json.loads((path / "loop_state.json").read_text(encoding="utf-8")))
        accelerator.print(f"resumed from {path.name} (step {step})")
    logger = RunLogger(run_dir, resume_step=state.step, enabled=accelerator.is_main_process)

    world, rank = accelerator.num_processes, accelerator.process_index
    params = [p for group in task.param_groups for p in group["params"]]
    start_time, data_seconds, compute_seconds, samples_now = time.perf_counter(), 0.0, 0.0, 0
    window: dict[str, list[float]] = {}
    last: dict[str, float] = {}
    stop_reason = "max_steps"

    progress = progress_bar("train", config.max_steps, completed=state.step, fields={"loss": float("nan")},
                            enabled=config.progress and accelerator.is_main_process)
    model.train()
    with progress as show_progress:
        while state.step < config.max_steps:
            loader = make_loader(
                task.train_data, config.batch_size, task.collate, seed=seed, epoch=state.epoch,
                start_batch=state.batch_in_epoch, num_workers=task.num_workers,
                rank=rank, world=world, pin_memory=accelerator.device.type == "cuda",
            )
            iterator = iter(loader)
            while True:
                t0 = time.perf_counter()
                try:
                    batch = next(iterator)
                except StopIteration:
                    break
                t1 = time.perf_counter()
                data_seconds += t1 - t0
                batch = {k: v.to(accelerator.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
                with accelerator.accumulate(model):
                    out = task.loss_fn(model, batch)
                    if world > 1 and task.loss_parts is not None:
                        out = global_batch_loss(accelerator, task.loss_parts, out, batch)
                    accelerator.backward(out["loss"])
                    if accelerator.sync_gradients and config.max_grad_norm > 0:
                        grad_norm = accelerator.clip_grad_norm_(params, config.max_grad_norm)
                        if grad_norm is not None:  # DeepSpeed clips inside its engine
                            window.setdefault("grad_norm", []).append(float(grad_norm))
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                logged = {name: value for name, value in out.items()
                          if name == "loss" or name.endswith("_loss") or name.startswith("metric_")}
                if world > 1:  # the global batch's values, not the main process's shard
                    logged = dict(zip(logged, accelerator.reduce(torch.stack([v.detach().float() for v in logged.values()]),
                                                                 "mean")))
                for name, value in logged.items():
                    window.setdefault(name, []).append(float(value.detach()))
                state.batch_in_epoch += 1
                state.samples_seen += config.batch_size
                samples_now += config.batch_size
                compute_seconds += time.perf_counter() - t1
                if not accelerator.sync_gradients:
                    continue
                scheduler.step()
                state.step += 1
                last = {k: float(np.mean(v)) for k, v in window.items()}
                window = {}
                if state.step % config.log_every == 0 or state.step == config.max_steps:
                    elapsed = time.perf_counter() - start_time
                    logger.log(state.step, "train", {**last, "lr": scheduler.get_last_lr()[0], "epoch": state.epoch,
                                                     "data_share": data_seconds / max(1e-9, data_seconds + compute_seconds),
                                                     "elapsed_s": elapsed})
                show_progress(completed=state.step, loss=last.get("loss", float("nan")))
                out_of_time = config.max_minutes is not None and time.perf_counter() - start_time > 60 * config.max_minutes
                paused = stop_at is not None and state.step >= stop_at
                done = state.step >= config.max_steps or out_of_time or paused
                if task.evaluate and config.eval_every and state.step % config.eval_every == 0 and not done:
                    _evaluate(task, accelerator, model, state.step, logger)
                if (config.save_every and state.step % config.save_every == 0) or done:
                    _save_checkpoint(accelerator, state, run_dir, config.keep_checkpoints)
                if out_of_time or paused:
                    stop_reason = "max_minutes" if out_of_time else "stop_at"
                if done:
                    break
            if state.step >= config.max_steps or stop_reason != "max_steps":
                break
            state.epoch += 1
            state.batch_in_epoch = 0
    if task.evaluate and stop_reason != "stop_at":
        last.update({f"val_{k}": v for k, v in _evaluate(task, accelerator, model, state.step, logger).items()})
    logger.close()
    total = data_seconds + compute_seconds
    return {
        "steps": state.step,
        "epochs": state.epoch,
        "samples_seen": state.samples_seen,
        "stop_reason": stop_reason,
        "last": last,
        "seconds": time.perf_counter() - start_time,
        "step_seconds": total,  # data wait + compute of the steps run now (no evaluation, no saving)
        "samples_per_second": samples_now / total if total else 0.0,
        "data_share": data_seconds / total if total else 0.0,
        "model": accelerator.unwrap_model(model),
    }


def global_batch_loss(accelerator, parts: LossParts, out: dict[str, torch.Tensor],
                      batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """`out` with each part (and `loss`) scaled by this process's share of the global batch's units.

    The processes' scaled values average to the mean over the whole global batch, and so does DDP's
    gradient. A loss that is not the weighted sum of the named parts is refused rather than
    silently trained on other weights.
    """
    names = [name for name in parts.weights if name in out]
    combined = sum(parts.weights[name] * out[name] for name in names)
    if not torch.allclose(combined.detach().float(), out["loss"].detach().float(), rtol=1e-5, atol=1e-6):
        raise TrainError(f"the stage's loss is not the sum of its parts {names} with weights "
                         f"{[parts.weights[n] for n in names]}: its LossParts do not describe it")
    counts = parts.counts(batch)
    local = torch.tensor([float(counts[name]) for name in names], dtype=torch.float64, device=accelerator.device)
    total = accelerator.reduce(local.clone(), "sum")
    share = torch.where(total > 0, local * accelerator.num_processes / total.clamp(min=1.0), torch.zeros_like(local))
    scaled = dict(out)
    for name, factor in zip(names, share.tolist()):
        scaled[name] = out[name] * factor
    scaled["loss"] = sum(parts.weights[name] * scaled[name] for name in names)
    return scaled


def _evaluate(task: StageTask, accelerator, model, step: int, logger: RunLogger) -> dict[str, float]:
    """Validation on the main process (generation does not shard); the others wait."""
    metrics: dict[str, float] = {}
    if accelerator.is_main_process:
        inner = accelerator.unwrap_model(model)
        inner.eval()
        with torch.random.fork_rng(devices=[]), accelerator.autocast():
            metrics = task.evaluate(inner, step)  # sampling must not move the training RNG
        inner.train()
        logger.log(step, "val", metrics)
    accelerator.wait_for_everyone()
    return metrics
