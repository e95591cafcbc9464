"""Header-only doctor checks: what metadata.csv (or the folder names) says, without opening a volume.

Runs over the real 2,757-row table in about a second: it reuses the table reader
(`vipet.io.vimed_layout.read_metadata`: unreadable rows, two rows over one image, two rows with one
id and date, implausible height/weight), the build's person-level split and leak audit
(`vipet.data.splits.make_splits`, temporal mode), and adds the missing-field and BMI checks below.
With `check_files` the files the table names must exist too (`vipet.io.discover`).

BMI range: 10-70 kg/m^2. Weight and height are each plausible alone (2-350 kg, 0.4-2.5 m) yet
together can be impossible: 11 kg at 1.59 m is a BMI of 4.4, a typing error in one of them. Below 10
or above 70 is flagged (the extremes seen in adult and paediatric oncology stay inside).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vipet.data.splits import SplitStudy, make_splits
from vipet.doctor.findings import Finding
from vipet.io import discover
from vipet.io.ref import StudyRef
from vipet.io.vimed_layout import METADATA_NAME, read_metadata

BMI_RANGE = (10.0, 70.0)
# discovery problem kind -> doctor finding kind
_PROBLEM_KINDS = {
    "bad_row": "bad_row",
    "duplicate_images": "duplicate_images",
    "duplicate_key": "duplicate_person_date",
    "implausible_metadata": "implausible_metadata",
    "missing_volume": "missing_volume",
    "corrupt_volume": "unreadable_study",
    "unreadable_study": "unreadable_study",
    "missing_report": "missing_report",
    "missing_report_en": "missing_report",
}


def header_findings(root: str | Path, *, year: int | None = None,
                    check_files: bool = True) -> tuple[list[StudyRef], list[Finding]]:
    """The studies of `root` (refs) and every header-level finding (see the module docstring)."""
    root = Path(root)
    has_table = (root / METADATA_NAME).is_file()
    if has_table and not check_files:
        items, problems = read_metadata(root)
        refs = [item for item in items if isinstance(item, StudyRef)]
        problems = problems + [{"path": item.path, "reason": item.reason, "kind": getattr(item, "kind", "bad_row")}
                               for item in items if not isinstance(item, StudyRef)]
    else:
        refs, problems = discover(root, year=year)
    findings = [finding_from_problem(problem) for problem in problems]
    if has_table:
        findings.extend(missing_field_findings(refs))
    findings.extend(bmi_findings(refs))
    findings.extend(leakage_findings(refs))
    return refs, findings


def finding_from_problem(problem: dict[str, Any]) -> Finding:
    kind = _PROBLEM_KINDS.get(problem.get("kind", "bad_row"), "bad_row")
    related: tuple[str, ...] = ()
    key = str(problem.get("key") or "")
    if kind == "duplicate_person_date" and key.rsplit("_", 1)[-1].isdigit():
        related = (key.rsplit("_", 1)[0],)
    return Finding(kind, key, str(problem.get("reason", "")), path=str(problem.get("path") or ""), related=related)


def missing_field_findings(refs: list[StudyRef]) -> list[Finding]:
    """A row with an empty sex, height, weight or report (a dropped implausible value is reported as
    implausible, not again as missing; an English report is optional, but one the row names and
    that is absent is a `missing_report`)."""
    findings = []
    for ref in refs:
        dropped = " ".join(ref.meta.get("notes", ()))
        missing = [name for name, field_name in (("sex", "sex"), ("height", "height_m"), ("weight", "weight_kg"))
                   if ref.meta.get(field_name) is None and f"patient {name}" not in dropped]
        missing += ["report_path"] if "report" not in ref.paths else []  # English reports are optional
        if missing:
            findings.append(Finding("missing_field", ref.key, f"empty {', '.join(missing)}", path=ref.source(),
                                    detail={"fields": missing, "line": ref.meta.get("line")}))
    return findings


def bmi_findings(refs: list[StudyRef]) -> list[Finding]:
    """Weight and height that are each plausible but give an impossible BMI (`BMI_RANGE`)."""
    low, high = BMI_RANGE
    findings = []
    for ref in refs:
        height, weight = ref.meta.get("height_m"), ref.meta.get("weight_kg")
        if not height or not weight:
            continue
        bmi = float(weight) / float(height) ** 2
        if not low <= bmi <= high:
            findings.append(Finding("implausible_metadata", ref.key,
                                    f"BMI {bmi:.1f} kg/m^2 from height {height:g} m and weight {weight:g} kg is outside "
                                    f"{low:g}-{high:g}: one of them is likely mistyped", path=ref.source(),
                                    detail={"bmi": round(bmi, 2), "line": ref.meta.get("line")}))
    return findings


def split_studies(refs: list[StudyRef]) -> list[SplitStudy]:
    return [SplitStudy(key=ref.key, patient_id=str(ref.meta.get("id") or ""), sex=ref.meta.get("sex"),
                       height_m=ref.meta.get("height_m"), weight_kg=ref.meta.get("weight_kg"),
                       year=ref.meta.get("year"), month=ref.meta.get("month"), day=ref.meta.get("day"))
            for ref in refs]


def leakage_findings(refs: list[StudyRef]) -> list[Finding]:
    """Persons (the build's identity rule) whose visits the temporal split puts in several splits."""
    if not refs:
        return []
    result = make_splits(split_studies(refs), "temporal")
    findings = []
    for kind, leaks in (("split_leakage", result.leaks_found), ("split_leakage_unfixed", result.leaks_after)):
        for leak in leaks:
            keys = sorted(leak["studies"])
            where = ", ".join(f"{key} ({split})" for key, split in sorted(leak["studies"].items()))
            findings.append(Finding(kind, keys[0], f"person {leak['person']} has visits in several splits: {where}",
                                    related=tuple(keys[1:]), detail={"person": leak["person"],
                                                                      "studies": leak["studies"]}))
    return findings
