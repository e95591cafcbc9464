"""A hand-made whole-body PET/CT phantom for imaging tests: anatomy placed at known slices.

Independent of `vipet.synth` on purpose: these tests pin the transforms against positions written
here by hand (brain, lungs, bladder, one hot lesion), so a change in the synthetic cohort cannot
hide a transform bug.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vipet.study import HU, SUV_BW, Patient, Study, Volume

CT_SPACING = (10.0, 8.0, 8.0)  # (z, y, x) mm: 96 slices x 64 x 64 = 960 x 512 x 512 mm
PET_SPACING = (10.0, 16.0, 16.0)
DEPTH, CT_SIZE, PET_SIZE = 96, 64, 32


@dataclass
class PhantomTruth:
    """Head-first slice positions of the organs the tests look for."""

    brain: tuple[int, int] = (3, 16)
    lungs: tuple[int, int] = (28, 48)
    bladder: tuple[int, int] = (74, 80)
    lesion_mm: tuple[float, float, float] = (385.0, 252.0, 180.0)  # (z, y, x) from the grid's corner
    lesion_radius_mm: float = 20.0
    lesion_suv: float = 9.0


def _ellipse(ny: int, nx: int, spacing: float, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    y = (np.arange(ny) + 0.5) * spacing
    x = (np.arange(nx) + 0.5) * spacing
    return ((y[:, None] - cy) / ry) ** 2 + ((x[None, :] - cx) / rx) ** 2 <= 1.0


def _fill(shape_zyx: tuple[int, int, int], spacing: tuple[float, float, float], ct: bool, truth: PhantomTruth,
          seed: int) -> np.ndarray:
    depth, ny, nx = shape_zyx
    dz, dy, dx = spacing
    air, soft = (-1000.0, 40.0) if ct else (0.0, 1.0)
    vol = np.full(shape_zyx, air, dtype=np.float32)
    cy = cx = ny * dy / 2.0
    for z in range(depth):
        zc = (z + 0.5) * dz
        if zc < 30:
            continue
        if zc < 200:  # head
            vol[z][_ellipse(ny, nx, dy, cy, cx, 85, 75)] = soft
            if ct:
                skull = _ellipse(ny, nx, dy, cy, cx, 85, 75) & ~_ellipse(ny, nx, dy, cy, cx, 70, 60)
                vol[z][skull] = 900.0
            if truth.brain[0] * 10 <= zc < truth.brain[1] * 10:
                inner = _ellipse(ny, nx, dy, cy, cx, 65, 55)
                vol[z][inner] = 40.0 if ct else 9.0
        elif zc < 260:  # neck
            vol[z][_ellipse(ny, nx, dy, cy, cx, 55, 55)] = soft
        elif zc < 820:  # torso
            vol[z][_ellipse(ny, nx, dy, cy, cx, 110, 170)] = soft
            if truth.lungs[0] * 10 <= zc < truth.lungs[1] * 10:
                # lung cross-section grows toward the base, then the dome cuts it in the last slices
                grow = 0.55 + 0.45 * (zc - truth.lungs[0] * 10) / ((truth.lungs[1] - truth.lungs[0]) * 10)
                for side in (-1, 1):
                    lung = _ellipse(ny, nx, dy, cy - 5, cx + side * 75, 75 * grow, 55 * grow)
                    vol[z][lung] = -850.0 if ct else 0.5
            if truth.bladder[0] * 10 <= zc < truth.bladder[1] * 10:
                vol[z][_ellipse(ny, nx, dy, cy + 20, cx, 35, 35)] = 10.0 if ct else 25.0
        else:  # thighs
            for side in (-1, 1):
                vol[z][_ellipse(ny, nx, dy, cy, cx + side * 90, 70, 70)] = soft
    zz = (np.arange(depth) + 0.5)[:, None, None] * dz
    yy = (np.arange(ny) + 0.5)[None, :, None] * dy
    xx = (np.arange(nx) + 0.5)[None, None, :] * dx
    lz, ly, lx = truth.lesion_mm
    sphere = (zz - lz) ** 2 + (yy - ly) ** 2 + (xx - lx) ** 2 <= truth.lesion_radius_mm**2
    vol[sphere] = 30.0 if ct else truth.lesion_suv
    rng = np.random.default_rng(seed)
    vol += rng.normal(0.0, 10.0 if ct else 0.05, size=vol.shape).astype(np.float32)
    if not ct:
        np.clip(vol, 0.0, None, out=vol)
    return vol


def make_phantom(head_first: bool | None = True, detected_unknown: bool = False, seed: int = 0,
                 key: str = "2018_10_03_patient_1") -> tuple[Study, PhantomTruth]:
    """A study with CT (HU int16) and PET (SUV float32); stored feet-first when head_first is False.

    `detected_unknown` sets `Study.head_first` to None so the orientation must be detected.
    """
    truth = PhantomTruth()
    ct = np.rint(_fill((DEPTH, CT_SIZE, CT_SIZE), CT_SPACING, True, truth, seed)).astype(np.int16)
    pet = _fill((DEPTH, PET_SIZE, PET_SIZE), PET_SPACING, False, truth, seed + 1)
    stored_head_first = head_first is not False
    if not stored_head_first:
        ct, pet = ct[::-1].copy(), pet[::-1].copy()
    study = Study(
        key=key,
        ct=Volume(ct, CT_SPACING, HU),
        pet=Volume(pet, PET_SPACING, SUV_BW),
        patient=Patient(id="patient_1", sex="M", height_m=1.7, weight_kg=65.0),
        head_first=None if detected_unknown else stored_head_first,
        source="phantom",
    )
    return study, truth
