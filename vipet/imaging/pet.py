"""PET intensity normalisation to about [0, 1], honest about the unit it starts from.

SUV is the only unit comparable across patients, so SUV input is clipped to a fixed SUV range
(0..10 by default: lesions above 10 saturate, physiological brain uptake too). Prior ViMed-PET work
divided raw scanner units by 32767; that convention is kept as an explicit choice (`RawScale`),
never applied silently to SUV. Activity (BQML) or counts without SUV have no fixed scale at all, so
they are scaled by a high percentile of the volume and the build records that it did so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vipet.errors import ImagingError
from vipet.study import BQML, CNTS, SUV_BW, UNKNOWN_UNIT, VIMED_RAW

VIMED_RAW_MAX = 32767.0


@dataclass(frozen=True)
class SUVScale:
    """SUV clipped to [suv_min, suv_max] and mapped to [0, 1]."""

    suv_max: float = 10.0
    suv_min: float = 0.0

    def __call__(self, suv: np.ndarray) -> np.ndarray:
        if self.suv_max <= self.suv_min:
            raise ImagingError(f"suv_max ({self.suv_max}) must exceed suv_min ({self.suv_min})")
        scaled = (np.asarray(suv, dtype=np.float32) - np.float32(self.suv_min)) / np.float32(self.suv_max - self.suv_min)
        return np.clip(scaled, 0.0, 1.0, out=scaled)


@dataclass(frozen=True)
class RawScale:
    """Raw scanner units divided by a constant (the prior-work `/32767` convention), clipped to [0, 1]."""

    divisor: float = VIMED_RAW_MAX

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        scaled = np.asarray(raw, dtype=np.float32) / np.float32(self.divisor)
        return np.clip(scaled, 0.0, 1.0, out=scaled)


@dataclass(frozen=True)
class PercentileScale:
    """Divide by the given percentile of positive voxels: a per-study scale for unit-less PET."""

    percentile: float = 99.9
    reference: float | None = None  # filled by `fitted`, recorded in provenance

    def fitted(self, volume: np.ndarray) -> "PercentileScale":
        positive = np.asarray(volume)[::2, ::2, ::2]
        positive = positive[positive > 0]
        ref = float(np.percentile(positive, self.percentile)) if positive.size else 1.0
        return PercentileScale(self.percentile, ref if ref > 0 else 1.0)

    def __call__(self, volume: np.ndarray) -> np.ndarray:
        scale = self if self.reference is not None else self.fitted(volume)
        scaled = np.asarray(volume, dtype=np.float32) / np.float32(scale.reference)
        return np.clip(scaled, 0.0, 1.0, out=scaled)


def pet_normaliser(unit: str, mode: str = "auto", suv_max: float = 10.0):
    """The normaliser for a PET unit: `auto` = SUV clip for SUV, /32767 for ViMed raw, percentile else.

    `mode` forces one: "suv" (fails unless the unit is SUV), "raw" (/32767) or "percentile".
    """
    if mode == "auto":
        if unit == SUV_BW:
            return SUVScale(suv_max=suv_max)
        if unit == VIMED_RAW:
            return RawScale()
        if unit in (BQML, CNTS, UNKNOWN_UNIT):  # no fixed scale: per-study percentile, recorded
            return PercentileScale()
        raise ImagingError(f"unknown PET unit {unit!r}")
    if mode == "suv":
        if unit != SUV_BW:
            raise ImagingError(f"PET normalisation 'suv' needs PET in SUVbw, this study is in {unit}")
        return SUVScale(suv_max=suv_max)
    if mode == "raw":
        return RawScale()
    if mode == "percentile":
        return PercentileScale()
    raise ImagingError(f"unknown PET normalisation mode {mode!r} (auto, suv, raw, percentile)")
