"""Inter-reader agreement on the shared items of every pair of reviewers.

Two numbers per pair, on the items both have reviewed (each reviewer's latest revision):

- lesion-level F1: the clinical F1 of `vipet.eval.clinical` with one reader's lesion lists as the
  prediction and the other's as the reference (expert-format lesions read by `Lesion.from_expert`,
  units, categories and greedy matching exactly as the metric the models are scored with). The
  matching compares category tuples for equality, so greedy matching is a maximum matching and the
  score does not depend on which reader is called the reference. `lesion_f1` is F1-TPF (type,
  position and FDG all agree), x100 like every clinical score; `lesion_scores` holds the four.
  As in the metric, a lesion whose category is "khác" never matches, even against an identical one.
- Cohen's kappa on the sentence labels (correct / significant / insignificant) of the (item,
  sentence index) pairs both labelled: kappa = (p_o - p_e) / (1 - p_e), p_o the observed
  agreement, p_e the agreement expected from the two readers' label frequencies. It is None when
  undefined: no shared sentence, or both readers used one and the same label throughout (p_e = 1);
  `observed_agreement` still says how often they agreed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations
from typing import Sequence

from vipet.eval.clinical import CLINICAL_METRICS, clinical_f1
from vipet.review.store import Review, ReviewStore
from vipet.schema import Lesion


@dataclass(frozen=True)
class PairAgreement:
    """Agreement of two readers (names sorted) over the items both reviewed."""

    reader_a: str
    reader_b: str
    n_items: int
    lesion_f1: float | None
    kappa: float | None
    n_sentences: int = 0
    observed_agreement: float | None = None
    lesion_scores: dict[str, float] = field(default_factory=dict)
    n_lesion_units: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Agreement:
    """Every pair of readers with at least one shared item, in name order."""

    pairs: list[PairAgreement]
    readers: list[str]

    def to_json(self) -> dict:
        """A plain JSON-ready form (for the web page and files)."""
        return {
            "readers": list(self.readers),
            "pairs": [
                {"reader_a": p.reader_a, "reader_b": p.reader_b, "n_items": p.n_items, "lesion_f1": p.lesion_f1,
                 "lesion_scores": dict(p.lesion_scores), "n_lesion_units": list(p.n_lesion_units),
                 "kappa": p.kappa, "n_sentences": p.n_sentences, "observed_agreement": p.observed_agreement}
                for p in self.pairs
            ],
        }


def cohen_kappa(labels_a: Sequence[str], labels_b: Sequence[str]) -> tuple[float | None, float | None]:
    """(kappa, observed agreement) of two equally long label sequences; None where undefined (module docstring)."""
    if len(labels_a) != len(labels_b):
        raise ValueError(f"{len(labels_a)} labels against {len(labels_b)}")
    n = len(labels_a)
    if n == 0:
        return None, None
    observed = sum(a == b for a, b in zip(labels_a, labels_b)) / n
    count_a, count_b = Counter(labels_a), Counter(labels_b)
    expected = sum(count_a[k] * count_b[k] for k in count_a) / (n * n)
    if expected >= 1.0:
        return None, observed
    return (observed - expected) / (1.0 - expected), observed


def lesion_agreement(lists_a: Sequence[Sequence[dict]], lists_b: Sequence[Sequence[dict]]) -> tuple[dict[str, float], tuple[int, int]]:
    """The four clinical F1 scores (x100) of reader A's expert-format lesion lists against reader B's,
    and the two readers' unit counts; empty scores when neither reader lists any lesion."""
    pred = [[Lesion.from_expert(lesion) for lesion in lesions] for lesions in lists_a]
    ref = [[Lesion.from_expert(lesion) for lesion in lesions] for lesions in lists_b]
    scores = clinical_f1(pred, ref)
    units = (scores["F1-T"]["n_pred"], scores["F1-T"]["n_ref"])
    if units == (0, 0):
        return {}, units
    return {name: scores[name]["f1"] for name in CLINICAL_METRICS}, units


def agreement(store: ReviewStore) -> Agreement:
    """Agreement of every pair of reviewers on their shared items (module docstring)."""
    by_reader: dict[str, dict[str, Review]] = {}
    order: dict[str, int] = {}
    for position, (item, review) in enumerate(store.latest_reviews()):
        by_reader.setdefault(review.reviewer, {})[item.item_id] = review
        order.setdefault(item.item_id, position)
    readers = sorted(by_reader)
    pairs = []
    for reader_a, reader_b in combinations(readers, 2):
        shared = sorted(set(by_reader[reader_a]) & set(by_reader[reader_b]), key=order.__getitem__)
        if not shared:
            continue
        reviews_a = [by_reader[reader_a][i] for i in shared]
        reviews_b = [by_reader[reader_b][i] for i in shared]
        scores, units = lesion_agreement([r.lesions for r in reviews_a], [r.lesions for r in reviews_b])
        labels_a: list[str] = []
        labels_b: list[str] = []
        for ra, rb in zip(reviews_a, reviews_b):
            b_labels = {s.index: s.label for s in rb.sentences}
            for s in ra.sentences:
                if s.index in b_labels:
                    labels_a.append(s.label)
                    labels_b.append(b_labels[s.index])
        kappa, observed = cohen_kappa(labels_a, labels_b)
        pairs.append(PairAgreement(reader_a, reader_b, len(shared), scores.get("F1-TPF"), kappa,
                                   len(labels_a), observed, scores, units))
    return Agreement(pairs, readers)
