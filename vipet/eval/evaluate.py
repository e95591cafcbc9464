"""From prediction records to the metrics JSON: every task, every model, every score with its interval.

Sections per model: `report` (language metrics, optional clinical metrics) and `vqa` (closed
questions: yes/no accuracy; open questions: language metrics). Samples are ordered by (study,
id) before scoring so the bootstrap draws do not depend on the order of the file.
Clinical references are the expert lesion files when an expert folder is given (records without
an expert file are left out of the clinical scores and counted), else the lesions the offline
extractor reads from the reference text. With `crg`, the clinical section also holds the CRG score
(`vipet.eval.crg`) on the same lesion lists; it is off by default so that existing metrics files
(the bench's among them) keep their bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vipet.errors import EvalError, ReportError
from vipet.eval.base import MetricBlock, mean_block
from vipet.eval.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, bootstrap_block, paired_bootstrap
from vipet.eval.clinical import clinical_blocks, clinical_f1, compare_patient
from vipet.eval.crg import crg_block, crg_score
from vipet.eval.embedding import TokenEmbedder
from vipet.eval.io import PredictionRecord, align_records, records_from_dicts
from vipet.eval.nlg import nlg_blocks
from vipet.eval.profiles import Profile, get_profile
from vipet.eval.vqa import closed_correct, is_closed

SCHEMA_VERSION = 1


@dataclass
class Section:
    """The blocks of one scored group of samples, with what the JSON reports beside the scores."""

    blocks: list[MetricBlock]
    clusters: list[str]
    info: dict[str, Any] = field(default_factory=dict)


def _sorted(records: Sequence[PredictionRecord]) -> list[PredictionRecord]:
    return sorted(records, key=lambda r: (r.cluster, r.id))


def _lesions(text: str, problems: list[dict], rid: str, side: str) -> list:
    from vipet.reports.extract import extract_lesions

    try:
        return extract_lesions(text, scope="thorax")
    except ReportError as exc:
        problems.append({"id": rid, "side": side, "reason": exc.reason})
        return []


def report_sections(
    records: Sequence[PredictionRecord],
    profile: Profile,
    clinical: bool = False,
    expert_dir: str | Path | None = None,
    embedder: TokenEmbedder | None = None,
    crg: bool = False,
) -> dict[str, Section]:
    """Sections `report/nlg` and, with `clinical`, `report/clinical` (plus CRG with `crg`) for one model's report records."""
    records = _sorted(records)
    sections: dict[str, Section] = {}
    if not records:
        return sections
    predictions = [r.prediction for r in records]
    sections["report/nlg"] = Section(
        nlg_blocks(predictions, [list(r.references) for r in records], profile, embedder),
        [r.cluster for r in records],
        {"n": len(records), "n_empty_predictions": sum(not p.strip() for p in predictions)},
    )
    if clinical:
        sections["report/clinical"] = _clinical_section(records, expert_dir, crg)
    return sections


def _clinical_section(records: list[PredictionRecord], expert_dir: str | Path | None, crg: bool = False) -> Section:
    problems: list[dict] = []
    kept: list[PredictionRecord] = []
    pred_lists, ref_lists = [], []
    if expert_dir is not None:
        from vipet.eval.expert import ExpertSet

        experts = ExpertSet(expert_dir)
        for record in records:
            key = experts.key_for(record.id)
            if key is None:
                continue
            kept.append(record)
            ref_lists.append(experts.lesions(key))
            pred_lists.append(_lesions(record.prediction, problems, record.id, "prediction"))
        if not kept:
            raise EvalError("no prediction id matches an expert lesion file (ids must be study keys or patient_<n>)", expert_dir)
        reference = "expert"
    else:
        for record in records:
            kept.append(record)
            pred_lists.append(_lesions(record.prediction, problems, record.id, "prediction"))
            ref_lists.append(_lesions(record.references[0], problems, record.id, "reference"))
        reference = "extracted from the reference text"
    details = clinical_f1(pred_lists, ref_lists, [r.id for r in kept])
    results = [compare_patient(p, r) for p, r in zip(pred_lists, ref_lists)]
    info = {
        "reference": reference,
        "n_patients": len(kept),
        "n_without_expert": len(records) - len(kept),
        "counts": {m: {k: details[m][k] for k in ("correct", "n_pred", "n_ref")} for m in ("F1-T", "F1-TP", "F1-TF", "F1-TPF")},
        "type_recall_counts": {t: {"matched": v["matched"], "n_ref": v["n_ref"]} for t, v in details["type_recall"].items()},
        "suvmax_pairs": details["suvmax_mae"]["n_pairs"],
        "primary_malignancy_counts": {k: details["primary_malignancy"][k] for k in ("tp", "fp", "fn", "tn")},
        "per_patient": details["per_patient"],
        "extraction_problems": problems,
    }
    blocks = clinical_blocks(results)
    if crg:
        blocks.append(crg_block(pred_lists, ref_lists))
        info["crg_counts"] = {m: {k: v[k] for k in ("tp", "fn", "fp", "A", "T")} for m, v in crg_score(pred_lists, ref_lists).items()}
    return Section(blocks, [r.cluster for r in kept], info)


