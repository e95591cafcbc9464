"""How often the grounding check flags an injected error, and how often it flags a true sentence.

    python benchmarks/grounding_rates.py [--n 100] [--seed 0] [--out runs/grounding_rates] [--json FILE]

A synthetic cohort (`vipet.synth`, small size, ViMed-PET layout) is written and built once into
--out (reused on reruns). On the TEST split, every lesion sentence of the true reports
(`truth.jsonl`: `report_sentence`, planted lesion facts) is grounded as it is (a contradicted true
sentence is a false alarm), then once per error injected into it:

- suv_x0.5, suv_x2: the stated SUVmax halved / doubled (only sentences that state one);
- size_x2: every number of the stated size doubled (only sentences that state a size in mm);
- side_swap: phải <-> trái (only lesions planted on one side, left or right);
- location_moved: the site phrase replaced by an organ of another image region, keeping the side
  word (chest -> gan, abdomen/pelvis -> phổi, head/neck -> gan).

Detection = share of injected sentences flagged contradicted. Printed over every injection and
over the checkable ones (lesions that state increased uptake: a non-avid lesion is not visible on
PET and is "not checkable" by design), and for size_x2 also over avid lesions planted at 20 mm or
more (smaller ones are within about two PET voxels of the small preset, where a doubled size is
not resolvable). Tolerances were chosen on the train split (`--split train`); report the test
split. No timing is measured; one process, one thread.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

ERROR_TYPES = ("suv_x0.5", "suv_x2", "size_x2", "side_swap", "location_moved")
LARGE_MM = 20.0  # about 2.5 PET voxels of the small preset (7.8 mm): a doubled size is resolvable above it
MOVED_TO = {"chest": "gan", "abdomen_pelvis": "phổi", "head_neck": "gan"}
_SUV = re.compile(r"(SUV\s*max\s*[:;=]?\s*)(\d+)(?:([.,])(\d+))?", re.IGNORECASE)
_SIZE = re.compile(r"\d+(?:[.,]\d+)?(?:\s*[x×]\s*\d+(?:[.,]\d+)?)*(?=\s*mm)")


def scale_suv(sentence: str, factor: float) -> str | None:
    """The sentence with its SUVmax value times `factor`, written as it was (decimal comma or point)."""
    match = _SUV.search(sentence)
    if match is None:
        return None
    value = float(match.group(2) + "." + (match.group(4) or "0"))
    sep = match.group(3) or ","
    new = f"{value * factor:.1f}".replace(".", sep)
    return sentence[: match.start(2)] + new + sentence[match.end() :]


def scale_size(sentence: str, factor: float) -> str | None:
    """The sentence with every number of its first "a x b mm" size times `factor`."""
    match = _SIZE.search(sentence)
    if match is None:
        return None
    scaled = re.sub(r"\d+(?:[.,]\d+)?", lambda m: f"{float(m.group(0).replace(',', '.')) * factor:g}", match.group(0))
    return sentence[: match.start()] + scaled + sentence[match.end() :]


def swap_side(sentence: str, lesion: dict[str, Any]) -> str | None:
    from vipet.reports.sides import swap_left_right

    if lesion.get("side") not in ("left", "right"):
        return None
    swapped = swap_left_right(sentence)
    return swapped if swapped != sentence else None


def move_location(sentence: str, lesion: dict[str, Any]) -> str | None:
    site, region = lesion.get("site") or "", lesion.get("region")
    if not site or site not in sentence or region not in MOVED_TO:
        return None
    side = {"left": " trái", "right": " phải"}.get(lesion.get("side"), "")
    return sentence.replace(site, MOVED_TO[region] + side, 1)


INJECT: dict[str, Callable[[str, dict[str, Any]], str | None]] = {
    "suv_x0.5": lambda s, lesion: scale_suv(s, 0.5),
    "suv_x2": lambda s, lesion: scale_suv(s, 2.0),
    "size_x2": lambda s, lesion: scale_size(s, 2.0),
    "side_swap": swap_side,
    "location_moved": move_location,
}


def prepare(out: Path, n: int, seed: int) -> tuple[Path, Path]:
    from vipet.data.build import build_dataset
    from vipet.data.config import BuildConfig
    from vipet.synth.writer import write_cohort

    cohort, build = out / "cohort", out / "build"
    write_cohort(cohort, n=n, seed=seed, format="vimed", size="small", workers=1)
    if not (build / "manifest.parquet").is_file():
        build_dataset(cohort, build, BuildConfig(target_shape=(16, 32, 32), renders=False), workers=1,
                      seed=seed, exports=(), progress=False)
    return cohort, build


def split_keys(build: Path, split: str = "test") -> list[str]:
    from vipet.data.manifest import read_manifest

    return sorted({row["study_key"] for row in read_manifest(build / "manifest.parquet") if row["split"] == split})


def _sentence_check(checks: list, sentence: str):
    """The check of `sentence` among a report's sentence checks (texts are normalised by the parser)."""
    from vipet.reports.normalize import normalize_text

    wanted = normalize_text(sentence).strip()
    return next((c for c in checks if c.text.strip() == wanted), None)


