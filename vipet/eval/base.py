"""A metric as per-sample sufficient statistics plus a reduction: the shape every score takes here.

Every corpus score in this package is a function of the column sums of a per-sample statistics
matrix: BLEU of summed clipped matches and lengths, chrF of summed character n-gram counts,
clinical F1 of summed per-patient match counts, and any per-sample average (ROUGE, METEOR, CIDEr,
accuracy) of a [score, 1] pair. Keeping that shape means the point estimate, every bootstrap
resample and every paired comparison are the same reduction applied to `weights @ stats`, with no
re-tokenisation and no Python loop per resample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

Reduce = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class MetricBlock:
    """Scores `names` computed as `reduce(sum of stats rows)`; `reduce` maps (..., k) -> (..., len(names))."""

    names: tuple[str, ...]
    stats: np.ndarray  # (N, k) float64
    reduce: Reduce

    def value(self) -> dict[str, float]:
        """The point estimate on all samples."""
        scores = np.atleast_1d(self.reduce(self.stats.sum(axis=0)))
        return {name: float(v) for name, v in zip(self.names, scores)}

    def resampled(self, weights: np.ndarray) -> np.ndarray:
        """Scores for each row of sample weights, (B, N) -> (B, len(names))."""
        return np.asarray(self.reduce(weights @ self.stats)).reshape(len(weights), len(self.names))


def mean_block(names: Sequence[str], per_sample: np.ndarray, scale: float = 1.0) -> MetricBlock:
    """A block for scores that are averages of per-sample values (shape (N,) or (N, len(names)))."""
    values = np.asarray(per_sample, dtype=np.float64).reshape(len(per_sample), -1)
    stats = np.column_stack([values * scale, np.ones(len(values))])

    def reduce(summed: np.ndarray) -> np.ndarray:
        count = summed[..., -1:]
        return np.where(count > 0, summed[..., :-1] / np.where(count > 0, count, 1.0), 0.0)

    return MetricBlock(tuple(names), stats, reduce)


def scaled(reduce: Reduce, scale: float) -> Reduce:
    """A reduction whose scores are multiplied by `scale` (e.g. 100 for percentages)."""
    if scale == 1.0:
        return reduce
    return lambda summed: reduce(summed) * scale
