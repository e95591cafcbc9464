"""Speed of every vipet metric against pycocoevalcap on the same input, side by side in one process.

    python benchmarks/metrics_speed.py [--pairs 1000] [--seed 0] [--repeats 5] [--skip-java] [--only BLEU-1..4,CIDEr-D]

Builds N (prediction, reference) pairs of report-length text: from the real reports in
../shared/data/real/reports.jsonl when present (each reference a real report, each prediction a
copy with ~15% of its words substituted, deleted or inserted), else from a synthetic
Vietnamese-like generator. Both implementations get the same lower-cased, space-tokenised strings
in pycocoevalcap's {id: [text]} dictionaries; each metric is timed on its own (its
`compute_score` from the strings, tokenisation and n-gram counting included), side by side in
this process, and the scores are checked equal (max absolute difference printed):

- BLEU-1..4, ROUGE-L, CIDEr-D: vipet.eval.{bleu,rouge,cider} against pycocoevalcap's Bleu(4),
  Rouge and Cider (same definitions, so the differences are float round-off);
- METEOR: vipet's exact-match METEOR against pycocoevalcap's Java METEOR 1.5 (English stems,
  synonyms and paraphrases): a speed comparison only, the two are different definitions;
- PTB tokenizer (what the coco profile runs before the metrics): vipet.eval.ptb against
  pycocoevalcap's PTBTokenizer (Stanford CoreNLP in Java) on the raw report texts; the column
  then counts captions whose tokens differ. The metric rows above do NOT include it: like
  pycocoevalcap's `compute_score`, they take text that is already tokenised, so each metric is
  timed on its own, its own splitting and n-gram counting included.

Shared machines are noisy: each row is the median of --repeats runs (wall clock), ours and the
reference's interleaved, and the load average is printed before and after. The Java rows need `java`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
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
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # pycocoevalcap prints
        value = function(*args)
    return time.perf_counter() - start, value


def _median_times(ours_fn, ref_fn, repeats: int):
    """Median time of each over `repeats` interleaved runs, with the last values."""
    times_ours, times_ref = [], []
    v_ours = v_ref = None
    for _ in range(repeats):
        t, v_ours = _timed(ours_fn)
        times_ours.append(t)
        t, v_ref = _timed(ref_fn)
        times_ref.append(t)
    return float(np.median(times_ours)), v_ours, float(np.median(times_ref)), v_ref


def _max_diff(ours, ref) -> float:
    return float(np.max(np.abs(np.atleast_1d(np.asarray(ours, dtype=float)) - np.atleast_1d(np.asarray(ref, dtype=float)))))


def _load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-java", action="store_true", help="leave out METEOR and the PTB tokenizer (Java)")
    parser.add_argument("--only", default="", help="comma-separated row names to run (e.g. BLEU-1..4,CIDEr-D); default all")
    args = parser.parse_args()

    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    from vipet.eval import bleu, cider, meteor, rouge
    from vipet.eval.ngrams import count_ngrams, encode_texts
    from vipet.eval.ptb import coco_tokenize

    gts, res, source = make_pairs(args.pairs, args.seed)
    words = np.mean([len(v[0].split()) for v in gts.values()])
    print(f"{args.pairs} pairs from {source}; mean reference length {words:.0f} words; median of {args.repeats} interleaved runs")
    print(f"before: {_load()}")
    print(f"{'metric':<14} {'vipet (s)':>10} {'pycocoevalcap (s)':>18} {'speed-up':>9} {'max |diff|':>11}")

    rows = [
        ("BLEU-1..4", lambda: bleu.compute_score(gts, res)[0], lambda: Bleu(4).compute_score(gts, res)[0], "scores"),
        ("ROUGE-L", lambda: rouge.compute_score(gts, res)[0], lambda: Rouge().compute_score(gts, res)[0], "scores"),
        ("CIDEr-D", lambda: cider.compute_score(gts, res)[0], lambda: Cider().compute_score(gts, res)[0], "scores"),
    ]
    if not args.skip_java:
        from pycocoevalcap.meteor.meteor import Meteor
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        raw = {i: [{"caption": text}] for i, text in enumerate(_raw_texts(args.pairs, args.seed))}
        rows += [
            ("METEOR", lambda: meteor.compute_score(gts, res)[0], lambda: Meteor().compute_score(gts, res)[0], "speed only"),
            ("PTB tokenizer", lambda: {i: [" ".join(coco_tokenize(c["caption"])) for c in v] for i, v in raw.items()},
             lambda: PTBTokenizer().tokenize(raw), "tokens"),
        ]
    if args.only:
        wanted = {name.strip().lower() for name in args.only.split(",")}
        rows = [row for row in rows if row[0].lower() in wanted]
    total_ours = total_ref = 0.0
    for name, ours_fn, ref_fn, check in rows:
        t_ours, v_ours, t_ref, v_ref = _median_times(ours_fn, ref_fn, args.repeats)
        if check == "scores":
            diff = f"{_max_diff(v_ours, v_ref):>11.2e}"
        elif check == "tokens":
            diff = f"{sum(v_ours[i] != v_ref[i] for i in v_ref):>5d} differ"
        else:
            diff = f"{'(other def.)':>11}"
        total_ours += t_ours
        total_ref += t_ref
        print(f"{name:<14} {t_ours:>10.3f} {t_ref:>18.2f} {t_ref / t_ours:>8.1f}x {diff}", flush=True)
    print(f"{'all rows':<14} {total_ours:>10.3f} {total_ref:>18.2f} {total_ref / total_ours:>8.1f}x")

    # The evaluation pipeline encodes the corpus once and shares the n-gram table between metrics.
    ids = list(gts)

    def shared():
        corpus = encode_texts([res[i][0] for i in ids], [gts[i] for i in ids])
        counts = count_ngrams(corpus, 4)
        bleu.bleu_from_stats(bleu.bleu_stats(corpus, counts=counts).sum(axis=0), "coco")
        rouge.rouge_l_coco(corpus)
        cider.cider_d(corpus, counts)

    t_shared = float(np.median([_timed(shared)[0] for _ in range(args.repeats)]))
    print(f"{'BLEU+ROUGE+CIDEr shared':<14} {t_shared:>10.3f}  (one encoding, one n-gram table)")
    print(f"after: {_load()}")


def _raw_texts(n: int, seed: int) -> list[str]:
    """The untokenised source texts of the first n pairs' references (what the PTB tokenizer reads)."""
    texts, _ = _source_texts(random.Random(seed))
    return [texts[i % len(texts)] for i in range(n)]


if __name__ == "__main__":
    main()
