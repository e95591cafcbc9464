"""Split a head-first whole-body study into head_neck / chest / abdomen_pelvis slice ranges.

Boundaries come from the lung fields (landmarks.py): head_neck ends at the lung apex, the chest
runs from the apex to the lowest lung slice, abdomen_pelvis starts at the diaphragm domes (the
liver dome rises into the lower chest, so chest and abdomen overlap more than the margin alone).
Every boundary is widened by `margin_mm` on both sides (about 10-20 slices at 2-4 mm), as in the
paper, so a lesion at a border is seen by both regions. Without lung fields (no CT, a partial
scan) fixed fractions of the scan length are used and a warning says so. The report side of the
split (which sentences each region is trained on) is `vipet.reports.regions`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vipet.imaging.landmarks import find_bladder, find_lungs
FALLBACK_FRACTIONS = (0.18, 0.42)  # head_neck | chest and chest | abdomen_pelvis, of the scan length


@dataclass
class RegionBounds:
    """[start, stop) slice range per region (head-first indexing) and how it was found."""

    bounds: dict[str, tuple[int, int]]
    method: str  # "landmarks" or "fractions"
    margin_slices: int
    landmarks: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "bounds": {k: [int(a), int(b)] for k, (a, b) in self.bounds.items()},
            "method": self.method,
            "margin_slices": int(self.margin_slices),
            "landmarks": self.landmarks,
            "warnings": list(self.warnings),
        }

    def region_of_slice(self, z: int) -> list[str]:
        return [name for name, (a, b) in self.bounds.items() if a <= z < b]


@dataclass(frozen=True)
class RegionSplit:
    """Find region slice ranges on a head-first grid with z spacing `spacing_z` mm."""

    margin_mm: float = 40.0
    min_margin_slices: int = 1
    fallback_fractions: tuple[float, float] = FALLBACK_FRACTIONS

    def margin_slices(self, spacing_z: float, depth: int) -> int:
        return int(max(self.min_margin_slices, min(round(self.margin_mm / float(spacing_z)), depth // 4)))

    def __call__(self, ct_hu: np.ndarray | None, pet: np.ndarray | None, spacing_z: float,
                 lung: tuple[np.ndarray, np.ndarray] | None = None) -> RegionBounds:
        """`lung` is the head-first CT's `lung_profile` when already computed."""
        depth = int((ct_hu if ct_hu is not None else pet).shape[0])  # type: ignore[union-attr]
        margin = self.margin_slices(spacing_z, depth)
        lungs = find_lungs(ct_hu, lung) if (ct_hu is not None or lung is not None) else None
        if lungs is not None and lungs.base - lungs.apex >= 3:
            landmarks: dict[str, Any] = {
                "lung_apex": lungs.apex, "lung_peak": lungs.peak, "diaphragm_dome": lungs.dome,
                "lung_base": lungs.base, "lung_peak_area_fraction": lungs.peak_area_fraction,
            }
            if pet is not None:
                landmarks["bladder"] = find_bladder(pet, start=lungs.base)
            bounds = {
                "head_neck": (0, lungs.apex + margin),
                "chest": (lungs.apex - margin, lungs.base + 1 + margin),
                "abdomen_pelvis": (lungs.dome - margin, depth),
            }
            notes = []
            if lungs.apex == 0 or lungs.base >= depth - 1:
                notes.append("lung fields touch the end of the scan: a partial field of view")
            return RegionBounds(_clip(bounds, depth), "landmarks", margin, landmarks, notes)
        reason = "no CT" if ct_hu is None else "no lung fields found on CT"
        message = f"region split fell back to fractions {self.fallback_fractions} of the scan ({reason})"
        warnings.warn(message, stacklevel=2)
        first, second = (int(round(f * depth)) for f in self.fallback_fractions)
        bounds = {
            "head_neck": (0, first + margin),
            "chest": (first - margin, second + margin),
            "abdomen_pelvis": (second - margin, depth),
        }
        return RegionBounds(_clip(bounds, depth), "fractions", margin, {}, [message])


def _clip(bounds: dict[str, tuple[int, int]], depth: int) -> dict[str, tuple[int, int]]:
    out = {}
    for name, (start, stop) in bounds.items():
        start, stop = max(0, int(start)), min(depth, int(stop))
        if stop <= start:  # degenerate: keep at least one slice where the boundary is
            start, stop = min(start, depth - 1), min(start, depth - 1) + 1
        out[name] = (start, stop)
    return out
