"""Paired axial CT/PET slices: the 2-D view of the cohort (about 570 pairs per study).

Slices are read from the cached whole-body arrays, which already share one grid, so slice z of
the CT and slice z of the PET show the same anatomy. `iter_slice_pairs` serves them from the
memory map without writing anything; `export_slices` writes them as files for 2-D tools:
"npy" keeps physical units (one (2, H, W) array per slice: PET, CT HU; float16, or float32 when the
PET's unit needs it), "png" writes 8-bit
images (CT soft-tissue window; PET SUV 0..suv_max, or the study's 99.9th percentile when PET is
not in SUV), the form most 2-D vision-language pipelines expect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vipet.data.cache import META_FILE, open_array, read_meta
from vipet.imaging.windows import HUWindow


def export_slices(ct_hu: np.ndarray, pet: np.ndarray, folder: Path, fmt: str,
                  suv_max: float | None = 10.0, window: str = "soft_tissue", dtype: str = "float16") -> dict[str, Any]:
    """Write every slice pair under `folder`; returns the description recorded in the sidecar.

    `dtype` is the storage dtype of the "npy" pairs: the PET's cache dtype (`cache.pet_storage`), so
    Bq/mL or counts, which overflow float16, are written in float32.
    """
    if ct_hu.shape != pet.shape:
        raise ValueError(f"CT {ct_hu.shape} and PET {pet.shape} must share one grid")
    if dtype not in ("float16", "float32"):
        raise ValueError(f"slice dtype must be float16 or float32, got {dtype!r}")
    folder.mkdir(parents=True, exist_ok=True)
    depth = ct_hu.shape[0]
    if fmt == "npy":
        for z in range(depth):
            pair = np.stack([np.asarray(pet[z], np.float32), np.asarray(ct_hu[z], np.float32)]).astype(dtype)
            np.save(folder / f"{z:04d}.npy", pair, allow_pickle=False)
        return {"folder": folder.name, "format": "npy", "count": depth, "pattern": "{z:04d}.npy",
                "channels": ["pet", "ct_hu"], "dtype": dtype}
    if fmt != "png":
        raise ValueError(f"unknown slice format {fmt!r} (npy, png)")
    from PIL import Image

    ct_window = HUWindow.named(window)
    pet_top = float(suv_max) if suv_max else _percentile_top(pet)
    for z in range(depth):
        ct8 = np.rint(ct_window(ct_hu[z]) * 255).astype(np.uint8)
        pet8 = np.rint(np.clip(np.asarray(pet[z], np.float32) / pet_top, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(ct8).save(folder / f"{z:04d}_ct.png", optimize=False)
        Image.fromarray(pet8).save(folder / f"{z:04d}_pet.png", optimize=False)
    return {"folder": folder.name, "format": "png", "count": depth, "pattern": "{z:04d}_{ct,pet}.png",
            "ct_window": window, "pet_range": [0.0, pet_top]}


def iter_slice_pairs(study_folder: str | Path, step: int = 1) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(z, CT HU slice, PET slice) from a cached study, memory-mapped (no copy until used)."""
    study_folder = Path(study_folder)
    if not (study_folder / META_FILE).is_file():
        raise FileNotFoundError(study_folder / META_FILE)
    meta = read_meta(study_folder)
    ct = open_array(study_folder / meta["arrays"]["ct"]["file"])
    pet = open_array(study_folder / meta["arrays"]["pet"]["file"])
    for z in range(0, ct.shape[0], step):
        yield z, ct[z], pet[z]


def _percentile_top(pet: np.ndarray) -> float:
    values = np.asarray(pet[::2, ::4, ::4], np.float32)
    values = values[values > 0]
    return float(np.percentile(values, 99.9)) if values.size else 1.0
