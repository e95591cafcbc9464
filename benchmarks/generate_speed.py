"""Inference speed of the small VLM (and optionally Gemma 3 270M as its LM): studies/s and tokens/s.

    python benchmarks/generate_speed.py [--batch-sizes 1,4,16] [--new-tokens 64] [--beams 4]
                                        [--threads 1] [--lm small-gpt2|gemma3-270m] [--repeats 2]

The model is assembled the way `vipet train vipet/configs/small_vlm.yaml` assembles it
(`vipet.train.stages.build_stage_vlm`: the 3D CNN encoder, MLP projector and the 4-layer GPT-2
whose BPE is learned from the real reports when ../shared/data/real is present, else from
synthetic report text), with its initial weights: the speed of a forward pass does not depend
on the weight values, and every study is made to generate exactly --new-tokens tokens
(`min_new_tokens = max_new_tokens`), so the work per study is fixed and the same in every row.
With `--lm gemma3-270m` the LM is Gemma 3 270M (`vipet.models.gemma`, the `vipet[gemma]` extra;
its first use converts the GGUF weights into a cached folder, ~60 s, not timed).

Each row: batch size, decoding (greedy, or beam search with --beams beams), seconds per batch
(best of --repeats after one warm-up batch), studies/s and generated tokens/s (tokens returned
per study, not counting the beams' extra hypotheses). The torch thread count is set explicitly
and the load average is printed before and after, because shared machines are noisy.
CPU only unless --device names another one (`cuda` where a GPU is lent).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_REPORTS = REPO.parent / "shared" / "data" / "real" / "reports.jsonl"
SYNTHETIC = ("Nốt mờ thùy trên phổi phải kích thước 12 x 10 mm, tăng chuyển hóa FDG (SUVmax: 5,2). "
             "Hạch trung thất nhóm 4R tăng chuyển hóa, kích thước 8 mm. Không thấy tràn dịch màng phổi. "
             "Gan, lách, thận bắt xạ theo đặc điểm sinh lý. Không phát hiện tổn thương xương.")


def tokenizer_texts() -> tuple[list[str], str]:
    """The texts the small LM's BPE is learned from, and where they came from."""
    if REAL_REPORTS.exists():
        texts = [json.loads(line)["text"] for line in REAL_REPORTS.read_text(encoding="utf-8").splitlines() if line.strip()]
        return texts, f"{len(texts)} real reports"
    return [SYNTHETIC] * 50, "synthetic report text (real reports not found)"


def build_model(lm: str, run_dir: Path, texts: list[str]):
    """The small VLM of `small_vlm.yaml`, with its LM replaced by `lm` unless that is the built-in one."""
    from vipet.train.config import load_config
    from vipet.train.stages import build_stage_vlm

    config = load_config(REPO / "vipet" / "configs" / "small_vlm.yaml")
    if lm != config.model.vlm.lm:
        config.model.vlm.lm = lm
        config.model.vlm.use_chat_template = None
    return build_stage_vlm(config, run_dir, texts), config


def prompt_batch(model, batch_size: int, device):
    """`batch_size` report prompts (left-padded, as `vipet generate` batches them) and random volumes."""
    import torch

    from vipet.train.batching import PromptCollator

    encoder = model.config.encoder
    generator = torch.Generator().manual_seed(0)
    items = [{"task": "report", "region": "chest",
              "image": torch.rand((encoder.in_channels, *encoder.input_size), generator=generator)}
             for _ in range(batch_size)]
    batch = PromptCollator(model.prompts)(items)
    return batch["image"].to(device), batch["input_ids"].to(device), batch["attention_mask"].to(device)


def time_generate(model, batch, new_tokens: int, beams: int, repeats: int) -> float:
    """Best wall time of one batch over `repeats` runs, after one warm-up run."""
    import torch

    settings = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "num_beams": beams, "do_sample": False}
    if beams > 1:
        settings["early_stopping"] = True
    best = float("inf")
    for attempt in range(repeats + 1):
        if batch[0].is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        texts = model.generate(*batch, **settings)
        if batch[0].is_cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if len(texts) != batch[0].shape[0]:
            raise RuntimeError(f"{len(texts)} answers for a batch of {batch[0].shape[0]}")
        if attempt > 0:
            best = min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", default="1,4,16")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lm", default="small-gpt2", help="small-gpt2 (the built-in small LM) or gemma3-270m")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    texts, source = tokenizer_texts()
    with tempfile.TemporaryDirectory(prefix="vipet-generate-speed-") as folder:
        build_start = time.perf_counter()
        model, config = build_model(args.lm, Path(folder), texts)
        model = model.to(args.device).eval()
        built = time.perf_counter() - build_start
        lm_params = sum(p.numel() for p in model.lm.parameters()) / 1e6
        vision_params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("lm.")) / 1e6
        print(f"model: {config.name} with LM {args.lm} ({lm_params:.1f} M LM parameters, {vision_params:.1f} M vision), "
              f"tokenizer from {source}; assembled in {built:.1f} s")
        print(f"device {args.device}, torch threads {torch.get_num_threads()}, {args.new_tokens} new tokens per study, "
              f"{model.num_visual_tokens} visual tokens; load average before {os.getloadavg()[0]:.2f} "
              f"on {os.cpu_count()} cores")
        print(f"{'batch':>5} {'decoding':<9} {'s/batch':>8} {'studies/s':>10} {'tokens/s':>9} {'vs greedy b=1':>14}")
        reference = None
        for batch_size in [int(v) for v in args.batch_sizes.split(",")]:
            batch = prompt_batch(model, batch_size, args.device)
            for name, beams in (("greedy", 1), (f"beam {args.beams}", args.beams)):
                seconds = time_generate(model, batch, args.new_tokens, beams, args.repeats)
                studies = batch_size / seconds
                reference = reference or studies
                print(f"{batch_size:>5} {name:<9} {seconds:>8.2f} {studies:>10.2f} {studies * args.new_tokens:>9.1f} "
                      f"{studies / reference:>13.2f}x", flush=True)
        print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