def vqa_sections(records: Sequence[PredictionRecord], profile: Profile, embedder: TokenEmbedder | None = None) -> dict[str, Section]:
    """Sections `vqa/closed` (yes/no accuracy, x100) and `vqa/open` (language metrics)."""
    records = _sorted(records)
    closed = [r for r in records if is_closed(r.question, r.references[0], r.closed)]
    open_ = [r for r in records if not is_closed(r.question, r.references[0], r.closed)]
    sections: dict[str, Section] = {}
    if closed:
        correct = np.array([closed_correct(r.prediction, r.references) for r in closed], dtype=np.float64)
        sections["vqa/closed"] = Section([mean_block(["accuracy"], correct, 100.0)], [r.cluster for r in closed], {"n": len(closed)})
    if open_:
        predictions = [r.prediction for r in open_]
        sections["vqa/open"] = Section(
            nlg_blocks(predictions, [list(r.references) for r in open_], profile, embedder),
            [r.cluster for r in open_],
            {"n": len(open_), "n_empty_predictions": sum(not p.strip() for p in predictions)},
        )
    return sections


def _model_sections(records, profile, clinical, expert_dir, embedder, crg=False) -> dict[str, Section]:
    sections = report_sections([r for r in records if r.task == "report"], profile, clinical, expert_dir, embedder, crg)
    sections.update(vqa_sections([r for r in records if r.task == "vqa"], profile, embedder))
    return sections


def _by_model(records: Sequence[PredictionRecord]) -> dict[str, list[PredictionRecord]]:
    groups: dict[str, list[PredictionRecord]] = {}
    for record in records:
        groups.setdefault(record.model, []).append(record)
    return dict(sorted(groups.items()))


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        task, part = path.split("/")
        nested.setdefault(task, {})[part] = value
    return nested


def evaluate_predictions(
    records: Sequence[PredictionRecord | dict],
    profile: str | Profile = "default",
    clinical: bool = False,
    expert_dir: str | Path | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    embedder: TokenEmbedder | None = None,
    word_segmentation: bool = False,
    source: dict[str, Any] | None = None,
    crg: bool = False,
    language: str = "vi",
) -> dict[str, Any]:
    """The metrics JSON for prediction records (see vipet/eval/__init__.py for its layout); `crg` adds CRG-T/TP/TF/TPF to the clinical scores.

    `language="en"` scores English reports: English tokens (`get_profile(..., language="en")`) and
    no clinical section, since the offline lesion extractor reads Vietnamese only (the profile
    info says so); Vietnamese (the default) is unchanged.
    """
    if not all(isinstance(r, PredictionRecord) for r in records):
        records = records_from_dicts(records)
    if not records:
        raise EvalError("no prediction records to score")
    prof = get_profile(profile, word_segmentation, language) if isinstance(profile, str) else profile
    if language == "en" and clinical:
        clinical = False
        prof.info["clinical"] = "not scored: the offline lesion extractor reads Vietnamese reports only"
    results: dict[str, Any] = {}
    for model, group in _by_model(records).items():
        flat: dict[str, Any] = {}
        for path, section in _model_sections(group, prof, clinical, expert_dir, embedder, crg).items():
            scores: dict[str, Any] = {}
            for block in section.blocks:
                scores.update(bootstrap_block(block, section.clusters, n_resamples, seed))
            flat[path] = {**section.info, "scores": scores}
        results[model] = _nest(flat)
    return {
        "schema_version": SCHEMA_VERSION,
        "input": dict(source or {}, n_records=len(records)),
        "profile": prof.info,
        "bootstrap": _bootstrap_info(n_resamples, seed),
        "results": results,
    }


def compare_predictions(
    records_a: Sequence[PredictionRecord],
    records_b: Sequence[PredictionRecord],
    profile: str | Profile = "default",
    clinical: bool = False,
    expert_dir: str | Path | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    word_segmentation: bool = False,
    paths: tuple[str, str] = ("A", "B"),
    crg: bool = False,
) -> dict[str, Any]:
    """Paired bootstrap of system A against system B on the same ids (delta = A - B)."""
    pairs = align_records(records_a, records_b, paths[0], paths[1])
    prof = get_profile(profile, word_segmentation) if isinstance(profile, str) else profile
    sections_a = _model_sections([a for a, _ in pairs], prof, clinical, expert_dir, None, crg)
    sections_b = _model_sections([b for _, b in pairs], prof, clinical, expert_dir, None, crg)
    flat: dict[str, Any] = {}
    for path, section_a in sections_a.items():
        section_b = sections_b[path]
        scores: dict[str, Any] = {}
        for block_a, block_b in zip(section_a.blocks, section_b.blocks):
            scores.update(paired_bootstrap(block_a, block_b, section_a.clusters, n_resamples, seed))
        flat[path] = {"n": len(section_a.clusters), "scores": scores}
    return {
        "schema_version": SCHEMA_VERSION,
        "a": paths[0],
        "b": paths[1],
        "profile": prof.info,
        "bootstrap": _bootstrap_info(n_resamples, seed, paired=True),
        "comparison": _nest(flat),
    }


def _bootstrap_info(n_resamples: int, seed: int, paired: bool = False) -> dict[str, Any]:
    info = {
        "n_resamples": n_resamples,
        "seed": seed,
        "level": 0.95,
        "unit": "study (record 'study' field, else its id)",
        "interval": "percentile",
        "corpus_dependent": "CIDEr-D idf fixed from the full corpus; samples resampled",
    }
    if paired:
        info["p_value"] = "two-sided, (1 + #|delta_b - delta| >= |delta|) / (B + 1)"
    return info
