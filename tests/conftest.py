"""Shared test fixtures: the real data folder beside the repository, skipped cleanly when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """`../shared/data/real`, or a skip saying why (a fresh clone has no ../shared)."""
    if not (REAL_DATA / "reports.jsonl").exists():
        pytest.skip("real data not found at ../shared/data/real (needs the shared folder beside the clone)")
    return REAL_DATA
