"""Planting findings into CT (HU) and PET (uptake) with partial-volume compensation.

The truth of an avid lesion is the SUVmax a reader measures on the final, blurred image, not the
activity painted before blur: a 10 mm node painted at SUV 6 reads about 4 after a 6.5 mm
scanner blur. So each lesion's activity is solved for on its neighbourhood: with background B and
lesion occupancy O, the blurred image is G*(B(1-O)) + a G*O, linear in the lesion activity `a`,
and we choose `a` so that its maximum inside the lesion equals the planned SUVmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from vipet.synth.lesions import Finding, Member
from vipet.synth.shapes import Grid, bbox_slices, label_mask, occupancy, rotation_zyx

TRUNCATE = 3.0  # Gaussian kernel half-width in sigmas, shared by the local solve and the global blur
MAX_GAIN = 50.0  # cap on activity / target for lesions far below the resolution


@dataclass
class PlantedMask:
    """Where a member is measured on the PET grid: voxels at least half inside it (or its best voxel)."""

    box: tuple[slice, slice, slice]
    mask: np.ndarray


def _supersample(grid: Grid, semi) -> int:
    return 1 if min(s / sp for s, sp in zip(semi, grid.spacing)) > 6.0 else 3


def _member_occupancy(member: Member, grid: Grid, labels: np.ndarray):
    occ = occupancy(grid, member.center, member.semi, _supersample(grid, member.semi))
    if occ is None:
        return None
    box, frac = occ
    if member.restrict_to is not None:
        frac = frac * label_mask(labels[box], member.restrict_to)
    return box, frac


def _blend(volume: np.ndarray, box: tuple[slice, slice, slice], frac: np.ndarray, value: float) -> None:
    """volume[box] <- volume (1 - frac) + value frac, rounding back when the volume is integer."""
    mixed = volume[box].astype(np.float32) * (1.0 - frac) + np.float32(value) * frac
    volume[box] = np.rint(mixed) if np.issubdtype(volume.dtype, np.integer) else mixed


def plant_ct(hu: np.ndarray, labels: np.ndarray, grid: Grid, findings: list[Finding]) -> None:
    """Blend each finding's CT number into `hu` (in place, float or int16) by sub-voxel occupancy."""
    for finding in findings:
        for member in finding.members:
            occ = _member_occupancy(member, grid, labels)
            if occ is not None:
                _blend(hu, occ[0], occ[1], finding.hu)
            for center, semi, direction in member.spicules:
                spike = occupancy(grid, center, semi, 2, rotation=rotation_zyx(direction))
                if spike is None:
                    continue
                box, frac = spike
                frac = frac * 0.8 * (labels[box] == labels[grid.nearest_index(center)])
                _blend(hu, box, frac, finding.hu)


def measurement_mask(frac: np.ndarray) -> np.ndarray:
    mask = frac >= 0.5
    if not mask.any():
        mask = np.zeros_like(mask)
        mask[np.unravel_index(int(np.argmax(frac)), frac.shape)] = True
    return mask


def solve_activity(background: np.ndarray, frac: np.ndarray, mask: np.ndarray, sigma: tuple[float, float, float],
                   target: float) -> float:
    """Lesion activity `a` with max over `mask` of G*(B(1-O)) + a G*O equal to `target`.

    The maximum of affine functions is convex and increasing in `a`, so Newton steps on the
    currently maximal voxel converge in a few iterations.
    """
    base = ndimage.gaussian_filter(background * (1.0 - frac), sigma, mode="nearest", truncate=TRUNCATE)[mask]
    gain = ndimage.gaussian_filter(frac, sigma, mode="constant", truncate=TRUNCATE)[mask]
    if gain.max() <= 0:
        return target
    best = int(np.argmax(gain))
    activity = float(max(target - base[best], 0.0) / gain[best])
    for _ in range(20):
        values = base + activity * gain
        i = int(np.argmax(values))
        err = target - float(values[i])
        if abs(err) <= 1e-5 * target:
            break
        activity += err / float(gain[i])
    return float(np.clip(activity, 0.0, MAX_GAIN * target))


def plant_pet(activity: np.ndarray, labels: np.ndarray, grid: Grid, findings: list[Finding],
              sigma: tuple[float, float, float]) -> dict[int, list[PlantedMask]]:
    """Paint each finding into the pre-blur uptake map (in place); returns the measurement masks.

    Lesions are planted one after another on the map that already holds the earlier ones, so a
    node next to another node (or next to the heart) is solved against its true surroundings.
    """
    masks: dict[int, list[PlantedMask]] = {i: [] for i in range(len(findings))}
    margin = [TRUNCATE * s * sp for s, sp in zip(sigma, grid.spacing)]
    # Cold and non-avid solids first, then avid ones from the least to the most avid: a solid is
    # solved against everything already planted, and a hotter neighbour planted later can only
    # raise, never erase, the peak of a cooler one.
    order = sorted(((i, m) for i, f in enumerate(findings) for m in f.members),
                   key=lambda item: -1.0 if item[1].suv_target is None else item[1].suv_target)
    for index, member in order:
        occ = _member_occupancy(member, grid, labels)
        if occ is None:
            continue
        box, frac = occ
        mask = measurement_mask(frac)
        masks[index].append(PlantedMask(box, mask))
        if member.suv_target is None:
            value = member.tissue_suv
        else:
            reach = [(sl.stop - sl.start) * sp / 2.0 + m for sl, sp, m in zip(box, grid.spacing, margin)]
            center = [(sl.start + sl.stop) / 2.0 * sp for sl, sp in zip(box, grid.spacing)]
            big = bbox_slices(grid, center, reach)
            assert big is not None
            inner = tuple(slice(b.start - g.start, b.stop - g.start) for b, g in zip(box, big))
            frac_big = np.zeros([g.stop - g.start for g in big], dtype=np.float32)
            frac_big[inner] = frac
            mask_big = np.zeros(frac_big.shape, dtype=bool)
            mask_big[inner] = mask
            value = solve_activity(activity[big], frac_big, mask_big, sigma, member.suv_target)
        activity[box] = activity[box] * (1.0 - frac) + np.float32(value) * frac
    return masks


def measure_suvmax(suv: np.ndarray, masks: list[PlantedMask]) -> float | None:
    """Max SUV over all solids of a finding, as a reader drawing a region over it would read."""
    values = [float(suv[m.box][m.mask].max()) for m in masks if m.mask.any()]
    return max(values) if values else None
