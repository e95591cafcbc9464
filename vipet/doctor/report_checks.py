"""Doctor checks of a study's report files: empty sections, the wrong language, English vs Vietnamese.

The Vietnamese report is read with the schema's reader (`Report.load`: the ViMed-PET JSON); the
English one as JSON in any form `vipet.reports.consistency` accepts. The language rule and the
number-level agreement are `consistency.LANGUAGE_RULE` and `consistency.compare_versions`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vipet.doctor.findings import Finding
from vipet.errors import ReportError
from vipet.reports.consistency import compare_versions, english_sections, text_language
from vipet.schema import IMPRESSION_KEY, SECTION_KEYS, Report


def empty_parts(report: Report) -> list[str]:
    """Names of the empty region sections, then the impression when it is empty."""
    empty = [key for key in SECTION_KEYS if not report.sections.get(key, "").strip()]
    return empty + ([IMPRESSION_KEY] if not report.impression.strip() else [])


def report_findings(key: str, report_path: str | None, report_en_path: str | None) -> list[Finding]:
    """Findings of one study's Vietnamese and English report files (absent files: no finding here;
    discovery reports those)."""
    findings: list[Finding] = []
    report = None
    if report_path and Path(report_path).is_file():
        try:
            report = Report.load(report_path)
        except ReportError as exc:
            findings.append(Finding("missing_report", key, f"report unreadable: {exc.reason}", path=report_path))
        if report is not None:
            if empty := empty_parts(report):
                findings.append(Finding("empty_section", key, f"empty: {', '.join(empty)}", path=report_path,
                                        detail={"empty": empty}))
            if (language := text_language(report.full_text())) == "en":
                findings.append(Finding("wrong_language", key, "the Vietnamese report reads as English",
                                        path=report_path, detail={"language": language}))
    english = _english(report_en_path, key, findings)
    if english is None:
        return findings
    _, en_text = english_sections(english)
    if text_language(en_text) == "vi":
        findings.append(Finding("wrong_language", key, "the English report reads as Vietnamese",
                                path=str(report_en_path), detail={"language": "vi"}))
    elif report is not None:
        agreement = compare_versions(report, english)
        if not agreement.agrees:
            findings.append(Finding("en_vi_disagreement", key, agreement.describe(), path=str(report_en_path)))
    return findings


def _english(path: str | None, key: str, findings: list[Finding]) -> Any:
    if not path or not Path(path).is_file():
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        findings.append(Finding("missing_report", key, f"English report unreadable ({exc.__class__.__name__})",
                                path=path))
        return None
