"""Stress curves on a cohort whose truth is known: where each model finds lesions and where it invents them.

For every report prediction of a study with a truth record (`truth.jsonl`, synthetic cohorts), the
planted lesions of the sample's region are matched to the lesions the report toolkit extracts from
the prediction with the clinical metric's matcher (`vipet.eval.clinical.greedy_match` on
type + position units, one to one). A planted lesion is found when one of its units is matched.

- sensitivity by size (largest planted diameter), SUVmax (as the truth report prints it;
  "non-avid" when none), region and lesion kind: found / planted in each bin;
- hallucination rate per region: extracted lesions of the predictions matching no planted lesion,
  over all extracted lesions of that region (the region of their named site);
- diversity: distinct-1 / distinct-2 (distinct word n-grams over all n-grams of the model's
  reports) and the share of reports identical to another study's report (a template answer).

Everything is returned as plain JSON and drawn as PNG bytes (matplotlib, Agg) for the bench report.
"""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Sequence

from vipet.eval.clinical import greedy_match, lesion_units
from vipet.reports.extract import extract_findings
from vipet.schema import WHOLE, Lesion

SIZE_BINS = ((0.0, 10.0, "<10 mm"), (10.0, 20.0, "10-20 mm"), (20.0, 30.0, "20-30 mm"), (30.0, float("inf"), ">=30 mm"))
SUV_BINS = ((0.0, 3.0, "<3"), (3.0, 6.0, "3-6"), (6.0, 10.0, "6-10"), (10.0, float("inf"), ">=10"))
NO_SIZE, NON_AVID = "no size", "non-avid"
TYPE_POSITION = (0, 1)  # the unit fields compared: type and position (F1-TP's matching)


def load_truth_lesions(truth_file: str | Path) -> dict[str, list[dict[str, Any]]]:
    """study key -> planted lesions, from a cohort's `truth.jsonl`."""
    out = {}
    for line in Path(truth_file).read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            out[str(record["key"])] = list(record.get("lesions") or [])
    return out


def _bin(value: float | None, bins: Sequence[tuple[float, float, str]], missing: str) -> str:
    if value is None:
        return missing
    return next(label for low, high, label in bins if low <= value < high)


def lesion_bins(lesion: dict[str, Any]) -> dict[str, str]:
    """The bin of a planted lesion on each stress axis."""
    size = max(lesion["size_mm"]) if lesion.get("size_mm") else None
    return {"size": _bin(size, SIZE_BINS, NO_SIZE), "suv_max": _bin(lesion.get("suv_max"), SUV_BINS, NON_AVID),
            "region": str(lesion.get("region")), "kind": str(lesion.get("kind"))}


def sample_region(sample_id: str) -> str:
    """The region of a sample id `<study>:<region>` (the whole body without a suffix)."""
    return sample_id.rsplit(":", 1)[1] if ":" in sample_id else WHOLE


def match_sample(prediction: str, planted: Sequence[dict[str, Any]]) -> tuple[list[bool], list[tuple[str, bool]]]:
    """(found flag per planted lesion, (region, matched) per extracted prediction lesion)."""
    truth_lesions = [Lesion.from_expert(p["expert"]) for p in planted]
    findings = extract_findings(prediction, scope="all") if prediction.strip() else []
    pred_units, ref_units = lesion_units([f.to_lesion() for f in findings]), lesion_units(truth_lesions)
    pairs = greedy_match(pred_units, ref_units, TYPE_POSITION)
    found_ref = {ref_units[j][0] for _, j in pairs}
    matched_pred = {pred_units[i][0] for i, _ in pairs}
    found = [i in found_ref for i in range(len(planted))]
    predicted = [((f.regions or ("unknown",))[0], i in matched_pred) for i, f in enumerate(findings)]
    return found, predicted


