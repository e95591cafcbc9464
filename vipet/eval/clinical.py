"""Clinical F1 (F1-T, F1-TP, F1-TF, F1-TPF) and the clinical side scores, on lesion lists.

Definition (DOMAIN.md, the ViMed-PET paper's metric, rules in `vipet.reports.categories`):
every lesion becomes one unit per listed site, each unit carrying (type, position, FDG)
categories. For each metric the units are matched greedily one to one: prediction units in
order, each taking the first still-unmatched reference unit whose compared categories are equal
(type; type+position; type+FDG; all three). A unit whose compared categories include "khác"
never matches, but it still counts in the totals. Counts are summed over patients before
dividing (micro average): P = matched / predicted units, R = matched / reference units,
F1 = 2PR/(P+R), 0 when undefined; reported x100 like the paper.

Side scores:
- per-type recall: matched reference units of a type (type matching) / reference units of it;
- SUVmax absolute error over the distinct (prediction lesion, reference lesion) pairs matched on
  type+position where both report an SUVmax;
- primary-malignancy agreement per study. A lesion list "calls a likely malignant primary
  thoracic tumour" when some lesion with a thoracic site (position phổi or trung thất) has a
  judgement of primary ("U nguyên phát", "Khả năng u nguyên phát ...") or, for a non-nodal
  lesion, of malignancy ("Khả năng ác tính", "Nghi ngờ ác tính", "... ác tính tái phát").
  Metastasis, "chưa loại trừ" (cannot exclude) and "cần phân biệt" wordings are not calls. The
  reference call is the truth: accuracy, sensitivity, specificity (x100).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from vipet.eval.base import MetricBlock
from vipet.reports.categories import (
    OTHER,
    TYPE_CATEGORIES,
    judgement_category,
    lesion_categories,
    position_categories,
    type_category,
)
from vipet.schema import Lesion

CLINICAL_METRICS: dict[str, tuple[int, ...]] = {
    "F1-T": (0,),
    "F1-TP": (0, 1),
    "F1-TF": (0, 2),
    "F1-TPF": (0, 1, 2),
}
THORACIC_POSITIONS = frozenset({"phổi", "trung thất"})


@dataclass
class PatientResult:
    """Counts for one patient, everything the corpus scores are summed from."""

    n_pred: int
    n_ref: int
    correct: dict[str, int]
    type_ref: dict[str, int]
    type_matched: dict[str, int]
    suv_errors: list[float] = field(default_factory=list)
    pred_primary: bool = False
    ref_primary: bool = False


Unit = tuple[int, tuple[str, str, str]]  # (lesion index, (type, position, fdg))


def lesion_units(lesions: Sequence[Lesion]) -> list[Unit]:
    """The lesions expanded to one unit per site, in order."""
    return [(index, unit) for index, lesion in enumerate(lesions) for unit in lesion_categories(lesion)]


def greedy_match(pred: Sequence[Unit], ref: Sequence[Unit], fields: tuple[int, ...]) -> list[tuple[int, int]]:
    """Greedy one-to-one matching of unit indices on the given category fields ("khác" never matches)."""
    used = [False] * len(ref)
    pairs: list[tuple[int, int]] = []
    for i, (_, p) in enumerate(pred):
        key = tuple(p[f] for f in fields)
        if OTHER in key:
            continue
        for j, (_, r) in enumerate(ref):
            if not used[j] and tuple(r[f] for f in fields) == key:
                used[j] = True
                pairs.append((i, j))
                break
    return pairs


def calls_primary_malignancy(lesions: Sequence[Lesion]) -> bool:
    """Whether a lesion list calls a likely malignant primary thoracic tumour (module docstring)."""
    for lesion in lesions:
        judgement = judgement_category(lesion)
        if judgement not in ("nguyên phát", "ác tính"):
            continue
        if not THORACIC_POSITIONS.intersection(position_categories(lesion)):
            continue
        if judgement == "nguyên phát" or type_category(lesion) not in ("hạch", OTHER):
            return True
    return False


def compare_patient(pred_lesions: Sequence[Lesion], ref_lesions: Sequence[Lesion]) -> PatientResult:
    """Match one patient's predicted lesions against the reference lesions."""
    pred, ref = lesion_units(pred_lesions), lesion_units(ref_lesions)
    correct: dict[str, int] = {}
    type_matched = {t: 0 for t in TYPE_CATEGORIES}
    type_ref = {t: 0 for t in TYPE_CATEGORIES}
    for _, unit in ref:
        type_ref[unit[0]] += 1
    suv_errors: list[float] = []
    for name, fields in CLINICAL_METRICS.items():
        pairs = greedy_match(pred, ref, fields)
        correct[name] = len(pairs)
        if name == "F1-T":
            for _, j in pairs:
                type_matched[ref[j][1][0]] += 1
        if name == "F1-TP":
            lesion_pairs = sorted({(pred[i][0], ref[j][0]) for i, j in pairs})
            for a, b in lesion_pairs:
                pa, rb = pred_lesions[a].suv_max, ref_lesions[b].suv_max
                if pa is not None and rb is not None:
                    suv_errors.append(abs(pa - rb))
    return PatientResult(
        n_pred=len(pred),
        n_ref=len(ref),
        correct=correct,
        type_ref=type_ref,
        type_matched=type_matched,
        suv_errors=suv_errors,
        pred_primary=calls_primary_malignancy(pred_lesions),
        ref_primary=calls_primary_malignancy(ref_lesions),
    )


