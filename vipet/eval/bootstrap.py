"""Bootstrap 95% intervals over studies and the paired bootstrap test between two systems.

Resampling unit: the study (`PredictionRecord.cluster`), so several VQA questions about one study
move together. A resample is a row of multinomial counts over the clusters; each metric block's
per-sample statistics are first summed per cluster, so every resample of every metric is one
matrix product followed by the metric's own reduction (no re-tokenisation, no per-resample
Python loop). Draws come from `numpy.random.default_rng(seed)` in chunks, so the same seed gives
the same intervals on any machine and a paired comparison uses the same draws for both systems.

Interval: percentile method (2.5th and 97.5th percentiles of the resampled scores, linear
interpolation, resamples where a score is undefined ignored). Paired test: the delta of each
resample (A minus B on the same draw); the interval is its percentile interval and the two-sided
p-value is (1 + #{|delta_b - delta| >= |delta|}) / (B + 1), the bootstrap distribution shifted to
the null of no difference (Koehn 2004; Berg-Kirkpatrick et al. 2012).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from vipet.eval.base import MetricBlock

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
_CHUNK_CELLS = 4_000_000  # resample rows per chunk = this / n_clusters (bounded memory)


def cluster_index(clusters: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Sorted distinct clusters and, for each sample, the index of its cluster."""
    names = sorted(set(clusters))
    index = {name: i for i, name in enumerate(names)}
    return names, np.array([index[c] for c in clusters], dtype=np.int64)


def per_cluster_stats(stats: np.ndarray, cluster_of: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum the per-sample statistics rows of each cluster."""
    out = np.zeros((n_clusters, stats.shape[1]))
    np.add.at(out, cluster_of, stats)
    return out


def resample_weights(n_clusters: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of (rows, n_clusters) multinomial counts, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _CHUNK_CELLS // max(n_clusters, 1))
    done = 0
    while done < n_resamples:
        rows = min(rows_per_chunk, n_resamples - done)
        draws = rng.integers(0, n_clusters, size=(rows, n_clusters))
        flat = (np.arange(rows)[:, None] * n_clusters + draws).ravel()
        yield np.bincount(flat, minlength=rows * n_clusters).reshape(rows, n_clusters).astype(np.float64)
        done += rows


def _resampled_scores(block: MetricBlock, clusters: Sequence[str], n_resamples: int, seed: int) -> np.ndarray:
    names, cluster_of = cluster_index(clusters)
    per_cluster = per_cluster_stats(block.stats, cluster_of, len(names))
    parts = [np.asarray(block.reduce(w @ per_cluster)).reshape(len(w), len(block.names))
             for w in resample_weights(len(names), n_resamples, seed)]
    return np.concatenate(parts) if parts else np.zeros((0, len(block.names)))


def _interval(values: np.ndarray) -> list[float | None]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return [None, None]
    low, high = np.percentile(finite, [2.5, 97.5])
    return [float(low), float(high)]


def bootstrap_block(
    block: MetricBlock, clusters: Sequence[str], n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> dict[str, dict]:
    """{name: {"value", "ci95": [low, high]}} for every score of the block."""
    values = block.value()
    if n_resamples <= 0 or len(clusters) == 0:
        return {name: {"value": values[name], "ci95": [None, None]} for name in block.names}
    resampled = _resampled_scores(block, clusters, n_resamples, seed)
    return {name: {"value": values[name], "ci95": _interval(resampled[:, i])} for i, name in enumerate(block.names)}


def paired_bootstrap(
    block_a: MetricBlock,
    block_b: MetricBlock,
    clusters: Sequence[str],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, dict]:
    """{name: {"a", "b", "delta", "ci95", "p_value"}} comparing system A with system B on the same samples."""
    if block_a.names != block_b.names or block_a.stats.shape[0] != block_b.stats.shape[0]:
        raise ValueError("paired bootstrap needs the same metrics on the same samples")
    value_a, value_b = block_a.value(), block_b.value()
    scores_a = _resampled_scores(block_a, clusters, n_resamples, seed)
    scores_b = _resampled_scores(block_b, clusters, n_resamples, seed)
    out: dict[str, dict] = {}
    for i, name in enumerate(block_a.names):
        delta = value_a[name] - value_b[name]
        deltas = scores_a[:, i] - scores_b[:, i]
        finite = deltas[np.isfinite(deltas)]
        if np.isfinite(delta) and len(finite):
            extreme = int(np.sum(np.abs(finite - delta) >= abs(delta)))
            p_value = (1 + extreme) / (len(finite) + 1)
        else:
            p_value = None
        out[name] = {"a": value_a[name], "b": value_b[name], "delta": delta, "ci95": _interval(deltas), "p_value": p_value}
    return out
