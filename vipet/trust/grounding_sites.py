"""Where a named site can be, relative to the landmarks the build found (lung apex and base, diaphragm
dome, bladder) and to the body midline: a coarse atlas that makes "hạch nách" and "hạch trung thất"
two different places, not just "the chest".

The build has region slice ranges and landmarks, no organ masks, so a site is a band: a slice range
from landmarks (with margins in mm, since one slice is 3-13 mm) and a lateral range of the offset
from the body midline. The bands are anatomy, not fitted values: the lungs and hila lie off the
midline (the mediastinum between them is 40-100 mm wide), the mediastinum between the lungs'
levels, the axillae far lateral below the apex, the supraclavicular fossae at the apex, the liver
below the dome on the right (its left lobe crosses the midline), the groins at and below the bladder.
A site the table does not name is looked for in its whole image region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SiteBand:
    """Slices between two landmarks (+ mm margins) and a lateral offset range (mm, + = patient's left)."""

    top: str  # landmark name ("lung_apex", "lung_base", "diaphragm_dome", "bladder")
    top_mm: float
    bottom: str | None
    bottom_mm: float
    min_abs_offset: float = 0.0
    max_abs_offset: float = float("inf")
    max_left_offset: float = float("inf")  # the liver: not far to the patient's left

    def holds(self, z: int, offset_mm: float | None, landmarks: dict[str, Any], slice_mm: float) -> bool | None:
        """Whether a hot spot at slice `z` and `offset_mm` lies in the band; None when a landmark is missing."""
        top = landmarks.get(self.top)
        bottom = landmarks.get(self.bottom) if self.bottom else None
        if top is None or (self.bottom and bottom is None):
            return None
        if z < top + self.top_mm / slice_mm:
            return False
        if bottom is not None and z > bottom + self.bottom_mm / slice_mm:
            return False
        if offset_mm is None:
            return True
        return self.min_abs_offset <= abs(offset_mm) <= self.max_abs_offset and offset_mm <= self.max_left_offset


SITE_BANDS: dict[str, SiteBand] = {
    "phổi": SiteBand("lung_apex", -15.0, "lung_base", 15.0, min_abs_offset=20.0),
    "màng phổi": SiteBand("lung_apex", -15.0, "lung_base", 15.0, min_abs_offset=20.0),
    "rốn phổi": SiteBand("lung_apex", 0.0, "lung_base", 0.0, min_abs_offset=15.0, max_abs_offset=90.0),
    "trung thất": SiteBand("lung_apex", -30.0, "lung_base", 0.0, max_abs_offset=55.0),
    "thực quản": SiteBand("lung_apex", -60.0, "lung_base", 30.0, max_abs_offset=45.0),
    "nách": SiteBand("lung_apex", -40.0, "lung_apex", 160.0, min_abs_offset=45.0),
    "thượng đòn": SiteBand("lung_apex", -70.0, "lung_apex", 40.0, min_abs_offset=15.0),
    "gan": SiteBand("diaphragm_dome", -40.0, "diaphragm_dome", 220.0, max_left_offset=70.0),
    "bẹn": SiteBand("bladder", -40.0, None, 0.0, min_abs_offset=30.0),
}


def in_site(groups: tuple[str, ...], z: int, offset_mm: float | None, landmarks: dict[str, Any], slice_mm: float) -> bool:
    """Whether a hot spot can be the stated site: inside the band of any named group that has one (a
    group without a band, or a band whose landmark the build did not find, does not restrict)."""
    results = [SITE_BANDS[g].holds(z, offset_mm, landmarks, slice_mm) for g in groups if g in SITE_BANDS]
    known = [r for r in results if r is not None]
    return any(known) if known else True


def landmarks_of(meta: dict[str, Any]) -> dict[str, Any]:
    """The slice landmarks a build recorded (head-first grid), numbers only."""
    found = ((meta.get("regions") or {}).get("landmarks") or {})
    return {k: v for k, v in found.items() if isinstance(v, (int, float, np.integer)) and not isinstance(v, bool)}
