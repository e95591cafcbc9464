"""Peak memory of `vipet evaluate` per byte of predictions, against scoring the whole corpus at once.

    python benchmarks/evaluate_memory.py [--mb 5] [--bootstrap 0] [--seed 0]

Writes a JSONL file of about `--mb` megabytes of report predictions (Vietnamese-like sentences
shuffled between samples, so texts are distinct but share n-grams as real reports do) and measures,
each under tracemalloc (numpy reports its buffers to it), the peak memory divided by the file size:

- `vipet`: what `vipet evaluate` runs: load the file, then `evaluate_predictions` (language metrics,
  chunked n-gram tables, the bootstrap with `--bootstrap` resamples);
- `whole corpus at once` (the reference): load the file, tokenise every text, then build the word
  n-gram tables and chrF's character 6-gram tables of the whole corpus in one go, which is how
  evaluation worked before it was chunked (issue 20: 50 MB of predictions took 10.5 GB).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import tracemalloc
import unicodedata
from pathlib import Path

SITES = ["thùy trên phổi phải", "thùy dưới phổi trái", "trung thất", "rốn phổi 2 bên", "gan hạ phân thùy VI",
         "tuyến giáp thùy phải", "đốt sống D8-D9", "xương chậu phải", "thượng đòn trái", "dạ dày"]
OBJECTS = ["Nốt mờ", "Khối mờ", "Hạch", "Tổn thương tiêu xương", "Đám kính mờ", "Dày thành"]
TEMPLATES = ["{obj} {site} kích thước {a} x {b}mm, tăng chuyển hóa FDG (SUVmax: {suv}).",
             "Hình ảnh {obj} {site} không tăng chuyển hóa FDG; theo dõi trên PET/CT.",
             "Không phát hiện hình ảnh tràn dịch màng phổi hai bên và tràn dịch màng tim.",
             "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não, tim, gan, lách và đài bể thận 2 bên."]


def _sentence(rng: random.Random) -> str:
    return rng.choice(TEMPLATES).format(obj=rng.choice(OBJECTS), site=rng.choice(SITES), a=rng.randint(3, 60),
                                        b=rng.randint(3, 60), suv=f"{rng.randint(1, 25)},{rng.randint(0, 9)}")


def write_predictions(path: Path, megabytes: float, seed: int) -> int:
    rng = random.Random(seed)
    size, i = 0, 0
    with path.open("w", encoding="utf-8") as handle:
        while size < megabytes * 1e6:
            record = {"id": f"s{i}", "task": "report", "model": "m", "study": f"study{i // 2}",
                      "prediction": " ".join(_sentence(rng) for _ in range(rng.randint(0, 10))),
                      "reference": " ".join(_sentence(rng) for _ in range(rng.randint(2, 10)))}
            line = json.dumps(record, ensure_ascii=False) + "\n"
            handle.write(line)
            size += len(line.encode("utf-8"))
            i += 1
    return size


def ours(path: Path, n_resamples: int) -> None:
    from vipet.eval import evaluate_predictions, load_predictions

    evaluate_predictions(load_predictions(path), n_resamples=n_resamples)


def whole_corpus_at_once(path: Path, n_resamples: int) -> None:
    from vipet.eval import chrf
    from vipet.eval.io import load_predictions
    from vipet.eval.ngrams import count_ngrams, encode_corpus
    from vipet.eval.profiles import get_profile

    records = load_predictions(path)
    tokenize = get_profile("default").tokenize
    corpus = encode_corpus([tokenize(r.prediction) for r in records], [[tokenize(t) for t in r.references] for r in records])
    counts = count_ngrams(corpus, 4)
    del corpus, counts
    chrf.chrf_stats([unicodedata.normalize("NFC", r.prediction) for r in records],
                    [[unicodedata.normalize("NFC", t) for t in r.references] for r in records])


def measure(work, path: Path, n_resamples: int) -> tuple[int, float]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        work(path, n_resamples)
        return tracemalloc.get_traced_memory()[1], time.perf_counter() - started
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=5.0, help="Size of the generated predictions file (MB).")
    parser.add_argument("--bootstrap", type=int, default=0, help="Bootstrap resamples for vipet's run.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "predictions.jsonl"
        size = write_predictions(path, args.mb, args.seed)
        from vipet.eval.profiles import get_profile

        get_profile("default").tokenize("khởi động")  # the tokenizer's own tables are no cost of the input
        print(f"input: {size / 1e6:.1f} MB of predictions ({path.name})")
        for name, work in (("vipet", ours), ("whole corpus at once", whole_corpus_at_once)):
            peak, seconds = measure(work, path, args.bootstrap)
            print(f"{name:>22}: peak {peak / 1e6:8.1f} MB = {peak / size:6.1f} x the input ({seconds:.1f} s under tracemalloc)")


if __name__ == "__main__":
    main()