def ngram_diversity(texts: Sequence[str], n: int) -> float | None:
    """Distinct word n-grams over all n-grams of `texts` (lower-cased whitespace words)."""
    grams: list[tuple[str, ...]] = []
    for text in texts:
        words = text.lower().split()
        grams += [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return round(len(set(grams)) / len(grams), 4) if grams else None


def identical_share(texts_by_study: dict[str, str]) -> float | None:
    """Share of studies whose report is word for word another study's report."""
    counts = Counter(" ".join(t.split()) for t in texts_by_study.values())
    total = len(texts_by_study)
    return round(sum(c for c in counts.values() if c > 1) / total, 4) if total else None


def stress_model(records: Iterable[Any], truth: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The stress curves of one model's report records (`vipet.eval.io.PredictionRecord`)."""
    found_by: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    predicted_by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    texts: dict[str, str] = {}
    n_samples = 0
    for record in records:
        if record.task != "report" or record.cluster not in truth:
            continue
        region = sample_region(record.id)
        planted = [p for p in truth[record.cluster] if region == WHOLE or p.get("region") == region]
        found, predicted = match_sample(record.prediction, planted)
        n_samples += 1
        texts[record.id] = record.prediction
        for lesion, hit in zip(planted, found):
            for axis, label in lesion_bins(lesion).items():
                found_by[axis][label][0] += hit
                found_by[axis][label][1] += 1
        for where, matched in predicted:
            predicted_by[where][0] += not matched
            predicted_by[where][1] += 1
    sensitivity = {axis: {label: {"found": f, "planted": n, "sensitivity": round(f / n, 4)}
                          for label, (f, n) in sorted(bins.items(), key=lambda item: _order(axis, item[0]))}
                   for axis, bins in sorted(found_by.items())}
    hallucination = {where: {"hallucinated": h, "predicted": n, "rate": round(h / n, 4)}
                     for where, (h, n) in sorted(predicted_by.items())}
    values = list(texts.values())
    return {"samples": n_samples, "sensitivity": sensitivity, "hallucination": hallucination,
            "diversity": {"distinct_1": ngram_diversity(values, 1), "distinct_2": ngram_diversity(values, 2),
                          "identical_share": identical_share(texts)}}


def _order(axis: str, label: str) -> tuple[int, str]:
    labels = {"size": [b[2] for b in SIZE_BINS] + [NO_SIZE], "suv_max": [NON_AVID] + [b[2] for b in SUV_BINS]}.get(axis)
    return (labels.index(label), label) if labels and label in labels else (0, label)


def stress_curves(records_by_model: dict[str, list[Any]], truth: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """model -> `stress_model`, for every model with at least one report on a study with truth."""
    out = {}
    for model, records in sorted(records_by_model.items()):
        result = stress_model(records, truth)
        if result["samples"]:
            out[model] = result
    return out


AXES = (("size", "sensitivity by lesion size"), ("suv_max", "sensitivity by SUVmax"),
        ("region", "sensitivity by region"), ("kind", "sensitivity by lesion type"))


def _bars(ax: Any, groups: list[str], per_model: dict[str, dict[str, float]], ylabel: str, title: str) -> None:
    width = 0.8 / max(1, len(per_model))
    for i, (model, values) in enumerate(per_model.items()):
        ax.bar([x + i * width for x in range(len(groups))], [values.get(g, 0.0) for g in groups], width, label=model)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(groups))], groups, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def stress_pngs(curves: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(caption, PNG) for the sensitivity panels and the hallucination bars; [] without curves."""
    if not curves:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), dpi=100)
    for ax, (axis, title) in zip(axes.flat, AXES):
        groups: list[str] = []
        for result in curves.values():
            groups += [g for g in result["sensitivity"].get(axis, {}) if g not in groups]
        per_model = {m: {g: v["sensitivity"] for g, v in r["sensitivity"].get(axis, {}).items()} for m, r in curves.items()}
        _bars(ax, groups, per_model, "sensitivity", title)
    axes.flat[0].legend(fontsize=7)
    pngs = [("sensitivity of each model by lesion size, SUVmax, region and type (planted truth)", _png(fig))]
    fig, ax = plt.subplots(figsize=(7, 3.4), dpi=100)
    regions = sorted({g for r in curves.values() for g in r["hallucination"]})
    _bars(ax, regions, {m: {g: v["rate"] for g, v in r["hallucination"].items()} for m, r in curves.items()},
          "hallucinated / predicted", "hallucination rate per region")
    ax.legend(fontsize=7)
    pngs.append(("share of predicted lesions matching no planted lesion, per region", _png(fig)))
    return pngs


def diversity_table(curves: dict[str, Any]) -> list[list[str]]:
    """Header row + one row per model: distinct-1, distinct-2, share of identical reports."""
    def cell(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    rows = [["model", "reports", "distinct-1", "distinct-2", "identical reports"]]
    for model, result in curves.items():
        d = result["diversity"]
        rows.append([model, str(result["samples"]), cell(d["distinct_1"]), cell(d["distinct_2"]), cell(d["identical_share"])])
    return rows
