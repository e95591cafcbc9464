"""Two processes (`accelerate launch`, DDP over gloo on CPU) train like one at the same global batch,
and checkpoints resume across process counts (2 -> 1 and 1 -> 2).

The configs are vipet/configs/small_vlm.yaml and stage3_lora.yaml shrunk to tiny sizes (a LoRA on a
tiny random GPT-2 for stage 3), without dropout: dropout draws from each process's own RNG, so it
cannot match across process counts. Text augmentation stays on in the LoRA run: it is keyed by
(seed, epoch, index) and so is the same for any process count. Mixed report and VQA items give the
two shards of a batch different numbers of answer tokens and report rows, which is what the loop's
`LossParts` weighting is for (tested on its own below, without processes).

Tolerance, derived: both sides compute in float32 (unit roundoff u = 2^-24 = 6e-8). Two processes
sum each loss and gradient in another order (two shard sums plus an all-reduce instead of one sum,
other padding widths and so other matmul shapes); a reordered float32 sum of n terms moves by at
most ~n*u relatively, n being a few hundred answer tokens per batch here, so ~1e-5 at worst, and
over the few Adam steps a relative gradient error passes into the update about one to one.
Measured on these runs: losses and grad norms within 3e-7 relatively, final weights within 5e-7;
the tests hold losses and grad norms to rtol 1e-5 and weights to atol 1e-5 (30x the measured).
Without the shard weighting the logged loss is off by more than 1e-3 (tested below). A resumed run
on the same process count is bit-identical (tests/train/test_stages.py); across counts it is held
to the same tolerance as the uninterrupted two-process run.

This file is also the worker the processes run: `python -m accelerate.commands.launch ... THIS PLAN.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

CONFIGS = Path(__file__).parents[2] / "vipet" / "configs"
STEPS, PAUSE = 4, 2
LOSS_RTOL, WEIGHT_ATOL = 1e-5, 1e-5
LAUNCH_TIMEOUT_S = 420
TINY = {
    "model.encoder": {"kind": "cnn3d", "input_size": [8, 16, 16], "token_grid": [1, 2, 2], "channels": [8, 16],
                      "stem_stride": [2, 2, 2], "out_dim": 32},
    "model.small_lm": {"vocab_size": 400, "n_layer": 2, "n_embd": 32, "n_head": 2, "n_positions": 640,
                       "dropout": 0.0, "min_frequency": 1},
    "model.max_length": 256,
    "data.max_val_samples": 2,
    "train.max_steps": STEPS, "train.max_minutes": None, "train.batch_size": 4, "train.warmup_steps": 1,
    "train.log_every": 1, "train.save_every": 0, "train.eval_every": 0, "train.progress": False,
    "train.threads": 1, "train.cpu": True, "train.lr": 1e-2, "train.lr_encoder": 3e-3,
    "generation.max_new_tokens": 3, "generation.batch_size": 2, "eval.clinical": False,
}


def run_config(name: str, lm: str | None = None):
    """small_vlm.yaml, or stage3_lora.yaml on the tiny random `lm` (no stage-2 model, fp32, no dropout)."""
    from vipet.train.config import load_config

    if name == "small_vlm":
        return load_config(CONFIGS / "small_vlm.yaml", dict(TINY))
    overrides = {**TINY, "model.init_from": None, "model.lm": lm, "model.lora": {"r": 4, "alpha": 8, "dropout": 0.0},
                 "train.mixed_precision": "no", "train.grad_accum": 2, "train.lr": 1e-2, "train.lr_projector": 1e-2,
                 "data.augment_text": 0.5}
    return load_config(CONFIGS / "stage3_lora.yaml", overrides)


def run(name: str, run_dir: Path, items_file: Path, lm: str | None = None, stop_at: int | None = None) -> dict:
    """One `vipet train` run on the saved items; the same code in the test and in each worker process."""
    from vipet.train.batching import TextAugmented
    from vipet.train.run import train

    torch.set_num_threads(1)
    config = run_config(name, lm)
    items = torch.load(items_file, weights_only=False)
    train_items = items["train"]
    if config.data.augment_text > 0:
        train_items = TextAugmented(train_items, config.data.augment_text, config.seed)
    return train(config, run_dir, train_items, items["val"], stop_at=stop_at, plot=False)


def worker(plan_file: str) -> None:
    """Runs the plan's runs in order in this process (one of those `accelerate launch` started)."""
    plan = json.loads(Path(plan_file).read_text(encoding="utf-8"))
    for job in plan["runs"]:
        run(job["name"], Path(job["dir"]), Path(plan["items"]), job.get("lm"), job.get("stop_at"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_two_processes(plan: dict, tmp: Path) -> None:
    """`accelerate launch` 2 CPU processes (gloo) on this file; killed (its process group) on timeout."""
    plan_file = tmp / "plan.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port()),
               str(Path(__file__).resolve()), str(plan_file)]
    # --multi_gpu with ACCELERATE_USE_CPU: torchrun-style processes on CPU (accelerate's --cpu alone starts one).
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
           "MASTER_ADDR": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
    log = tmp / "launch.log"
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(timeout=LAUNCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = "timeout"
    if code != 0:
        pytest.fail(f"accelerate launch exited with {code}:\n{log.read_text(encoding='utf-8')[-4000:]}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_lms, make_items):
    """Every run folder: one-process references in this process, the two-process runs launched once."""
    tmp = tmp_path_factory.mktemp("multiprocess")
    items_file = tmp / "items.pt"
    torch.save({"train": make_items(17, 0), "val": make_items(2, 1)}, items_file)  # 17: a remainder is dropped
    lm = without_dropout(tiny_lms["gpt2"], tmp / "lm")
    before = torch.get_num_threads()
    run("small_vlm", tmp / "vlm_1", items_file)
    run("small_vlm", tmp / "vlm_1to2", items_file, stop_at=PAUSE)
    run("lora", tmp / "lora_1", items_file, lm)
    launch_two_processes({"items": str(items_file), "runs": [
        {"name": "small_vlm", "dir": str(tmp / "vlm_2")},
        {"name": "small_vlm", "dir": str(tmp / "vlm_2to1"), "stop_at": PAUSE},
        {"name": "small_vlm", "dir": str(tmp / "vlm_1to2")},  # resumes the one-process checkpoint
        {"name": "lora", "dir": str(tmp / "lora_2"), "lm": lm},
    ]}, tmp)
    pause_checkpoint = sorted((tmp / "vlm_2to1" / "checkpoints").iterdir())[-1]
    pause_keys = sorted(_weights(pause_checkpoint / "model.safetensors"))
    run("small_vlm", tmp / "vlm_2to1", items_file)  # resumes the two-process checkpoint
    torch.set_num_threads(before)
    return tmp, pause_keys


def without_dropout(lm: str, out: Path) -> str:
    """A copy of the tiny GPT-2 with its dropouts (0.1 each by default) at 0: the frozen LM under
    LoRA still drops activations in training mode, from each process's own RNG."""
    shutil.copytree(lm, out)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    for key in ("attn_pdrop", "embd_pdrop", "resid_pdrop", "summary_first_dropout"):
        config[key] = 0.0
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return str(out)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _train_rows(run_dir: Path) -> dict[tuple[int, str], float]:
    from vipet.train.runlog import read_metrics

    return {(r["step"], r["name"]): r["value"] for r in read_metrics(run_dir / "metrics.csv") if r["split"] == "train"}


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return {str(p.relative_to(run_dir)) + ":" + k: v for p in sorted((run_dir / "final").rglob("*.safetensors"))
            for k, v in _weights(p).items()}


def assert_same_training(one: Path, other: Path) -> None:
    """Same losses at every step (rtol), same final weights (atol), same number of samples seen."""
    rows_one, rows_other = _train_rows(one), _train_rows(other)
    losses = sorted(key for key in rows_one if key[1].endswith("loss") or key[1] == "grad_norm")
    assert {step for step, _ in losses} == set(range(1, STEPS + 1))
    for key in losses:
        assert rows_other[key] == pytest.approx(rows_one[key], rel=LOSS_RTOL), key
    for step in range(1, STEPS + 1):
        assert rows_other[(step, "lr")] == rows_one[(step, "lr")]
    weights_one, weights_other = _final_weights(one), _final_weights(other)
    assert sorted(weights_one) == sorted(weights_other) and weights_one
    for key, value in weights_one.items():
        torch.testing.assert_close(weights_other[key], value, rtol=0, atol=WEIGHT_ATOL, msg=key)
    summary_one = json.loads((one / "summary.json").read_text(encoding="utf-8"))
    summary_other = json.loads((other / "summary.json").read_text(encoding="utf-8"))
    assert summary_other["steps"] == summary_one["steps"] == STEPS
    import yaml

    train = yaml.safe_load((one / "config.yaml").read_text(encoding="utf-8"))["train"]
    assert summary_other["samples_seen"] == summary_one["samples_seen"] == STEPS * train["batch_size"] * train["grad_accum"]


@pytest.mark.slow
def test_two_processes_train_the_small_vlm_like_one(runs):
    tmp, _ = runs
    assert_same_training(tmp / "vlm_1", tmp / "vlm_2")
    # The losses moved: equal curves are not equal because nothing trained.
    rows = _train_rows(tmp / "vlm_1")
    assert rows[(STEPS, "loss")] < rows[(1, "loss")]


@pytest.mark.slow
def test_two_processes_train_the_lora_stage_like_one(runs):
    tmp, _ = runs
    assert_same_training(tmp / "lora_1", tmp / "lora_2")
    assert (tmp / "lora_2" / "final" / "lm_adapter" / "adapter_config.json").exists()


@pytest.mark.slow
def test_a_two_process_checkpoint_resumes_on_one_process(runs):
    tmp, pause_keys = runs
    assert pause_keys and not any(key.startswith("module.") for key in pause_keys)  # unwrapped names
    assert_same_training(tmp / "vlm_1", tmp / "vlm_2to1")
    info = json.loads((tmp / "vlm_2to1" / "run_info.json").read_text(encoding="utf-8"))
    assert len(info["started"]) == 2  # one entry per run, not one per process


@pytest.mark.slow
def test_a_one_process_checkpoint_resumes_on_two_processes(runs):
    tmp, _ = runs
    assert_same_training(tmp / "vlm_1", tmp / "vlm_1to2")


class _TwoShards:
    """Stands in for the accelerator of one of two processes: `reduce` returns the sum both would see."""

    num_processes = 2
    device = torch.device("cpu")

    def __init__(self, total: torch.Tensor):
        self.total = total

    def reduce(self, tensor: torch.Tensor, reduction: str) -> torch.Tensor:
        assert reduction == "sum"
        return self.total.clone()


def test_shard_weighting_gives_the_global_batch_loss_and_gradient(make_items, tiny_lms):
    """On a batch whose halves hold different numbers of answer tokens and report rows, the plain
    average of the halves' losses is not the batch loss; the `LossParts` weighting is, gradient too."""
    from vipet.train.batching import vlm_loss_counts
    from vipet.train.loop import LossParts, global_batch_loss
    from vipet.train.stages import build_stage_vlm, training_collator, vlm_loss_fn

    torch.set_num_threads(1)
    config = run_config("small_vlm")  # its auxiliary findings head makes aux_loss a second part
    config.model.vlm.lm = tiny_lms["gpt2"]  # a saved LM: nothing is written for the built-in one
    model = build_stage_vlm(config, Path("unused"), [])
    assert model.aux_head is not None
    items = make_items(8, 0)
    collate = training_collator(model)
    parts = LossParts({"lm_loss": 1.0, "aux_loss": model.config.aux_weight}, vlm_loss_counts)
    params = [p for p in model.parameters() if p.requires_grad]

    def loss_and_grad(loss: torch.Tensor) -> tuple[float, list[torch.Tensor]]:
        return float(loss.detach()), [g.clone() for g in torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)]

    whole_batch = collate(items)
    whole, whole_grad = loss_and_grad(vlm_loss_fn(model, whole_batch)["loss"])
    shards = [collate(items[rank::2]) for rank in range(2)]
    counts = [vlm_loss_counts(batch) for batch in shards]
    assert counts[0] != counts[1]  # the case the weighting is for
    total = torch.tensor([float(sum(c[name] for c in counts)) for name in ("lm_loss", "aux_loss")], dtype=torch.float64)
    plain, weighted, grads = 0.0, 0.0, [torch.zeros_like(p) for p in params]
    for batch in shards:
        out = vlm_loss_fn(model, batch)
        plain += float(out["loss"]) / 2
        value, grad = loss_and_grad(global_batch_loss(_TwoShards(total), parts, out, batch)["loss"])
        weighted += value / 2
        grads = [g + h / 2 for g, h in zip(grads, grad)]
    assert abs(plain - whole) > 1e-3 * whole
    assert weighted == pytest.approx(whole, rel=1e-6)
    for got, want in zip(grads, whole_grad):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-7)


def test_a_loss_that_is_not_its_parts_is_refused():
    from vipet.errors import TrainError
    from vipet.train.batching import vlm_loss_counts
    from vipet.train.loop import LossParts, global_batch_loss

    out = {"loss": torch.tensor(3.0), "lm_loss": torch.tensor(2.0), "aux_loss": torch.tensor(1.0)}
    batch = {"labels": torch.tensor([[-100, 5, 6]]), "aux_mask": torch.tensor([True])}
    total = torch.tensor([2.0, 1.0], dtype=torch.float64)
    assert float(global_batch_loss(_TwoShards(total), LossParts({"lm_loss": 1.0, "aux_loss": 1.0}, vlm_loss_counts),
                                   out, batch)["loss"]) == pytest.approx(2.0 * 2 * 2 / 2 + 1.0 * 2 * 1 / 1)
    with pytest.raises(TrainError, match="LossParts do not describe it"):
        global_batch_loss(_TwoShards(total), LossParts({"lm_loss": 1.0, "aux_loss": 0.5}, vlm_loss_counts), out, batch)


def test_the_global_batch_must_split_evenly_over_the_processes():
    from vipet.errors import TrainError
    from vipet.train.loop import make_loader

    data = [{"x": i} for i in range(12)]
    with pytest.raises(TrainError, match="does not split evenly over 2 processes"):
        make_loader(data, 3, list, seed=0, epoch=0, start_batch=0, num_workers=0, rank=0, world=2)
    one = list(make_loader(data, 4, list, seed=0, epoch=0, start_batch=0, num_workers=0))
    two = [list(make_loader(data, 4, list, seed=0, epoch=0, start_batch=1, num_workers=0, rank=r, world=2)) for r in (0, 1)]
    # Global batch 1 onwards is the same items on 2 processes as on 1, split between the ranks.
    assert [sorted(a + b, key=lambda item: item["x"]) for a, b in zip(*two)] == \
           [sorted(batch, key=lambda item: item["x"]) for batch in one[1:]]


if __name__ == "__main__":
    worker(sys.argv[1])
