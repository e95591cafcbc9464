"""Clinical finding labels of a report, as multi-label targets for the encoder's auxiliary head.

The clinical F1 compares lesions by (type, position, FDG) categories. Asking the image encoder to
predict exactly those categories from the image gives it a clean, low-noise signal ("an FDG-avid
node in the mediastinum"), where predicting every token of the report would drown the few
image-dependent ones in sizes and digits it cannot see. The labels are extracted from the target
text by the report toolkit, so they need no annotation beyond the report itself.
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=1)
def finding_labels() -> tuple[str, ...]:
    """Every label: `type:T`, `pos:P`, `type+fdg:T|F` and `all:T|P|F` over the clinical vocabularies."""
    from vipet.reports.categories import FDG_CATEGORIES, OTHER, POSITION_CATEGORIES, TYPE_CATEGORIES

    types = [t for t in TYPE_CATEGORIES if t != OTHER]
    positions = [p for p in POSITION_CATEGORIES if p != OTHER]
    labels = [f"type:{t}" for t in types] + [f"pos:{p}" for p in positions]
    labels += [f"type+fdg:{t}|{f}" for t in types for f in FDG_CATEGORIES]
    labels += [f"all:{t}|{p}|{f}" for t in types for p in positions for f in FDG_CATEGORIES]
    return tuple(labels)


@lru_cache(maxsize=1)
def _label_index() -> dict[str, int]:
    return {label: i for i, label in enumerate(finding_labels())}


@lru_cache(maxsize=65536)
def finding_indices(text: str) -> tuple[int, ...]:
    """Indices of the labels a report text mentions (cached: training texts repeat every epoch)."""
    from vipet.reports.categories import lesion_categories
    from vipet.reports.extract import extract_lesions

    if not text or not text.strip():
        return ()
    index = _label_index()
    found: set[int] = set()
    for lesion in extract_lesions(text, scope="all"):
        for type_cat, position, fdg in lesion_categories(lesion):
            for label in (f"type:{type_cat}", f"pos:{position}", f"type+fdg:{type_cat}|{fdg}",
                          f"all:{type_cat}|{position}|{fdg}"):
                if label in index:
                    found.add(index[label])
    return tuple(sorted(found))


def finding_targets(texts: list[str]) -> torch.Tensor:
    """(B, n_labels) multi-hot targets for a batch of report texts."""
    targets = torch.zeros(len(texts), len(finding_labels()))
    for row, text in enumerate(texts):
        for column in finding_indices(text or ""):
            targets[row, column] = 1.0
    return targets
