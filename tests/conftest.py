"""Shared test fixtures: the real data folder beside the repository (skipped cleanly when absent) and a tiny build."""

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


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory) -> Path:
    """Eight small synthetic studies built at 8x16x16 with a random split (every split non-empty).

    Session-scoped and read-only: the train, generate and HF VLM tests all read the same build.
    """
    from typer.testing import CliRunner

    from vipet.cli import app
    from vipet.data.manifest import read_manifest

    root = tmp_path_factory.mktemp("tiny_cohort")
    runner = CliRunner()
    assert runner.invoke(app, ["synth", str(root / "cohort"), "--n", "8", "--seed", "1"]).exit_code == 0
    result = runner.invoke(app, ["build", str(root / "cohort"), str(root / "build"), "--split", "random",
                                 "--target-shape", "8,16,16", "--export", "none", "--no-renders"])
    assert result.exit_code == 0, result.output
    splits = {row["split"] for row in read_manifest(root / "build")}
    assert splits == {"train", "val", "test"}, splits
    return root / "build"
