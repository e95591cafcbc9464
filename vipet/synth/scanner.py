"""Image formation: grid sizes, CT numbers with noise, PET uptake with scanner blur and noise.

Two presets. `full` has the real cohort's proportions (CT 512 x 512, PET 256 x 256, ~300 slices of
3.3 mm, 6.5 mm PET resolution). `small` keeps the same field of view at a quarter of the sampling
in every direction (CT 128 x 128, PET 64 x 64, ~80 slices) so a 2-core laptop makes a hundred
studies in seconds; its PET blur is 1.6 PET voxels, since at 7.8 mm voxels the voxel itself
already dominates the resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from vipet.errors import SynthError
from vipet.synth.anatomy import FOV_MM, Body, Physiology
from vipet.synth.lesions import Finding
from vipet.synth.planting import TRUNCATE, PlantedMask, measure_suvmax, plant_ct, plant_pet
from vipet.synth.shapes import Grid, gaussian_sigma_vox

HU_MIN, HU_MAX = -1024.0, 3071.0


@dataclass(frozen=True)
class SizePreset:
    """Sampling and noise of one cohort size."""

    name: str
    ct_xy: int
    pet_xy: int
    slice_mm: float
    pet_fwhm_mm: float
    ct_noise_hu: float
    pet_noise_var: float  # noise variance per unit of SUV (Poisson-like: variance grows with the mean)
    ct_smooth_vox: float  # in-plane blur of CT edges, for the coarse grid only


SIZES: dict[str, SizePreset] = {
    "full": SizePreset("full", 512, 256, 3.3, 6.5, 12.0, 0.02, 0.0),
    "small": SizePreset("small", 128, 64, 13.2, 12.5, 5.0, 0.006, 0.5),
}


def preset(size: str) -> SizePreset:
    try:
        return SIZES[size]
    except KeyError:
        raise SynthError(f"unknown size {size!r}; expected one of {sorted(SIZES)}") from None


def grids(body: Body, size: SizePreset) -> tuple[Grid, Grid]:
    """CT and PET grids over the same field of view and the same slices (as in ViMed-PET)."""
    n_slices = int(np.ceil(body.fov_depth_mm() / size.slice_mm))
    ct = Grid((n_slices, size.ct_xy, size.ct_xy), (size.slice_mm, FOV_MM / size.ct_xy, FOV_MM / size.ct_xy))
    pet = Grid((n_slices, size.pet_xy, size.pet_xy), (size.slice_mm, FOV_MM / size.pet_xy, FOV_MM / size.pet_xy))
    return ct, pet


def make_ct(labels: np.ndarray, phys: Physiology, grid: Grid, findings: list[Finding], size: SizePreset,
            rng: np.random.Generator) -> np.ndarray:
    """int16 HU volume: tissue table, planted findings, optional edge blur, Gaussian noise in the body.

    At full size everything stays int16 (80 M voxels): the noise is drawn as indices into a table of
    65,536 rounded normal deviates, which costs a quarter of drawing float normals and rounding.
    """
    inside = labels > 0  # air around the patient stays at exactly -1000 HU, as scanners write it
    if size.ct_smooth_vox > 0:
        hu = phys.hu[labels]
        plant_ct(hu, labels, grid, findings)
        hu = ndimage.gaussian_filter(hu, (0.0, size.ct_smooth_vox, size.ct_smooth_vox), mode="nearest")
        hu += rng.standard_normal(hu.shape, dtype=np.float32) * np.float32(size.ct_noise_hu) * inside
        np.clip(hu, HU_MIN, HU_MAX, out=hu)
        return np.rint(hu).astype(np.int16)
    hu16 = np.rint(phys.hu).astype(np.int16)[labels]
    plant_ct(hu16, labels, grid, findings)
    table = np.rint(rng.standard_normal(65536) * size.ct_noise_hu).astype(np.int16)
    noise = table[rng.integers(0, 65536, hu16.shape, dtype=np.uint16)]
    noise *= inside
    hu16 += noise
    np.clip(hu16, int(HU_MIN), int(HU_MAX), out=hu16)
    return hu16


@dataclass
class PetResult:
    suv: np.ndarray  # float32 SUVbw, blurred and noisy
    masks: dict[int, list[PlantedMask]]  # per finding index: where its SUVmax is measured
    noiseless_max: dict[int, float | None]  # per finding: SUVmax before noise (diagnostics and tests)


def pet_sigma(grid: Grid, size: SizePreset) -> tuple[float, float, float]:
    return gaussian_sigma_vox(size.pet_fwhm_mm, grid.spacing)


def make_pet(labels: np.ndarray, phys: Physiology, grid: Grid, findings: list[Finding], size: SizePreset,
             rng: np.random.Generator) -> PetResult:
    """SUV volume: physiological uptake, planted findings, scanner blur, then Poisson-like noise
    (variance proportional to the local mean, spatially correlated as after reconstruction)."""
    activity = phys.suv[labels]
    sigma = pet_sigma(grid, size)
    masks = plant_pet(activity, labels, grid, findings, sigma)
    blurred = ndimage.gaussian_filter(activity, sigma, mode="constant", truncate=TRUNCATE)
    del activity
    noiseless = {i: measure_suvmax(blurred, m) for i, m in masks.items()}
    field = rng.standard_normal(blurred.shape, dtype=np.float32)
    field = ndimage.gaussian_filter(field, 0.6, mode="nearest", truncate=2.0)
    field /= np.float32(max(float(field.std()), 1e-6))
    np.maximum(blurred, 0.0, out=blurred)
    suv = blurred + np.sqrt(np.float32(size.pet_noise_var) * blurred) * field
    np.maximum(suv, 0.0, out=suv)
    return PetResult(suv=suv.astype(np.float32, copy=False), masks=masks, noiseless_max=noiseless)
