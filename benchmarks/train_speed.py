"""Training speed of the small VLM on CPU, and the share of step time spent waiting for data.

    python benchmarks/train_speed.py [--data runs/build400] [--steps 30] [--threads 1] [--workers 0]

Without --data a 24-study synthetic cohort is written and built (32x64x64 volumes) in a temporary
folder first. Four runs of the real training loop (`vipet.train.loop.run_loop`, the code
`vipet train` runs), in this process, side by side:

- small-vlm: `vipet/configs/small_vlm.yaml` as shipped (word-level BPE, CNN stem stride 2);
- reference: the straightforward encoder it replaced (CNN stem stride (1, 2, 2), full depth in
  the first stage), same sizes otherwise;
- clause-bpe: small-vlm with clause-merging BPE (2.4x shorter sequences; faster, but its greedy
  decoding drops lesion positions, see vipet.models.small_lm);
- in-memory: small-vlm with every batch's items preloaded in RAM, i.e. with no data loading:
  its step time is the compute-only floor the data share is measured against.

Printed: samples/s, seconds per optimizer step, data-wait share of step time (target < 10%),
and the ratios against the reference. Shared machines are noisy: runs are interleaved and the
best of --repeats is kept.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_build(folder: Path, n: int = 24) -> Path:
    """A small synthetic cohort built at the size the small VLM uses."""
    from typer.testing import CliRunner

    from vipet.cli import app

    runner = CliRunner()
    cohort, build = folder / "cohort", folder / "build"
    for args in (["synth", str(cohort), "--n", str(n), "--seed", "3"],
                 ["build", str(cohort), str(build), "--split", "random", "--target-shape", "32,64,64",
                  "--export", "none", "--no-renders"]):
        result = runner.invoke(app, args)
        if result.exit_code != 0:
            sys.exit(f"setup failed: {' '.join(args[:1])}: {result.output}")
    return build


def run_variant(name: str, config, data_dir: Path, steps: int, in_memory: bool) -> dict:
    from vipet.train.data import open_split
    from vipet.train.loop import run_loop
    from vipet.train.stages import build_vlm_task

    config = copy.deepcopy(config)
    config.train.max_steps, config.train.save_every, config.train.eval_every = steps, 0, 0
    config.train.log_every, config.train.progress, config.train.warmup_steps = steps, False, 1
    train = open_split(config.data, config.data.train_split, training=True, seed=config.seed)
    if in_memory:
        train = [train[i] for i in range(len(train))]  # loaded once: indexing costs nothing (compute-only reference)
    with tempfile.TemporaryDirectory() as run_dir:
        task = build_vlm_task(config, Path(run_dir), train, [])
        task.evaluate = None
        result = run_loop(task, config.train, run_dir, config.seed, resume=False)
    step_time = result["step_seconds"] / steps
    return {"name": name, "samples_per_s": result["samples_per_second"], "step_s": step_time,
            "data_share": result["data_share"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="A build folder (default: a fresh 24-study synthetic build).")
    parser.add_argument("--steps", type=int, default=30, help="Optimizer steps per run.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 suits a busy machine; on an idle 2-core one, 2 is 1.6x faster).")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers.")
    parser.add_argument("--repeats", type=int, default=1, help="Interleaved repeats; the best is kept.")
    args = parser.parse_args()

    from vipet.train.config import load_config

    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or make_build(Path(scratch))
        base = load_config(REPO / "vipet" / "configs" / "small_vlm.yaml", {"data.build": str(data)})
        base.train.threads = args.threads
        base.data.num_workers = args.workers
        reference = copy.deepcopy(base)
        reference.model.vlm.encoder.stem_stride = (1, 2, 2)
        clause = copy.deepcopy(base)
        clause.model.small_lm.clause_merges = True
        variants = [("small-vlm", base, False), ("reference", reference, False), ("clause-bpe", clause, False),
                    ("in-memory", base, True)]
        best: dict[str, dict] = {}
        for _ in range(args.repeats):
            for name, config, in_memory in variants:
                start = time.perf_counter()
                row = run_variant(name, config, Path(data), args.steps, in_memory)
                row["wall_s"] = time.perf_counter() - start
                if name not in best or row["samples_per_s"] > best[name]["samples_per_s"]:
                    best[name] = row

    ref = best["reference"]
    print(f"\nsmall VLM training speed on CPU ({args.threads} thread(s), {args.workers} loader worker(s), "
          f"batch {base.train.batch_size}, {args.steps} steps, best of {args.repeats})")
    print(f"{'run':<12} {'samples/s':>10} {'s/step':>8} {'data share':>11} {'vs reference':>13}")
    for name in ("small-vlm", "reference", "clause-bpe", "in-memory"):
        row = best[name]
        print(f"{name:<12} {row['samples_per_s']:>10.2f} {row['step_s']:>8.2f} {row['data_share']:>10.1%} "
              f"{row['samples_per_s'] / ref['samples_per_s']:>12.2f}x")
    overhead = best["small-vlm"]["step_s"] / best["in-memory"]["step_s"] - 1
    print(f"data loading: {best['small-vlm']['data_share']:.1%} of step time spent waiting for the loader inside the "
          f"loop (target < 10%); step time vs the in-memory run: {overhead:+.1%} (separate runs, so machine noise included)")


if __name__ == "__main__":
    main()
