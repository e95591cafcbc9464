"""Training throughput of the small VLM on 1 process against 2 (`accelerate launch`, DDP over gloo, CPU).

    python benchmarks/train_multiprocess.py [--data runs/build] [--steps 8] [--batch-size 8]

Without --data a 16-study synthetic cohort is written and built (32x64x64 volumes) in a temporary
folder first (benchmarks/train_speed.py's `make_build`). Then the real training loop
(`vipet.train.loop.run_loop`, the code `vipet train` runs) on `vipet/configs/small_vlm.yaml` as
shipped, at the same global batch, side by side:

- 1 process, 1 thread (the reference);
- 1 process, 2 threads (torch's intra-op threads: the other way to use two cores);
- 2 processes, 1 thread each (this script relaunched under `accelerate launch`).

Printed: samples/s (data wait + compute, no evaluation or saving), seconds per optimizer step, the
ratio against the reference, and the machine's load average before each run: on a shared machine
the ratios say more about the neighbours than about DDP.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_task(build: Path, run_dir: Path, batch_size: int):
    """The small VLM's stage task on `build` (the built-in LM is created in `run_dir` once, then reused)."""
    from vipet.train.config import load_config
    from vipet.train.data import open_split
    from vipet.train.run import _stage_task

    config = load_config(REPO / "vipet" / "configs" / "small_vlm.yaml",
                         {"data.build": str(build), "train.batch_size": batch_size, "train.cpu": True,
                          "train.progress": False, "train.max_minutes": None, "train.save_every": 0,
                          "train.eval_every": 0, "train.warmup_steps": 1})
    train = open_split(config.data, config.data.train_split, training=True, seed=config.seed)
    task = _stage_task(config, run_dir, train, [])
    task.evaluate = None  # throughput only
    return config, task


def measure(build: Path, run_dir: Path, steps: int, batch_size: int, threads: int) -> dict:
    import torch

    from vipet.train.loop import run_loop

    torch.set_num_threads(threads)
    config, task = make_task(build, run_dir, batch_size)
    config.train.max_steps, config.train.log_every, config.train.threads = steps, steps, threads
    result = run_loop(task, config.train, run_dir / f"run_{os.environ.get('WORLD_SIZE', '1')}p_{threads}t",
                      config.seed, resume=False)
    result.pop("model")
    return {"samples_per_second": result["samples_per_second"], "step_seconds": result["step_seconds"] / steps}


def load_average() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def two_processes(args, build: Path, work: Path) -> dict:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = work / "two_processes.json"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_ip", "127.0.0.1", "--main_process_port", str(port), __file__,
               "--worker", str(out), "--data", str(build), "--work", str(work),
               "--steps", str(args.steps), "--batch-size", str(args.batch_size)]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run(command, env=env, check=True, timeout=1800)
    return json.loads(out.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a `vipet build` folder (default: a synthetic one)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8, help="the global batch")
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:  # one of the two launched processes
        result = measure(args.data, args.work, args.steps, args.batch_size, threads=1)
        if int(os.environ.get("RANK", "0")) == 0:
            args.worker.write_text(json.dumps(result), encoding="utf-8")
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build = args.data
        if build is None:
            spec = importlib.util.spec_from_file_location("train_speed", REPO / "benchmarks" / "train_speed.py")
            train_speed = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(train_speed)
            build = train_speed.make_build(work, n=16)
        rows = []
        for name, threads in (("1 process, 1 thread", 1), ("1 process, 2 threads", 2)):
            load = load_average()
            rows.append((name, load, measure(build, work, args.steps, args.batch_size, threads)))
        load = load_average()
        rows.append(("2 processes, 1 thread each", load, two_processes(args, build, work)))
    reference = rows[0][2]["samples_per_second"]
    print(f"small VLM (small_vlm.yaml as shipped), global batch {args.batch_size}, {args.steps} steps, CPU")
    print(f"{'run':28s} {'samples/s':>10s} {'s/step':>8s} {'x ref':>6s}  load avg (1, 5, 15 min)")
    for name, load, row in rows:
        print(f"{name:28s} {row['samples_per_second']:10.2f} {row['step_seconds']:8.2f} "
              f"{row['samples_per_second'] / reference:6.2f}  {load}")


if __name__ == "__main__":
    main()
