"""Checks every reader runs on the volumes it hands back: values, size, roles and geometry.

A NaN voxel, a 1x1x1 "study", a CT and a PET given the other's file, or a PET 5 m away from its
CT all read without error and then become a training sample: an all-air crop, a cache full of
inf, a model taught on nonsense. Each check returns a problem sentence (or None) and the readers
refuse the study with a one-line `ReadError` naming the file, so one bad study is reported and
skipped, never built.

Documented thresholds:
- voxels must be finite (no NaN or infinity anywhere);
- each axis at least `plausibility.MIN_SHAPE` voxels;
- a "CT" with no value below `CT_AIR_HU` (no air at all) paired with a "PET" that has values below
  `PET_FLOOR` (a PET is never that negative; a CT always is, in the air around the patient) is a
  swapped pair;
- with patient geometry (affines), the PET and CT bounding boxes must overlap along every patient
  axis over at least `MIN_OVERLAP` of the smaller volume's extent on that axis;
- without geometry (ViMed-PET, where PET and CT are taken to span the same field), the two
  volumes' head-feet extents (slices x slice spacing) may differ by at most `DEPTH_TOLERANCE` of the
  longer one; beyond that, fitting one onto the other would stretch the body.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vipet.errors import ReadError
from vipet.io.plausibility import shape_problem

CT_AIR_HU = -500.0
PET_FLOOR = -100.0
MIN_OVERLAP = 0.5
DEPTH_TOLERANCE = 0.10
_AXES = ("right-left", "anterior-posterior", "head-feet")  # LPS x, y, z


def finite_problem(values: np.ndarray) -> str | None:
    """How many voxels are NaN or infinite, or None when all are finite (integers always are)."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        return None
    finite = np.isfinite(values)
    if finite.all():
        return None
    nan = int(np.isnan(values).sum())
    return f"{nan} NaN and {int(finite.size - finite.sum()) - nan} infinite voxels; volumes must be finite"


def swap_problem(ct_values: np.ndarray, pet_values: np.ndarray) -> str | None:
    """Why the CT and PET look swapped (CT without air, PET with CT-like negative values), else None."""
    ct_values, pet_values = np.asarray(ct_values), np.asarray(pet_values)
    if not ct_values.size or not pet_values.size:
        return None
    ct_min, pet_min = float(ct_values.min()), float(pet_values.min())
    if ct_min >= CT_AIR_HU and pet_min < PET_FLOOR:
        return (f"CT and PET look swapped: the CT has no value below {CT_AIR_HU:g} HU (minimum {ct_min:g}) "
                f"and the PET has values down to {pet_min:g} (below {PET_FLOOR:g}), as a CT has")
    return None


def bounds_lps(shape: tuple[int, ...], affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest LPS corner (mm) of the box the voxels cover (voxel edges, not centres)."""
    edges = [(-0.5, n - 0.5) for n in shape[:3]]
    corners = np.array([[a, b, c, 1.0] for a in edges[0] for b in edges[1] for c in edges[2]])
    points = (np.asarray(affine, dtype=np.float64) @ corners.T)[:3]
    return points.min(axis=1), points.max(axis=1)


def overlap_fractions(ct_shape: tuple[int, ...], ct_affine: np.ndarray, pet_shape: tuple[int, ...],
                      pet_affine: np.ndarray) -> tuple[float, float, float]:
    """Per LPS axis (x, y, z): overlap of the two boxes over the smaller box's extent, in 0..1."""
    ct_low, ct_high = bounds_lps(ct_shape, ct_affine)
    pet_low, pet_high = bounds_lps(pet_shape, pet_affine)
    overlap = np.clip(np.minimum(ct_high, pet_high) - np.maximum(ct_low, pet_low), 0.0, None)
    smaller = np.minimum(ct_high - ct_low, pet_high - pet_low)
    return tuple(float(o / s) if s > 0 else 0.0 for o, s in zip(overlap, smaller))  # type: ignore[return-value]


def overlap_problem(ct_shape: tuple[int, ...], ct_affine: np.ndarray, pet_shape: tuple[int, ...],
                    pet_affine: np.ndarray) -> str | None:
    """Why PET and CT do not image the same body (too little overlap in patient space), else None."""
    fractions = overlap_fractions(ct_shape, ct_affine, pet_shape, pet_affine)
    worst = int(np.argmin(fractions))
    if fractions[worst] >= MIN_OVERLAP:
        return None
    return (f"PET and CT overlap over only {fractions[worst]:.0%} of the smaller volume along the "
            f"{_AXES[worst]} axis (at least {MIN_OVERLAP:.0%} needed): they do not image the same body")


def depth_problem(ct_slices: int, pet_slices: int, ct_slice_mm: float | None = None,
                  pet_slice_mm: float | None = None) -> str | None:
    """Why a PET and a CT without geometry cannot be fitted onto each other without stretching, else None.

    With both slice spacings recorded the head-feet extents are compared; when either is unknown
    (assumed), one slice thickness is taken for both and the slice counts are compared.
    """
    known = ct_slice_mm is not None and pet_slice_mm is not None
    ct_len = ct_slices * float(ct_slice_mm) if known else float(ct_slices)  # type: ignore[arg-type]
    pet_len = pet_slices * float(pet_slice_mm) if known else float(pet_slices)  # type: ignore[arg-type]
    longer = max(ct_len, pet_len)
    if longer <= 0 or abs(ct_len - pet_len) / longer <= DEPTH_TOLERANCE:
        return None
    if known:
        what = (f"PET covers {pet_len:g} mm ({pet_slices} slices x {pet_slice_mm:g} mm) but the CT covers "
                f"{ct_len:g} mm ({ct_slices} slices x {ct_slice_mm:g} mm)")
    else:
        what = f"PET has {pet_slices} slices but the CT has {ct_slices} (one slice thickness assumed for both)"
    return (f"{what}, more than {DEPTH_TOLERANCE:.0%} apart: with no geometry to align them, fitting one onto "
            f"the other would stretch the body; refused")


def check_pair(ct_values: np.ndarray, pet_values: np.ndarray, ct_path: str | Path, pet_path: str | Path,
               ct_affine: np.ndarray | None = None, pet_affine: np.ndarray | None = None) -> None:
    """Refuse (one-line `ReadError` naming the file) a pair with non-finite voxels, a degenerate
    size, swapped roles, or, when both have affines, too little overlap in patient space."""
    for values, path in ((ct_values, ct_path), (pet_values, pet_path)):
        for problem in (finite_problem(values), shape_problem(np.shape(values))):
            if problem:
                raise ReadError(problem, path)
    if problem := swap_problem(ct_values, pet_values):
        raise ReadError(f"{problem} (CT file {ct_path})", pet_path)
    if ct_affine is not None and pet_affine is not None:
        if problem := overlap_problem(np.shape(ct_values), ct_affine, np.shape(pet_values), pet_affine):
            raise ReadError(f"{problem} (CT file {ct_path})", pet_path)
