"""Does the small VLM see lesions? Clinical F1 on a synthetic test split against the baselines.

    python benchmarks/small_vlm_quality.py --build runs/build400 --run runs/small_vlm [--out runs/quality]

Steps (each skipped when its output exists, so a rerun only redoes what is missing):
  1. predictions of the trained run on the test split (`vipet generate RUN BUILD`);
  2. predictions of the template and retrieval baselines on the same samples;
  3. the evaluation suite on each (clinical F1-T/TP/TF/TPF and language metrics, bootstrap 95%
     intervals over studies) and paired bootstraps of the model minus each baseline.

Prints one table, writes `quality.json` (every number) and copies the run's training curve.
The issue's target: the model beats both baselines on F1-T and F1-TPF by more than the interval,
i.e. the paired delta's 95% interval lies above zero and the two intervals do not overlap.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

SCORES = ("F1-T", "F1-TP", "F1-TF", "F1-TPF")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, required=True, help="Build folder (vipet build).")
    parser.add_argument("--run", type=Path, required=True, help="Run folder of the trained small VLM.")
    parser.add_argument("--out", type=Path, default=None, help="Output folder (default: RUN/quality).")
    parser.add_argument("--split", default="test")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    from vipet.eval import compare_predictions, evaluate_predictions, load_predictions
    from vipet.train.config import load_config
    from vipet.train.predict import predict

    out = args.out or args.run / "quality"
    out.mkdir(parents=True, exist_ok=True)
    regions = load_config(args.run / "config.yaml").data.regions
    files = {"small-vlm": out / f"small_vlm_{args.split}.jsonl"}
    if not files["small-vlm"].exists():
        predict(args.run, args.build, args.split, files["small-vlm"])
    for baseline in ("template", "retrieval"):
        files[baseline] = out / f"{baseline}_{args.split}.jsonl"
        if not files[baseline].exists():
            predict(baseline, args.build, args.split, files[baseline], regions=regions)

    results: dict[str, dict] = {}
    for name, path in files.items():
        metrics = evaluate_predictions(load_predictions(path), clinical=True, n_resamples=args.bootstrap)
        report = next(iter(metrics["results"].values()))["report"]
        clinical, nlg = report["clinical"]["scores"], report["nlg"]["scores"]
        results[name] = {
            **{k: clinical[k] for k in SCORES},
            **{k: nlg[k] for k in ("bleu_4", "rouge_l", "cider_d")},
            "n_studies": report["clinical"]["n_patients"],
        }
    deltas: dict[str, dict] = {}
    model = load_predictions(files["small-vlm"])
    for baseline in ("template", "retrieval"):
        paired = compare_predictions(model, load_predictions(files[baseline]), clinical=True, n_resamples=args.bootstrap)
        deltas[baseline] = {k: paired["comparison"]["report"]["clinical"]["scores"][k] for k in SCORES}

    summary_path = args.run / "summary.json"
    training = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    curve = args.run / "training_curve.png"
    if curve.exists():
        shutil.copy(curve, out / "training_curve.png")
    (out / "quality.json").write_text(json.dumps({"results": results, "paired_vs": deltas, "training": training},
                                                 ensure_ascii=False, indent=2), encoding="utf-8")

    def cell(score: dict) -> str:
        low, high = score["ci95"]
        return f"{score['value']:5.1f} [{low:5.1f}, {high:5.1f}]"

    n = results["small-vlm"]["n_studies"]
    print(f"clinical F1 on the {args.split} split ({n} studies), bootstrap 95% intervals over studies")
    print(f"{'model':<11}" + "".join(f"{k:>22}" for k in SCORES) + f"{'BLEU-4':>8}{'ROUGE-L':>9}")
    for name, row in results.items():
        print(f"{name:<11}" + "".join(f"{cell(row[k]):>22}" for k in SCORES)
              + f"{row['bleu_4']['value']:8.1f}{row['rouge_l']['value']:9.1f}")
    for baseline, row in deltas.items():
        print(f"{'vs ' + baseline:<11}" + "".join(
            f"{row[k]['delta']:+7.1f} [{row[k]['ci95'][0]:+5.1f}, {row[k]['ci95'][1]:+5.1f}]".rjust(22) for k in SCORES))
    if training:
        print(f"training: {training.get('steps')} steps in {training.get('seconds', 0):.0f} s "
              f"({training.get('stop_reason')}), data share {training.get('data_share', 0):.1%}")


if __name__ == "__main__":
    main()
