"""Fixtures for the metric tests: real report texts paired with each other and with perturbed copies."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest


def perturb(words: list[str], rng: random.Random, pool: list[str], edits: int) -> list[str]:
    """A copy with `edits` random substitutions, deletions and insertions drawn from `pool`."""
    out = list(words)
    for _ in range(edits):
        action = rng.random()
        if action < 0.4 and out:
            out[rng.randrange(len(out))] = rng.choice(pool)
        elif action < 0.7 and len(out) > 1:
            del out[rng.randrange(len(out))]
        else:
            out.insert(rng.randrange(len(out) + 1), rng.choice(pool))
    return out


@pytest.fixture(scope="session")
def real_texts(real_data: Path) -> list[str]:
    return [json.loads(line)["text"] for line in (real_data / "reports.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def real_pairs(real_texts: list[str]) -> tuple[list[str], list[list[str]]]:
    """30 (prediction, references) pairs from real reports: perturbed copies, other patients' reports,
    truncations, an empty prediction, and a few samples with two references."""
    rng = random.Random(20261123)
    pool = " ".join(real_texts[:40]).split()
    predictions, references = [], []
    for i in range(30):
        ref = real_texts[i]
        kind = i % 5
        if kind == 0:
            pred = " ".join(perturb(ref.split(), rng, pool, 15))
        elif kind == 1:
            pred = real_texts[(i * 7 + 3) % len(real_texts)]
        elif kind == 2:
            pred = " ".join(ref.split()[: rng.randrange(3, 40)])
        elif kind == 3:
            pred = " ".join(perturb(ref.split(), rng, pool, 120))
        else:
            pred = ref
        refs = [ref] if i % 4 else [ref, real_texts[(i + 11) % len(real_texts)]]
        predictions.append(pred)
        references.append(refs)
    predictions[7] = ""
    return predictions, references
