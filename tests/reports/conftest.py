"""Fixtures for the report-toolkit tests: the real reports and the 12 report/expert pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vipet.schema import Lesion, load_expert_lesions


@pytest.fixture(scope="session")
def real_reports(real_data: Path) -> list[dict]:
    """The 189 real `{"patient_id", "text"}` records of reports.jsonl."""
    lines = (real_data / "reports.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def real_pairs(real_data: Path, real_reports: list[dict]) -> list[tuple[str, str, list[Lesion]]]:
    """(patient id, report text, expert lesions) for the 12 patients of paired.json."""
    texts: dict[str, str] = {}
    for record in real_reports:
        texts.setdefault(record["patient_id"], record["text"])
    pairs = json.loads((real_data / "paired.json").read_text(encoding="utf-8"))
    return [(p["patient_id"], texts[p["patient_id"]], load_expert_lesions(real_data / p["expert_file"])) for p in pairs]
