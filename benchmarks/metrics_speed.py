"""Speed of vipet's BLEU-1..4, ROUGE-L and CIDEr-D against pycocoevalcap on the same pre-tokenised input.

    python benchmarks/metrics_speed.py [--pairs 10000] [--seed 0]

Builds N (prediction, reference) pairs of report-length text: from the real reports in
../shared/data/real/reports.jsonl when present (each reference a real report, each prediction a
copy with ~15% of its words substituted, deleted or inserted), else from a synthetic
Vietnamese-like generator. Both implementations get the same lower-cased, space-tokenised strings
in pycocoevalcap's {id: [text]} dictionaries; each metric is timed separately, side by side in
this process, and the scores are checked equal (max absolute difference printed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import time
from pathlib import Path

import numpy as np

REAL_REPORTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "reports.jsonl"
SYLLABLES = ("hình ảnh tăng chuyển hóa fdg ở thùy trên dưới giữa phổi phải trái hạch trung thất rốn kích thước mm "
             "khối mờ nốt bờ tua gai đa cung suvmax không phát hiện tràn dịch màng tim gan lách thận bắt xạ theo đặc "
             "điểm sinh lý não xương cột sống khả năng di căn viêm ác tính nguyên phát cần theo dõi vài nhỏ").split()


def _source_texts(rng: random.Random) -> tuple[list[str], str]:
    if REAL_REPORTS.exists():
        texts = [json.loads(line)["text"] for line in REAL_REPORTS.read_text(encoding="utf-8").splitlines()]
        return texts, f"{len(texts)} real reports"
    texts = [" ".join(rng.choice(SYLLABLES) for _ in range(rng.randint(250, 500))) for _ in range(200)]
    return texts, "synthetic Vietnamese-like text (real reports not found)"


def make_pairs(n: int, seed: int) -> tuple[dict, dict, str]:
    """pycocoevalcap-style gts/res dictionaries of n pre-tokenised report pairs."""
    rng = random.Random(seed)
    texts, source = _source_texts(rng)
    vocabulary = " ".join(texts[:50]).lower().split()
    gts, res = {}, {}
    for i in range(n):
        ref = texts[i % len(texts)].lower().split()
        hyp = list(ref)
        for _ in range(len(ref) // 7):
            action = rng.random()
            if action < 0.4:
                hyp[rng.randrange(len(hyp))] = rng.choice(vocabulary)
            elif action < 0.7 and len(hyp) > 1:
                del hyp[rng.randrange(len(hyp))]
            else:
                hyp.insert(rng.randrange(len(hyp) + 1), rng.choice(vocabulary))
        gts[i], res[i] = [" ".join(ref)], [" ".join(hyp)]
    return gts, res, source


def _timed(function, *args):
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # pycocoevalcap's Bleu prints its totals
        value = function(*args)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    from vipet.eval import bleu, cider, rouge
    from vipet.eval.ngrams import count_ngrams, encode_corpus

    gts, res, source = make_pairs(args.pairs, args.seed)
    words = np.mean([len(v[0].split()) for v in gts.values()])
    print(f"{args.pairs} pairs from {source}; mean reference length {words:.0f} words")
    print(f"{'metric':<10} {'vipet (s)':>10} {'pycocoevalcap (s)':>18} {'speed-up':>9} {'max |diff|':>11}")

    rows = [
        ("BLEU-1..4", lambda: bleu.compute_score(gts, res)[0], lambda: Bleu(4).compute_score(gts, res)[0]),
        ("ROUGE-L", lambda: rouge.compute_score(gts, res)[0], lambda: Rouge().compute_score(gts, res)[0]),
        ("CIDEr-D", lambda: cider.compute_score(gts, res)[0], lambda: Cider().compute_score(gts, res)[0]),
    ]
    total_ours = total_ref = 0.0
    for name, ours_fn, ref_fn in rows:
        t_ours, v_ours = _timed(ours_fn)
        t_ref, v_ref = _timed(ref_fn)
        diff = float(np.max(np.abs(np.atleast_1d(np.asarray(v_ours, dtype=float)) - np.atleast_1d(np.asarray(v_ref, dtype=float)))))
        total_ours += t_ours
        total_ref += t_ref
        print(f"{name:<10} {t_ours:>10.2f} {t_ref:>18.2f} {t_ref / t_ours:>8.1f}x {diff:>11.2e}")
    print(f"{'all three':<10} {total_ours:>10.2f} {total_ref:>18.2f} {total_ref / total_ours:>8.1f}x")

    # The evaluation pipeline encodes the corpus once and shares the n-gram table between metrics.
    ids = list(gts)

    def shared():
        corpus = encode_corpus([res[i][0].split() for i in ids], [[r.split() for r in gts[i]] for i in ids])
        counts = count_ngrams(corpus, 4)
        bleu.bleu_from_stats(bleu.bleu_stats(corpus, counts=counts).sum(axis=0), "coco")
        rouge.rouge_l_coco(corpus)
        cider.cider_d(corpus, counts)

    t_shared, _ = _timed(shared)
    print(f"{'shared':<10} {t_shared:>10.2f} {total_ref:>18.2f} {total_ref / t_shared:>8.1f}x  (one encoding, one n-gram table)")


if __name__ == "__main__":
    main()
