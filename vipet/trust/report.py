"""What the bench report shows about trust: grounding of every model's reports, stress curves, seed spread.

`trust_results` is plain JSON (the bench keys its report step on it, so a change of the image that
moves no hot spot redoes nothing); `trust_sections` turns it into `ExtraSection`s of the HTML
report and `contradicted_flags` into the per-case highlights, since vipet.eval does not import trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from vipet.eval.html_report import ExtraSection


def trust_results(prediction_files: Sequence[Path], build: Path, truth_file: Path | None) -> dict[str, Any]:
    """{"grounding": {file name: ground_predictions}, "stress": stress_curves or {} without truth}."""
    from vipet.eval.io import load_predictions
    from vipet.trust.grounding import ground_predictions
    from vipet.trust.stress import load_truth_lesions, stress_curves

    grounding, records, images = {}, {}, {}  # images: each study read and searched once for all models
    for path in sorted(prediction_files):
        loaded = [r for r in load_predictions(path) if r.task == "report"]
        if not loaded:
            continue
        grounding[path.name] = ground_predictions(path, build, images=images)
        for record in loaded:
            records.setdefault(record.model, []).append(record)
    stress = stress_curves(records, load_truth_lesions(truth_file)) if truth_file is not None and truth_file.is_file() else {}
    return {"grounding": grounding, "stress": stress}


def contradicted_flags(results: dict[str, Any]) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """(model, sample id) -> (sentence, phrase, evidence) for every contradicted number."""
    flags: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for grounded in results.get("grounding", {}).values():
        for sample in grounded["samples"]:
            if sample.get("contradicted"):
                flags[(sample["model"], sample["id"])] = [tuple(item) for item in sample["contradicted"]]  # type: ignore[misc]
    return flags


def trust_sections(results: dict[str, Any], spread: dict[str, Any] | None = None) -> list[ExtraSection]:
    """The grounding summary, the stress plots and diversity table, and the seed spread table."""
    from vipet.trust.seeds import spread_table
    from vipet.trust.stress import diversity_table, stress_pngs

    sections = []
    grounding = results.get("grounding") or {}
    if grounding:
        rows = [["model", "lesion sentences", "supported", "contradicted", "not checkable", "contradicted facts"]]
        for grounded in grounding.values():
            models = sorted({s["model"] for s in grounded["samples"]}) or ["?"]
            summary = grounded["summary"]
            facts = ", ".join(f"{k} {v}" for k, v in summary["contradicted_facts"].items()) or "–"
            rows.append([", ".join(models), str(summary["sentences"]), str(summary["supported"]),
                         str(summary["contradicted"]), str(summary["not checkable"]), facts])
        sections.append(ExtraSection(
            "Grounding: stated numbers against the image",
            ["Every lesion sentence that states increased uptake is checked against the hot spots of its study "
             "(vipet ground): SUVmax within 25%, size within the resolution band, side of the body midline. "
             "Contradicted numbers are marked in the test studies above (hover for the evidence)."], table=rows))
    stress = results.get("stress") or {}
    if stress:
        sections.append(ExtraSection(
            "Stress curves (synthetic truth)",
            ["Planted lesions of each test sample matched to the lesions extracted from each model's report "
             "(type + position, the clinical matcher). Diversity: distinct word n-grams over all n-grams, and the "
             "share of reports identical to another study's."], images=stress_pngs(stress), table=diversity_table(stress)))
    if spread:
        sections.append(ExtraSection(
            "Training seeds: spread of each metric",
            ["Each model trained once per seed on the same data and scored on the same test samples; the range is "
             "what retraining moves, the bootstrap interval (main seed) what test-sample noise moves."],
            table=spread_table(spread)))
    return sections
