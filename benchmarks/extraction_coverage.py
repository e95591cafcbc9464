"""Extraction coverage: which site, lesion and uptake phrases of the real reports map to no category.

Corpus: every report of `../shared/data/real/reports.jsonl` (or --reports), all regions (scope
"all"), read by the offline extractor. Three kinds of phrase, each counted once per occurrence:

- lesion phrase: the type text of every extracted finding. Mapped when `type_category` gives a
  named clinical category, or when `declared_other_type` says the official categories deliberately
  have none for it (cysts, stones, polyps, bone lesions...: "khác" by rule, not by ignorance).
- site phrase: every site the location of a finding lists (`split_sites`). Mapped when it names
  anatomy of its own (`site_category`, bone/breast/soft tissue being "khác" by rule) or borrows a
  category from its neighbours ("trước và dưới carina"); unmapped when it falls to the default "khác".
- uptake phrase: every "chuyển hóa / hấp thu / bắt xạ" in the text. Mapped when the lexicon's uptake
  pattern reads it or its sentence is a physiological-uptake statement.

Prints the counts, the unmapped rate per kind and overall, and the most frequent unmapped phrases
(--top). No timing: the numbers depend on the lexicon only, so the load on the machine is irrelevant.

    .venv/bin/python benchmarks/extraction_coverage.py [--reports FILE] [--top 40] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vipet.reports.categories import (  # noqa: E402
    OTHER,
    declared_other_type,
    fold,
    position_categories,
    site_category,
    split_sites,
    type_category,
)
from vipet.reports.extract import analyze_report  # noqa: E402
from vipet.reports.lexicon import load_lexicon  # noqa: E402
from vipet.reports.segment import split_sentences  # noqa: E402

_UPTAKE_NOUN = re.compile(r"(?<!\w)(?:chuyển hoá|chuyển hóa|hấp thu|bắt xạ)(?!\w)")


def coverage(texts: list[str]) -> dict:
    """Counts and unmapped phrases per kind (see the module docstring)."""
    lex = load_lexicon()
    counts = {kind: Counter() for kind in ("lesion", "site", "uptake")}
    unmapped = {kind: Counter() for kind in counts}
    for text in texts:
        for finding in analyze_report(text, lex).findings:
            lesion = finding.to_lesion()
            counts["lesion"]["all"] += 1
            if type_category(lesion) == OTHER and not declared_other_type(lesion.type):
                unmapped["lesion"][fold(lesion.type)] += 1
            groups, _ = split_sites(lesion.location)
            sites = [site for group in groups for site in group]
            resolved = position_categories(lesion) if sites else []
            for site, category in zip(sites, resolved):
                counts["site"]["all"] += 1
                if site_category(site) is None and category == OTHER:
                    unmapped["site"][site] += 1
        for sentence in split_sentences(text):
            low = sentence.lower()
            read = [(m.start(), m.end()) for m in lex.uptake.finditer(low)]
            physiological = lex.physiological.search(low) is not None
            for noun in _UPTAKE_NOUN.finditer(low):
                counts["uptake"]["all"] += 1
                if not physiological and not any(a <= noun.start() < b for a, b in read):
                    unmapped["uptake"][low[max(0, noun.start() - 30) : noun.end() + 10].strip()] += 1
    summary = {}
    for kind in counts:
        total, missing = counts[kind]["all"], sum(unmapped[kind].values())
        summary[kind] = {"phrases": total, "unmapped": missing, "rate": missing / total if total else 0.0,
                         "top": unmapped[kind].most_common()}
    total = sum(s["phrases"] for s in summary.values())
    missing = sum(s["unmapped"] for s in summary.values())
    summary["all"] = {"phrases": total, "unmapped": missing, "rate": missing / total if total else 0.0}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=REPO.parent / "shared" / "data" / "real" / "reports.jsonl")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="print the whole summary as JSON")
    args = parser.parse_args()
    if not args.reports.is_file():
        sys.exit(f"error: {args.reports}: reports not found (needs ../shared/data/real beside the clone)")
    texts = [json.loads(line)["text"] for line in args.reports.read_text(encoding="utf-8").splitlines() if line.strip()]
    summary = coverage(texts)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=1))
        return
    print(f"{len(texts)} reports")
    for kind in ("lesion", "site", "uptake", "all"):
        s = summary[kind]
        print(f"{kind:7s} {s['unmapped']:5d} / {s['phrases']:5d} unmapped = {100 * s['rate']:.1f}%")
    for kind in ("lesion", "site", "uptake"):
        print(f"\nmost frequent unmapped {kind} phrases:")
        for phrase, n in summary[kind]["top"][: args.top]:
            print(f"  {n:4d}  {phrase}")


if __name__ == "__main__":
    main()
