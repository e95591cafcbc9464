"""CRG score (Hamamci et al., MIDL 2025, arXiv 2505.17167) on the clinical F1's lesion categories.

Why a second clinical score: F1 over lesion units is sensitive to class imbalance, and a report that
lists nothing is only punished through recall. CRG scores only the abnormalities the reference
states (true negatives never add credit) and weights misses and true findings by how rare positive
labels are, so an all-negative report and an everything-positive report both score 1/3.

Definition, for binary labels over a corpus of N studies and a label space L:
- T = N * |L| label slots; A = slots positive in the reference (the abnormalities present);
- TP, FN, FP counted over the slots; TN ignored;
- w_TP = w_FN = (T - A) / (2A), w_FP = 1;  s = TP*w_TP - FN*w_FN - FP*w_FP;  S_max = A*w_TP;
- CRG = S_max / (2*S_max - s), in [1/5, 1]: 1 when perfect, 1/3 when nothing or everything is
  reported. Undefined (None / NaN) when the references state no abnormality (A = 0).

Labels here are the structured categories of `vipet.reports.categories`, the same lesion records the
clinical F1 reads (`vipet.eval.clinical.lesion_units`): a study has label (type), (type, position),
(type, FDG) or (type, position, FDG) when one of its lesion units carries it. A label holding
"khác" is not a label (it never matches in F1 either), so L is 13 types, 13 x 5 type-positions,
13 x 2 type-FDG and 13 x 5 x 2 full labels. Unlike F1, CRG is per (study, label) presence: two nodes
of one category in a study are one label, as in the paper's multi-label setting. Scores x100 like F1.
"""

from __future__ import annotations

from itertools import product
from typing import Sequence

import numpy as np

from vipet.eval.base import MetricBlock
from vipet.eval.clinical import CLINICAL_METRICS, lesion_units
from vipet.reports.categories import FDG_CATEGORIES, OTHER, POSITION_CATEGORIES, TYPE_CATEGORIES
from vipet.schema import Lesion

CRG_METRICS: dict[str, tuple[int, ...]] = {f"CRG-{name[3:]}": fields for name, fields in CLINICAL_METRICS.items()}
_AXES = (TYPE_CATEGORIES, POSITION_CATEGORIES, FDG_CATEGORIES)


def label_space_size(fields: tuple[int, ...]) -> int:
    """|L| for compared category fields: every combination without "khác"."""
    return int(np.prod([len([c for c in _AXES[f] if c != OTHER]) for f in fields]))


def label_space(fields: tuple[int, ...]) -> list[tuple[str, ...]]:
    """The labels themselves (documentation and tests)."""
    return list(product(*([c for c in _AXES[f] if c != OTHER] for f in fields)))


def study_labels(lesions: Sequence[Lesion], fields: tuple[int, ...]) -> set[tuple[str, ...]]:
    """The labels a lesion list states: compared categories of each unit, "khác" left out."""
    labels = {tuple(unit[f] for f in fields) for _, unit in lesion_units(lesions)}
    return {label for label in labels if OTHER not in label}


def study_counts(pred: Sequence[Lesion], ref: Sequence[Lesion], fields: tuple[int, ...]) -> tuple[int, int, int]:
    """(TP, FN, FP) label counts of one study."""
    p, r = study_labels(pred, fields), study_labels(ref, fields)
    return len(p & r), len(r - p), len(p - r)


def crg_value(tp, fn, fp, total):
    """CRG from summed counts (scalars or arrays; NaN where A = 0 or the score is undefined)."""
    tp, fn, fp, total = (np.asarray(x, dtype=np.float64) for x in (tp, fn, fp, total))
    positives = tp + fn
    safe_positives = np.where(positives > 0, positives, 1.0)
    weight = (total - positives) / (2 * safe_positives)
    s = tp * weight - fn * weight - fp
    s_max = positives * weight
    denominator = 2 * s_max - s
    ok = (positives > 0) & (denominator > 0)
    return np.where(ok, s_max / np.where(ok, denominator, 1.0), np.nan)


def crg_stats(pred_lists: Sequence[Sequence[Lesion]], ref_lists: Sequence[Sequence[Lesion]]) -> np.ndarray:
    """(N, 4 * levels) per-study [TP, FN, FP, |L|] for each CRG level, summable across studies."""
    rows = []
    for pred, ref in zip(pred_lists, ref_lists):
        row: list[float] = []
        for fields in CRG_METRICS.values():
            row.extend(study_counts(pred, ref, fields))
            row.append(label_space_size(fields))
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(rows), 4 * len(CRG_METRICS))


def _reduce(summed: np.ndarray) -> np.ndarray:
    parts = [crg_value(summed[..., 4 * i], summed[..., 4 * i + 1], summed[..., 4 * i + 2], summed[..., 4 * i + 3])
             for i in range(len(CRG_METRICS))]
    return np.stack(parts, axis=-1) * 100


def crg_block(pred_lists: Sequence[Sequence[Lesion]], ref_lists: Sequence[Sequence[Lesion]]) -> MetricBlock:
    """Bootstrap-ready block of CRG-T, CRG-TP, CRG-TF, CRG-TPF (x100)."""
    if len(pred_lists) != len(ref_lists):
        raise ValueError(f"{len(pred_lists)} predicted lesion lists but {len(ref_lists)} reference lists")
    return MetricBlock(tuple(CRG_METRICS), crg_stats(pred_lists, ref_lists), _reduce)


def crg_score(pred_lists: Sequence[Sequence[Lesion]], ref_lists: Sequence[Sequence[Lesion]]) -> dict:
    """{level: {"value" (x100, None when undefined), "tp", "fn", "fp", "A", "T"}} over a corpus."""
    summed = crg_block(pred_lists, ref_lists).stats.sum(axis=0)
    out: dict = {}
    for i, name in enumerate(CRG_METRICS):
        tp, fn, fp, total = (int(x) for x in summed[4 * i : 4 * i + 4])
        value = float(crg_value(tp, fn, fp, total))
        out[name] = {"value": value * 100 if np.isfinite(value) else None, "tp": tp, "fn": fn, "fp": fp,
                     "A": tp + fn, "T": total}
    return out
