"""CT Hounsfield windows: one window to [0, 1], or several windows stacked as channels.

Windows are (width, level) pairs as radiologists state them (DOMAIN.md); `wide` is the
-1000..1000 HU clip most 3-D encoders were trained with. Several windows as channels let a model
see lung parenchyma and bone at full contrast at once, which a single wide window flattens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vipet.errors import ImagingError

# name -> (width, level) in HU
WINDOWS: dict[str, tuple[float, float]] = {
    "wide": (2000.0, 0.0),
    "soft_tissue": (400.0, 40.0),
    "lung": (1500.0, -600.0),
    "bone": (2000.0, 500.0),
    "liver": (150.0, 30.0),
    "brain": (80.0, 40.0),
}


def window_bounds(width: float, level: float) -> tuple[float, float]:
    """(low, high) HU shown by a window."""
    if width <= 0:
        raise ImagingError(f"window width must be positive, got {width}")
    return level - width / 2.0, level + width / 2.0


def apply_window(ct_hu: np.ndarray, width: float, level: float) -> np.ndarray:
    """Linear map of [level - width/2, level + width/2] onto [0, 1], clipped, float32."""
    low, high = window_bounds(width, level)
    scaled = (np.asarray(ct_hu, dtype=np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


@dataclass(frozen=True)
class HUWindow:
    """One named or explicit window; `__call__` returns float32 in [0, 1], same shape."""

    width: float = 2000.0
    level: float = 0.0
    name: str = "wide"

    @classmethod
    def named(cls, name: str) -> "HUWindow":
        if name not in WINDOWS:
            raise ImagingError(f"unknown CT window {name!r}; known: {', '.join(WINDOWS)}")
        width, level = WINDOWS[name]
        return cls(width=width, level=level, name=name)

    def __call__(self, ct_hu: np.ndarray) -> np.ndarray:
        return apply_window(ct_hu, self.width, self.level)


@dataclass(frozen=True)
class MultiWindow:
    """Several windows stacked on a new leading axis: (C, *shape) float32."""

    names: tuple[str, ...] = ("wide",)

    def __post_init__(self) -> None:
        if not self.names:
            raise ImagingError("MultiWindow needs at least one window name")
        for name in self.names:
            HUWindow.named(name)

    @property
    def channels(self) -> int:
        return len(self.names)

    def __call__(self, ct_hu: np.ndarray) -> np.ndarray:
        return np.stack([HUWindow.named(name)(ct_hu) for name in self.names])
