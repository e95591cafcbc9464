"""Loop building blocks: the schedule, the epoch order, the data position used for exact resume,
and the strict check of what a resumed checkpoint holds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vipet.errors import TrainError
from vipet.train.loop import cosine_with_warmup, epoch_order, make_loader


def test_schedule_matches_transformers_cosine_with_warmup():
    from transformers import get_cosine_schedule_with_warmup

    reference = get_cosine_schedule_with_warmup(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), 10, 100)
    ours = cosine_with_warmup(10, 100, 0.0)
    for step in range(0, 101):
        assert ours(step) == pytest.approx(reference.lr_lambdas[0](step), abs=1e-12)


def test_schedule_floor_and_endpoints():
    factor = cosine_with_warmup(4, 20, 0.1)
    assert [factor(s) for s in (0, 2, 4)] == [0.0, 0.5, 1.0]
    assert factor(12) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert factor(20) == pytest.approx(0.1) and factor(35) == pytest.approx(0.1)


def test_epoch_order_is_a_seeded_permutation_split_evenly_across_ranks():
    order = epoch_order(10, seed=1, epoch=0)
    assert sorted(order.tolist()) == list(range(10))
    assert np.array_equal(order, epoch_order(10, seed=1, epoch=0))
    assert not np.array_equal(order, epoch_order(10, seed=1, epoch=1))
    shards = [epoch_order(10, seed=1, epoch=0, rank=r, world=3) for r in range(3)]
    assert all(len(s) == 3 for s in shards)
    assert len(set(np.concatenate(shards).tolist())) == 9  # disjoint, the remainder dropped


def test_loader_from_a_position_yields_the_rest_of_the_epoch():
    data = [{"x": i} for i in range(11)]

    def collate(items):
        return [item["x"] for item in items]

    def batches(start):
        return list(make_loader(data, 3, collate, seed=5, epoch=2, start_batch=start, num_workers=0))

    full = batches(0)
    assert len(full) == 3 and all(len(b) == 3 for b in full)  # 11 items -> 3 full batches, last partial dropped
    assert batches(1) == full[1:] and batches(3) == []
    with pytest.raises(TrainError, match="cannot fill one batch"):
        make_loader(data[:2], 3, collate, seed=5, epoch=0, start_batch=0, num_workers=0)


def test_deepspeed_without_the_package_is_a_clear_error():
    from vipet.train.config import DeepSpeedConfig, TrainConfig
    from vipet.train.loop import make_accelerator

    try:
        import deepspeed  # noqa: F401
    except ImportError:
        with pytest.raises(TrainError, match="deepspeed package is not installed"):
            make_accelerator(TrainConfig(deepspeed=DeepSpeedConfig(zero_stage=2)))
    else:  # pragma: no cover - only where deepspeed is installed
        pytest.skip("deepspeed installed: the plugin path is exercised on GPU machines")


class _FrozenFeaturesAndHead(torch.nn.Module):
    """A frozen layer (left out of checkpoints), a trained head, and a second name for the head (tied)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Linear(2, 2)
        self.features.requires_grad_(False)
        self.head = torch.nn.Linear(2, 1)
        self.tied = self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _tiny_task():
    from vipet.train.loop import StageTask

    torch.manual_seed(0)
    model = _FrozenFeaturesAndHead()
    data = [{"x": torch.full((2,), float(i))} for i in range(8)]

    def collate(items):
        return {"x": torch.stack([item["x"] for item in items])}

    def loss_fn(inner, batch):
        return {"loss": inner(batch["x"]).pow(2).mean()}

    return StageTask(model=model, train_data=data, collate=collate, loss_fn=loss_fn,
                     param_groups=[{"params": [p for p in model.parameters() if p.requires_grad]}],
                     frozen_state_keys={"features.weight", "features.bias"})


@pytest.fixture
def paused_run(tmp_path):
    """Two of four steps trained, checkpointed at step 2; returns (run folder, checkpoint weights file)."""
    from vipet.train.config import TrainConfig
    from vipet.train.loop import list_checkpoints, run_loop

    config = TrainConfig(max_steps=4, batch_size=2, warmup_steps=0, save_every=0, log_every=1, progress=False, cpu=True)
    result = run_loop(_tiny_task(), config, tmp_path, seed=1, stop_at=2)
    assert result["stop_reason"] == "stop_at"
    [(step, checkpoint)] = list_checkpoints(tmp_path)
    return tmp_path, config, checkpoint / "model.safetensors"


def test_checkpoint_leaves_out_exactly_the_frozen_and_tied_weights_and_resumes(paused_run):
    from safetensors.torch import load_file

    from vipet.train.loop import run_loop

    run_dir, config, weights = paused_run
    assert sorted(load_file(str(weights))) == ["head.bias", "head.weight"]
    assert run_loop(_tiny_task(), config, run_dir, seed=1)["steps"] == 4


@pytest.mark.parametrize("change, named", [("drop", "missing weights head.bias"),
                                           ("add", "unexpected weights stray.weight"),
                                           ("add-frozen", "unexpected weights features.weight")])
def test_resume_refuses_a_checkpoint_with_other_weights(paused_run, change, named):
    from safetensors.torch import load_file, save_file

    from vipet.train.loop import run_loop

    run_dir, config, weights = paused_run
    saved = load_file(str(weights))
    if change == "drop":
        del saved["head.bias"]
    elif change == "add":
        saved["stray.weight"] = torch.zeros(3)
    else:  # a frozen weight is never checkpointed: one found there means another model wrote the file
        saved["features.weight"] = torch.zeros(2, 2)
    save_file(saved, str(weights))
    with pytest.raises(TrainError, match=f"checkpoint does not match the model: {named}$"):
        run_loop(_tiny_task(), config, run_dir, seed=1)