def _prf(correct: np.ndarray, n_pred: np.ndarray, n_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    precision = np.where(n_pred > 0, correct / np.where(n_pred > 0, n_pred, 1), 0.0)
    recall = np.where(n_ref > 0, correct / np.where(n_ref > 0, n_ref, 1), 0.0)
    total = precision + recall
    f1 = np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1), 0.0)
    return precision, recall, f1


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def clinical_blocks(results: Sequence[PatientResult]) -> list[MetricBlock]:
    """Bootstrap-ready blocks: F1 family, per-type recall, SUVmax error, primary-malignancy agreement."""
    names = list(CLINICAL_METRICS)
    f1_stats = np.array(
        [[r.correct[m] for m in names] + [r.n_pred, r.n_ref] for r in results], dtype=np.float64
    ).reshape(len(results), len(names) + 2)

    def reduce_f1(summed: np.ndarray) -> np.ndarray:
        n_pred, n_ref = summed[..., -2:-1], summed[..., -1:]
        p, r, f = _prf(summed[..., : len(names)], n_pred, n_ref)
        return np.concatenate([f, p, r], axis=-1) * 100

    f1_names = tuple(names) + tuple(f"P-{m[3:]}" for m in names) + tuple(f"R-{m[3:]}" for m in names)
    blocks = [MetricBlock(f1_names, f1_stats, reduce_f1)]

    types = [t for t in TYPE_CATEGORIES if any(r.type_ref[t] for r in results)]
    if types:
        type_stats = np.array(
            [[r.type_matched[t] for t in types] + [r.type_ref[t] for t in types] for r in results], dtype=np.float64
        )
        k = len(types)
        blocks.append(
            MetricBlock(
                tuple(f"recall[{t}]" for t in types),
                type_stats,
                lambda s, k=k: _ratio(s[..., :k], s[..., k:]) * 100,
            )
        )
    suv_stats = np.array([[sum(r.suv_errors), len(r.suv_errors)] for r in results], dtype=np.float64).reshape(-1, 2)
    blocks.append(MetricBlock(("suvmax_mae",), suv_stats, lambda s: _ratio(s[..., :1], s[..., 1:])))
    primary = np.array(
        [[r.pred_primary and r.ref_primary, r.pred_primary and not r.ref_primary,
          (not r.pred_primary) and r.ref_primary, not (r.pred_primary or r.ref_primary)] for r in results],
        dtype=np.float64,
    ).reshape(-1, 4)

    def reduce_primary(s: np.ndarray) -> np.ndarray:
        tp, fp, fn, tn = (s[..., i : i + 1] for i in range(4))
        return np.concatenate([_ratio(tp + tn, tp + fp + fn + tn), _ratio(tp, tp + fn), _ratio(tn, tn + fp)], axis=-1) * 100

    blocks.append(MetricBlock(("primary_accuracy", "primary_sensitivity", "primary_specificity"), primary, reduce_primary))
    return blocks


def clinical_f1(
    pred_lesions: Sequence[Sequence[Lesion]], ref_lesions: Sequence[Sequence[Lesion]], ids: Sequence[str] | None = None
) -> dict:
    """Corpus clinical scores plus per-patient counts, from lesion lists of prediction and reference.

    Returns {"F1-T": {"precision", "recall", "f1", "correct", "n_pred", "n_ref"}, ..., "type_recall":
    {type: {"recall", "matched", "n_ref"}}, "suvmax_mae": {"value", "n_pairs"}, "primary_malignancy":
    {"accuracy", "sensitivity", "specificity", "tp", "fp", "fn", "tn"}, "per_patient": [...]}.
    """
    if len(pred_lesions) != len(ref_lesions):
        raise ValueError(f"{len(pred_lesions)} predicted lesion lists but {len(ref_lesions)} reference lists")
    ids = list(ids) if ids is not None else [str(i) for i in range(len(pred_lesions))]
    results = [compare_patient(p, r) for p, r in zip(pred_lesions, ref_lesions)]
    n_pred = sum(r.n_pred for r in results)
    n_ref = sum(r.n_ref for r in results)
    out: dict = {}
    for name in CLINICAL_METRICS:
        correct = sum(r.correct[name] for r in results)
        p, rc, f = (float(x) for x in _prf(np.float64(correct), np.float64(n_pred), np.float64(n_ref)))
        out[name] = {"precision": p * 100, "recall": rc * 100, "f1": f * 100, "correct": correct, "n_pred": n_pred, "n_ref": n_ref}
    out["type_recall"] = {}
    for t in TYPE_CATEGORIES:
        ref_count = sum(r.type_ref[t] for r in results)
        if ref_count:
            matched = sum(r.type_matched[t] for r in results)
            out["type_recall"][t] = {"recall": matched / ref_count * 100, "matched": matched, "n_ref": ref_count}
    errors = [e for r in results for e in r.suv_errors]
    out["suvmax_mae"] = {"value": float(np.mean(errors)) if errors else None, "n_pairs": len(errors)}
    tp = sum(r.pred_primary and r.ref_primary for r in results)
    fp = sum(r.pred_primary and not r.ref_primary for r in results)
    fn = sum((not r.pred_primary) and r.ref_primary for r in results)
    tn = len(results) - tp - fp - fn
    out["primary_malignancy"] = {
        "accuracy": (tp + tn) / len(results) * 100 if results else None,
        "sensitivity": tp / (tp + fn) * 100 if tp + fn else None,
        "specificity": tn / (tn + fp) * 100 if tn + fp else None,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }
    out["per_patient"] = [
        {"id": pid, "n_pred": r.n_pred, "n_ref": r.n_ref, "correct": dict(r.correct),
         "pred_primary": r.pred_primary, "ref_primary": r.ref_primary}
        for pid, r in zip(ids, results)
    ]
    return out
