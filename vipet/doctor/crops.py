"""Doctor checks of the official region crops (per-region PET `.npy` + LLaVA `data.json`).

A crop has no CT and no whole body, so only what applies to a lone PET region is checked: the
LLaVA file's problems (a missing image, an image without a report), unreadable or constant crops,
saturated PET, two crops of one region with identical voxels, and the region report (empty, or
not Vietnamese). Thresholds are those of `doctor.images`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np

from vipet.doctor.findings import Finding
from vipet.doctor.header import finding_from_problem
from vipet.doctor.images import SATURATED_SHARE
from vipet.errors import ReadError
from vipet.reports.consistency import text_language


def crop_findings(root: str | Path, *, header_only: bool = False) -> tuple[list[Finding], int]:
    """(findings, number of crops) of a region-crop root."""
    from vipet.io.npz import load_volume
    from vipet.io.vimed_packaging import read_region_crops

    crops, problems = read_region_crops(root)
    findings = [finding_from_problem(problem) for problem in problems]
    by_hash: dict[tuple[str, str], list[str]] = defaultdict(list)
    for crop in crops:
        if not crop.report.strip():
            findings.append(Finding("empty_section", crop.id, f"the {crop.region} report is empty", path=crop.path))
        elif text_language(crop.report) == "en":
            findings.append(Finding("wrong_language", crop.id, "the region report reads as English", path=crop.path))
        if header_only:
            continue
        try:
            pet = load_volume(crop.path)
        except ReadError as exc:
            findings.append(Finding("unreadable_study", crop.id, exc.reason, path=crop.path))
            continue
        low, high = float(pet.min()), float(pet.max())
        if low == high:
            findings.append(Finding("constant_volume", crop.id, f"PET crop holds one value everywhere ({low:g})",
                                    path=crop.path))
            continue
        nonzero = int(np.count_nonzero(pet))
        at_peak = int(np.count_nonzero(pet == high))
        if at_peak > 1 and nonzero and at_peak / nonzero > SATURATED_SHARE:
            findings.append(Finding("pet_saturated", crop.id, f"{at_peak} voxels ({at_peak / nonzero:.2%} of the "
                                    f"non-zero ones) at exactly the maximum {high:g}", path=crop.path))
        digest = hashlib.sha256(f"{pet.shape}{pet.dtype}".encode() + np.ascontiguousarray(pet).tobytes()).hexdigest()
        by_hash[(crop.region, digest)].append(crop.id)
    for (region, _), ids in by_hash.items():
        for other in sorted(ids)[1:]:
            findings.append(Finding("duplicate_study", other, f"identical {region} crop to {sorted(ids)[0]}",
                                    related=(sorted(ids)[0],), detail={"match": "identical"}))
    return findings, len(crops)
