"""Which doctor findings are errors (non-zero exit) and which are warnings: the one table.

An error is a defect that makes a study wrong to train or test on as it stands (a duplicate across
splits inflates scores, a constant or doubly rescaled volume is nonsense, a PET that is not this
CT's teaches a wrong pairing). A warning is something a person should look at but that the build
handles or that may be legitimate (the build moves leaking persons into one split; an empty
musculoskeletal section can be a normal report; a short scan can be a deliberate partial one).

| kind | severity | what it means |
|---|---|---|
| bad_row | error | a metadata row or file name that cannot be read as a study; it is skipped |
| duplicate_images | error | two metadata rows name the same CT or PET file: one study counted twice |
| missing_volume | error | a CT or PET file the table names (or its partner) does not exist |
| unreadable_study | error | a volume that the reader refuses (corrupt, non-finite, swapped, tiny, depths apart) |
| duplicate_person_date | warning | two rows with one patient id on one date (kept as {key} and {key}_2) |
| split_leakage | warning | one person's visits fall in several splits of the temporal split (the build moves them) |
| split_leakage_unfixed | error | a person still spans splits after the build's leak fix |
| missing_field | warning | a row without sex, height, weight or report |
| implausible_metadata | warning | a height, weight or BMI outside the plausibility ranges (a unit error) |
| missing_report | warning | a study without a readable Vietnamese report |
| duplicate_study | error | two studies with identical or near-identical volumes (downsampled-copy hash) |
| constant_volume | error | a CT or PET whose voxels all hold one value (all zero or constant) |
| same_array_twice | error | the PET is the CT (or a rescaled copy of it): one image given twice |
| pet_ct_mismatch | error | PET and CT body outlines or head-feet depths disagree: not one study |
| direction_disagreement | error | the PET and the CT say opposite ends are the head |
| ct_not_hu | error | CT values outside the HU range or without soft tissue near 0 HU (a second rescale?) |
| pet_saturated | error | many PET voxels at exactly the maximum, or SUV beyond the plausible range |
| truncated_study | warning | fewer slices than a whole body needs (head-feet extent under the minimum) |
| empty_section | warning | a report region section or the impression is empty |
| wrong_language | error | the Vietnamese report reads as English, or the English one as Vietnamese |
| en_vi_disagreement | warning | the English and Vietnamese reports state different SUVmax values, sizes or counts |

The table above is `policy_table()`; a test keeps the two equal.
"""

from __future__ import annotations

ERROR, WARNING = "error", "warning"

POLICY: dict[str, tuple[str, str]] = {
    # metadata.csv and discovery (header-only)
    "bad_row": (ERROR, "a metadata row or file name that cannot be read as a study; it is skipped"),
    "duplicate_images": (ERROR, "two metadata rows name the same CT or PET file: one study counted twice"),
    "missing_volume": (ERROR, "a CT or PET file the table names (or its partner) does not exist"),
    "unreadable_study": (ERROR, "a volume that the reader refuses (corrupt, non-finite, swapped, tiny, depths apart)"),
    "duplicate_person_date": (WARNING, "two rows with one patient id on one date (kept as {key} and {key}_2)"),
    "split_leakage": (WARNING, "one person's visits fall in several splits of the temporal split (the build moves them)"),
    "split_leakage_unfixed": (ERROR, "a person still spans splits after the build's leak fix"),
    "missing_field": (WARNING, "a row without sex, height, weight or report"),
    "implausible_metadata": (WARNING, "a height, weight or BMI outside the plausibility ranges (a unit error)"),
    "missing_report": (WARNING, "a study without a readable Vietnamese report"),
    # volumes
    "duplicate_study": (ERROR, "two studies with identical or near-identical volumes (downsampled-copy hash)"),
    "constant_volume": (ERROR, "a CT or PET whose voxels all hold one value (all zero or constant)"),
    "same_array_twice": (ERROR, "the PET is the CT (or a rescaled copy of it): one image given twice"),
    "pet_ct_mismatch": (ERROR, "PET and CT body outlines or head-feet depths disagree: not one study"),
    "direction_disagreement": (ERROR, "the PET and the CT say opposite ends are the head"),
    "ct_not_hu": (ERROR, "CT values outside the HU range or without soft tissue near 0 HU (a second rescale?)"),
    "pet_saturated": (ERROR, "many PET voxels at exactly the maximum, or SUV beyond the plausible range"),
    "truncated_study": (WARNING, "fewer slices than a whole body needs (head-feet extent under the minimum)"),
    # reports
    "empty_section": (WARNING, "a report region section or the impression is empty"),
    "wrong_language": (ERROR, "the Vietnamese report reads as English, or the English one as Vietnamese"),
    "en_vi_disagreement": (WARNING, "the English and Vietnamese reports state different SUVmax values, sizes or counts"),
}


def severity(kind: str) -> str:
    """The policy's severity of `kind` (an unknown kind is an error: a check must be listed here)."""
    return POLICY.get(kind, (ERROR, ""))[0]


def exit_code(findings) -> int:
    """1 when any finding is an error, else 0."""
    return 1 if any(severity(f.kind) == ERROR for f in findings) else 0


def policy_table() -> str:
    """The policy as a Markdown table (module docstring, `vipet doctor --help`)."""
    lines = ["| kind | severity | what it means |", "|---|---|---|"]
    lines += [f"| {kind} | {sev} | {what} |" for kind, (sev, what) in POLICY.items()]
    return "\n".join(lines)


def policy_lines() -> str:
    """The policy as plain lines for a terminal help text."""
    width = max(len(kind) for kind in POLICY)
    return "\n".join(f"{kind.ljust(width)}  {sev:<7}  {what}" for kind, (sev, what) in POLICY.items())
