"""Stage 3 (LoRA fine-tuning) at a real LM size on one GPU: peak memory and throughput.

    python benchmarks/gpu_stage3.py [--size 0.5b|1.5b] [--steps 200] [--batch 8] [--seq 384] [--tiny]

Self-contained: builds a Qwen2-architecture LM of the given size from its config with random
weights (vocabulary padded to Qwen2's 151,936 rows so embedding memory is real), a BPE tokenizer
trained on built-in Vietnamese report sentences, and random (PET, CT) region volumes with hot
spots paired with report texts of about --seq tokens. Then the real `vipet` training loop runs
stage 3: LoRA r=64, alpha=16, dropout 0.05 on all linear layers plus the MLP projector and a 3D
CNN encoder, bf16 mixed precision through accelerate, gradient checkpointing optional.

Printed and written to --out (JSON): peak GPU memory (torch.cuda.max_memory_allocated), samples/s
and answer tokens/s over the timed steps, trainable parameters, and a batched greedy generation
timing. `--tiny` runs the same code with a 2-layer LM on the CPU in seconds (a smoke test).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

SENTENCES = [
    "Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim.",
    "Không phát hiện hình ảnh tràn dịch màng phổi hai bên và tràn dịch màng tim.",
    "Hình ảnh nốt mờ ở thùy trên phổi phải, kích thước 15 x 16 mm, tăng chuyển hoá FDG (SUVmax: 3,4).",
    "Hình ảnh vài hạch ở cửa sổ chủ phổi, hạch lớn nhất có kích thước 9 x 11 mm, tăng chuyển hoá FDG (SUVmax: 12,8).",
    "Hình ảnh khối mờ bờ đa cung, kích thước 34 x 39 mm, tăng chuyển hóa FDG (SUVmax: 7,9) ở thùy trên phổi trái.",
    "Hình ảnh nốt kính mờ ở thùy dưới phổi trái, đường kính 6 mm, không tăng chuyển hóa FDG.",
    "Tràn dịch màng phổi bên phải số lượng ít.",
    "Chưa phát hiện hình ảnh tăng chuyển hóa FDG bất thường ở hệ thống cơ xương.",
    "Hình ảnh hạch dưới carina có kích thước 20 x 23 mm, tăng chuyển hoá FDG (SUVmax: 9,1).",
    "Nhận định: tổn thương phổi phải tăng chuyển hóa FDG, nhiều khả năng ác tính, kèm hạch trung thất khả năng di căn.",
]


def synthetic_items(n: int, shape: tuple[int, int, int], words: int, seed: int = 0) -> list[dict]:
    """Random volumes with a few hot spots, each paired with a report long enough for --seq tokens.

    A plain list is a dataset for the training loop (length, indexing; texts read from the items).
    """
    rng = random.Random(seed)
    items = []
    for i in range(n):
        generator = torch.Generator().manual_seed(seed * 100_000 + i)
        volume = torch.rand(2, *shape, generator=generator) * 0.2
        for _ in range(rng.randint(0, 4)):
            z, y, x = (rng.randrange(s) for s in shape)
            volume[0, z, y, x] = 1.0
        text, count = [], 0
        while count < words:
            sentence = rng.choice(SENTENCES)
            text.append(sentence)
            count += len(sentence.split())
        items.append({"sample_id": f"s{i}:chest", "image": volume, "text": " ".join(text),
                      "question": None, "task": "report", "region": "chest"})
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="0.5b", choices=["tiny", "small", "0.5b", "1.5b"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup-steps", type=int, default=10, help="Steps excluded from the timing.")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=384, help="Approximate answer length in words.")
    parser.add_argument("--volume", default="32,64,64", help="D,H,W of the input volumes.")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="2-layer LM on CPU, a few steps: a smoke test.")
    parser.add_argument("--out", type=Path, default=Path("gpu_stage3.json"))
    args = parser.parse_args()

    from vipet.models.encoders import EncoderConfig
    from vipet.models.testing_lms import CHATML_TEMPLATE, create_random_lm
    from vipet.models.small_lm import train_bpe_tokenizer
    from vipet.models.vlm import VisionLanguageModel, VLMConfig
    from vipet.train.batching import PromptCollator
    from vipet.train.config import LoRAConfig, TrainConfig
    from vipet.train.loop import StageTask, run_loop
    from vipet.train.stages import apply_lora, frozen_lm_keys, param_groups, tokenizer_corpus, training_collator, vlm_loss_fn

    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        sys.exit("no CUDA device: run with --tiny for the CPU smoke test")
    size = "tiny" if args.tiny else args.size
    steps = 4 if args.tiny else args.steps
    warmup = 1 if args.tiny else args.warmup_steps
    shape = tuple(int(v) for v in args.volume.split(","))
    words = 40 if args.tiny else args.seq

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        items = synthetic_items(max(4 * args.batch, 64) if not args.tiny else 8, shape, words)
        tokenizer = train_bpe_tokenizer(tokenizer_corpus(items) * 5, vocab_size=2000, min_frequency=1,
                                        clause_merges=False)
        vocab = None if args.tiny else 151936
        started = time.perf_counter()
        lm_path = create_random_lm("qwen2", size, tokenizer, scratch / "lm", vocab_size=vocab,
                                   chat_template=CHATML_TEMPLATE, dtype=torch.bfloat16 if cuda else torch.float32,
                                   max_positions=4096)
        build_s = time.perf_counter() - started
        encoder = EncoderConfig(kind="cnn3d", input_size=shape, token_grid=(2, 4, 4), channels=(32, 64, 128, 256),
                                out_dim=512, stem_stride=(1, 2, 2))
        torch.manual_seed(0)
        model = VisionLanguageModel.from_config(VLMConfig(lm=str(lm_path), encoder=encoder, lm_mode="lora",
                                                          lm_dtype="bfloat16" if cuda else "float32",
                                                          max_length=4096))
        for param in model.lm.parameters():
            param.requires_grad_(False)
        model.lm = apply_lora(model.lm, LoRAConfig(r=64, alpha=16, dropout=0.05, target_modules="all-linear"))
        if args.gradient_checkpointing:
            model.lm.gradient_checkpointing_enable()
        train_cfg = TrainConfig(max_steps=steps, batch_size=args.batch if not args.tiny else 2, lr=2e-5,
                                warmup_steps=min(10, steps), save_every=0, eval_every=0, log_every=max(1, steps // 10),
                                mixed_precision="bf16" if cuda else "no", progress=False, cpu=not cuda)
        collate = training_collator(model)
        lengths = [sum(1 for lab in collate([item])["labels"][0].tolist() if lab != -100) for item in items[:16]]
        answer_tokens = sum(lengths) / len(lengths)
        seq_len = max(len(collate([item])["input_ids"][0]) for item in items[:16])
        groups = param_groups(model, train_cfg.lr, train_cfg.weight_decay, {"projector": 2e-5})
        trainable = sum(p.numel() for g in groups for p in g["params"])
        total = sum(p.numel() for p in model.parameters())

        timings: dict[str, float] = {}

        def loss_fn(module, batch):
            # The first `warmup` steps compile kernels and grow the allocator; time the rest.
            timings.setdefault("calls", 0)
            timings["calls"] += 1
            if timings["calls"] == warmup + 1:
                if cuda:
                    torch.cuda.synchronize()
                timings["start"] = time.perf_counter()
            return vlm_loss_fn(module, batch)

        task = StageTask(model=model, train_data=items, collate=collate, loss_fn=loss_fn, param_groups=groups,
                         frozen_state_keys=frozen_lm_keys(model))
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        result = run_loop(task, train_cfg, scratch / "run", seed=0, resume=False)
        if cuda:
            torch.cuda.synchronize()
        timed_steps = steps - warmup
        elapsed = time.perf_counter() - timings["start"]
        peak_train = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")

        trained = result["model"].eval()
        prompts = PromptCollator(trained.prompts)(items[: train_cfg.batch_size])
        device = next(trained.parameters()).device
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            texts = trained.generate(prompts["image"].to(device), prompts["input_ids"].to(device),
                                     prompts["attention_mask"].to(device),
                                     max_new_tokens=64 if not args.tiny else 4, min_new_tokens=64 if not args.tiny else 4,
                                     do_sample=False)
        if cuda:
            torch.cuda.synchronize()
        generate_s = time.perf_counter() - start

    report = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "lm": f"qwen2-{size} (random init from config)",
        "parameters_total": total,
        "parameters_trainable": trainable,
        "batch_size": train_cfg.batch_size,
        "sequence_length": seq_len,
        "answer_tokens_per_sample": answer_tokens,
        "steps_timed": timed_steps,
        "seconds_per_step": elapsed / timed_steps,
        "samples_per_second": timed_steps * train_cfg.batch_size / elapsed,
        "answer_tokens_per_second": timed_steps * train_cfg.batch_size * answer_tokens / elapsed,
        "sequence_tokens_per_second": timed_steps * train_cfg.batch_size * seq_len / elapsed,
        "peak_memory_gib": peak_train,
        "final_loss": result["last"].get("loss"),
        "lm_build_seconds": build_s,
        "generate_64_tokens_batch_seconds": generate_s,
        "generated_example": texts[0][:120],
        "gradient_checkpointing": args.gradient_checkpointing,
        "mixed_precision": train_cfg.mixed_precision,
    }
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    for key, value in report.items():
        print(f"{key:>32}: {value:.4g}" if isinstance(value, float) else f"{key:>32}: {value}")


if __name__ == "__main__":
    main()
