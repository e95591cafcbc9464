"""The build recipe: every parameter that changes what lands in the cache, with its fingerprint.

A cached study records the fingerprint of the recipe that made it; a rerun with the same recipe
skips it (resume), a rerun with a different recipe rebuilds it, so a cache never silently mixes
two preprocessing versions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vipet import __version__
from vipet.errors import BuildError
from vipet.imaging.resize import KERNELS
from vipet.imaging.windows import WINDOWS
from vipet.schema import SAMPLE_REGIONS
from vipet.typed_config import from_mapping

# Bump when the processing code changes what it writes for the same recipe.
PIPELINE_VERSION = "build-1"
GRIDS = ("pet", "ct")
SLICE_FORMATS = ("none", "npy", "png")
PET_NORMS = ("auto", "suv", "raw", "percentile")


@dataclass(frozen=True)
class BuildConfig:
    """What a build makes of each study.

    target_shape: (D, H, W) of every model-ready volume (each region and the whole body); the default
    is the input size of every shipped model config (`encoder.input_size`), which refuses other sizes;
    whole_grid: grid of the cached whole-body CT/PET arrays ("pet": CT shrunk onto the PET grid,
    4x smaller than "ct": PET enlarged onto the 512x512 CT grid);
    ct_windows: CT channels after the PET channel (("wide",) gives the 2-channel [PET, CT] input);
    pet_norm / suv_max: PET channel scaling (see vipet.imaging.pet);
    margin_mm: overlap added on each side of a region boundary;
    body_crop: crop in-plane to the body before resizing;
    pet_dtype: the narrowest dtype allowed for the cached whole-body PET: "float16" stores SUVbw and
    ViMed raw units in float16 (within its range) and BQML, CNTS and UNKNOWN, which overflow it, in
    float32 (`cache.pet_storage`, recorded with its precision in the sidecar); "float32" always float32;
    slices: also write paired axial slices ("npy" stacks in the PET's cache dtype or "png" uint8 pairs);
    renders: write the coronal MIP and a fused slice PNG per study;
    resample_kernel: "area" (mean over each target voxel's footprint; the closest to a Lanczos or
    an exact-footprint resample in benchmarks/build_speed.py) or "triangle" (antialiased linear).
    """

    target_shape: tuple[int, int, int] = (32, 64, 64)
    whole_grid: str = "pet"
    ct_windows: tuple[str, ...] = ("wide",)
    pet_norm: str = "auto"
    suv_max: float = 10.0
    margin_mm: float = 40.0
    body_crop: bool = True
    pet_dtype: str = "float16"
    slices: str = "none"
    renders: bool = True
    resample_kernel: str = "area"

    def __post_init__(self) -> None:
        if len(self.target_shape) != 3 or min(self.target_shape) < 1:
            raise BuildError(f"target shape must be three positive sizes (D, H, W), got {self.target_shape}")
        if self.whole_grid not in GRIDS:
            raise BuildError(f"whole grid must be one of {GRIDS}, got {self.whole_grid!r}")
        if self.slices not in SLICE_FORMATS:
            raise BuildError(f"slices must be one of {SLICE_FORMATS}, got {self.slices!r}")
        if self.pet_norm not in PET_NORMS:
            raise BuildError(f"pet normalisation must be one of {PET_NORMS}, got {self.pet_norm!r}")
        if self.pet_dtype not in ("float16", "float32"):
            raise BuildError(f"pet dtype must be float16 or float32, got {self.pet_dtype!r}")
        if self.resample_kernel not in KERNELS:
            raise BuildError(f"resample kernel must be one of {KERNELS}, got {self.resample_kernel!r}")
        unknown = [w for w in self.ct_windows if w not in WINDOWS]
        if unknown or not self.ct_windows:
            raise BuildError(f"unknown CT windows {unknown or '(none)'}; known: {', '.join(WINDOWS)}")

    @property
    def channels(self) -> int:
        return 1 + len(self.ct_windows)

    @property
    def samples(self) -> tuple[str, ...]:
        return SAMPLE_REGIONS

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["target_shape"] = list(self.target_shape)
        out["ct_windows"] = list(self.ct_windows)
        return out

    @classmethod
    def from_mapping(cls, values: dict[str, Any], source: str | Path | None = None) -> "BuildConfig":
        """The recipe from `to_json`'s form (a sidecar, a YAML file); unknown keys and wrong types name `source`."""
        return from_mapping(cls, values, source, error=BuildError)

    def fingerprint(self) -> str:
        """Hash of the recipe and the code version; equal fingerprints mean interchangeable caches."""
        payload = json.dumps({"config": self.to_json(), "pipeline": PIPELINE_VERSION, "vipet": __version__},
                             sort_keys=True)
        return hashlib.sha1(payload.encode("utf-8")).hexdigest()[:16]
