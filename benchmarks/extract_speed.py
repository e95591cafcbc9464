"""Lesion-extraction throughput: vipet's extractor against named references, side by side.

Corpus: the real reports (`../shared/data/real/reports.jsonl`, or --reports) cycled to --n reports,
each copy made unique by re-drawing its SUVmax values and sizes, so that lesion sentences miss the
sentence cache the way new studies would while the templated normal sentences hit it, as in the
real cohort. All caches are cleared before each timed run.

References (same process, same corpus):
- normalise only: `normalize_text` alone, the floor any text tool pays;
- no sentence cache: the same extractor reading every sentence afresh;
- recompile every call: the lexicon re-read and its regexes recompiled for each report (the naive
  way to write a lexicon-driven extractor), timed on a subset and scaled.
Target (issue #4): 1,000 reports in under 10 s on 2 cores.

    .venv/bin/python benchmarks/extract_speed.py [--n 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vipet.reports import sentences as sentence_module  # noqa: E402
from vipet.reports.extract import extract_lesions  # noqa: E402
from vipet.reports.lexicon import load_lexicon  # noqa: E402
from vipet.reports.normalize import normalize_text  # noqa: E402

_SUV = re.compile(r"(SUV\s*max\s*[:;]?\s*)(\d+(?:[.,]\d+)?)")
_SIZE = re.compile(r"\b(\d+) x (\d+) mm")


def load_corpus(path: Path, n: int, seed: int = 0) -> list[str]:
    """`n` report texts: the real ones cycled, SUVmax values and sizes redrawn per copy."""
    if not path.exists():
        raise SystemExit(f"error: {path}: reports file not found (pass --reports PATH to a reports.jsonl)")
    base = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    corpus = []
    for i in range(n):
        text = base[i % len(base)]
        if i >= len(base):
            text = _SUV.sub(lambda m: f"{m.group(1)}{rng.uniform(1.5, 25):.1f}".replace(".", ","), text)
            text = _SIZE.sub(lambda m: f"{rng.randint(4, 80)} x {rng.randint(4, 80)} mm", text)
        corpus.append(text)
    return corpus


def clear_caches() -> None:
    sentence_module._analyze_cached.cache_clear()
    from vipet.reports import sections, spans

    spans.paren_spans.cache_clear()
    sections._features.cache_clear()


def timed(fn: Callable[[list[str]], object], corpus: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): CPU time is what a busy shared machine can't inflate."""
    clear_caches()
    wall, cpu = time.perf_counter(), time.process_time()
    fn(corpus)
    return time.perf_counter() - wall, time.process_time() - cpu


def run_vipet(corpus: list[str]) -> None:
    for text in corpus:
        extract_lesions(text, scope="thorax")


def run_normalise_only(corpus: list[str]) -> None:
    for text in corpus:
        normalize_text(text)


def run_no_sentence_cache(corpus: list[str]) -> None:
    cached = sentence_module._analyze_cached
    sentence_module._analyze_cached = lambda s, sec, lex: sentence_module._analyze(s, sec, 0, lex)  # type: ignore[assignment]
    try:
        run_vipet(corpus)
    finally:
        sentence_module._analyze_cached = cached  # type: ignore[assignment]


def run_recompile_every_call(corpus: list[str]) -> None:
    for text in corpus:
        load_lexicon.cache_clear()
        clear_caches()
        extract_lesions(text, scope="thorax", lexicon=load_lexicon())


def _worker_chunk(chunk: list[str]) -> tuple[int, float]:
    clear_caches()
    cpu = time.process_time()
    lesions = sum(len(extract_lesions(text, scope="thorax")) for text in chunk)
    return lesions, time.process_time() - cpu


def run_parallel(corpus: list[str], workers: int) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the busiest worker, lesions) with `workers` processes."""
    chunks = [corpus[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_worker_chunk, [["warm-up"]] * workers))  # start the processes outside the timing
        start = time.perf_counter()
        results = list(pool.map(_worker_chunk, chunks))
        wall = time.perf_counter() - start
    return wall, max(cpu for _, cpu in results), sum(n for n, _ in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reports", type=Path, default=REPO.parent / "shared" / "data" / "real" / "reports.jsonl")
    parser.add_argument("--naive-subset", type=int, default=40, help="reports timed for the recompile-every-call reference")
    args = parser.parse_args()
    corpus = load_corpus(args.reports, args.n)
    load_lexicon()
    extract_lesions(corpus[0])  # import-time work out of the way

    rows: list[tuple[str, int, float, float]] = []
    rows.append(("vipet extract (1 process, cold caches)", len(corpus), *timed(run_vipet, corpus)))
    parallel_wall, parallel_cpu, n_lesions = run_parallel(corpus, args.workers)
    rows.append((f"vipet extract ({args.workers} processes, cold caches)", len(corpus), parallel_wall, parallel_cpu))
    rows.append(("reference: normalise only", len(corpus), *timed(run_normalise_only, corpus)))
    rows.append(("reference: no sentence cache", len(corpus), *timed(run_no_sentence_cache, corpus)))
    subset = corpus[: args.naive_subset]
    rows.append(("reference: recompile every call", len(subset), *timed(run_recompile_every_call, subset)))
    load_lexicon.cache_clear()

    base_rate = rows[0][1] / rows[0][3]
    print(f"corpus: {len(corpus)} reports ({len(set(corpus))} distinct) from {args.reports.name}; {n_lesions} thorax lesions")
    print("CPU s: CPU time of the process (of the busiest worker for the parallel run); wall s depends on machine load")
    print(f"{'run':44s} {'reports':>8s} {'wall s':>8s} {'CPU s':>8s} {'reports/CPU s':>14s} {'vs vipet 1p':>12s}")
    for name, count, wall, cpu in rows:
        rate = count / cpu
        print(f"{name:44s} {count:8d} {wall:8.2f} {cpu:8.2f} {rate:14.1f} {rate / base_rate:11.2f}x")
    per_1000 = 1000 * parallel_cpu / len(corpus)
    verdict = "PASS" if per_1000 < 10.0 else "FAIL"
    print(f"target: 1,000 reports < 10 s on {args.workers} cores -> {per_1000:.2f} CPU s per worker "
          f"({1000 * parallel_wall / len(corpus):.2f} s wall on this machine now) ({verdict})")


if __name__ == "__main__":
    main()