def measure(cohort: Path, build: Path, split: str = "test") -> dict[str, Any]:
    from vipet.reports.lexicon import load_lexicon
    from vipet.trust.grounding import CONTRADICTED, NOT_CHECKABLE, ground_report
    from vipet.trust.grounding_image import load_study_image

    lex = load_lexicon()
    truth = {json.loads(line)["key"]: json.loads(line) for line in (cohort / "truth.jsonl").read_text(encoding="utf-8").splitlines()}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    keys = split_keys(build, split)
    for key in keys:
        image = load_study_image(build, key)
        report = truth[key]["report_text"]
        for lesion in truth[key]["lesions"]:
            sentence = lesion["report_sentence"]
            if sentence not in report:
                continue
            cases = [("correct", sentence)] + [(name, INJECT[name](sentence, lesion)) for name in ERROR_TYPES]
            for name, text in cases:
                if text is None:
                    continue
                # The whole true report with this one sentence changed: the other sentences keep
                # their lesions' hot spots, as in a generated report.
                checked = _sentence_check(ground_report(image, report.replace(sentence, text, 1), lex), text)
                status = checked.status if checked is not None else NOT_CHECKABLE
                row = counts[name]
                row["n"] += 1
                row[status] += 1
                checkable = bool(lesion.get("avid"))
                row["n_avid"] += checkable
                row["contradicted_avid"] += checkable and status == CONTRADICTED
                if name == "size_x2" and checkable and max(lesion.get("size_mm") or [0]) >= LARGE_MM:
                    large = counts["size_x2 (planted >= 20 mm)"]
                    large["n"] += 1
                    large[status] += 1
                    large["n_avid"] += 1
                    large["contradicted_avid"] += status == CONTRADICTED
                if (name == "correct") == (status == CONTRADICTED) and len(examples[name]) < 3 and checked is not None:
                    examples[name].append({"study": key, "text": text, "check": checked.to_json()})
    table = {}
    for name in ("correct", *ERROR_TYPES, "size_x2 (planted >= 20 mm)"):
        row = counts[name]
        n, n_avid = row["n"], row["n_avid"]
        table[name] = {
            "n": n, "contradicted": row[CONTRADICTED], "supported": row["supported"], "not_checkable": row[NOT_CHECKABLE],
            "flagged_share": round(row[CONTRADICTED] / n, 4) if n else None,
            "n_checkable": n_avid, "flagged_share_checkable": round(row["contradicted_avid"] / n_avid, 4) if n_avid else None,
        }
    return {"split": split, "studies": len(keys), "rates": table, "misses_and_false_alarms": dict(examples)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/grounding_rates"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--split", default="test", help="the split measured (tolerances were chosen on train)")
    args = parser.parse_args(argv)
    cohort, build = prepare(args.out, args.n, args.seed)
    result = measure(cohort, build, args.split)
    result.update({"n": args.n, "seed": args.seed, "size": "small"})
    print(f"synthetic cohort n={args.n} seed={args.seed} (small), {args.split} split: {result['studies']} studies")
    print(f"{'sentences':<28}{'n':>5}{'flagged':>9}{'share':>8}{'n avid':>8}{'share avid':>12}")
    for name, row in result["rates"].items():
        share = "-" if row["flagged_share"] is None else f"{100 * row['flagged_share']:.1f}%"
        avid = "-" if row["flagged_share_checkable"] is None else f"{100 * row['flagged_share_checkable']:.1f}%"
        print(f"{name:<28}{row['n']:>5}{row['contradicted']:>9}{share:>8}{row['n_checkable']:>8}{avid:>12}")
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
