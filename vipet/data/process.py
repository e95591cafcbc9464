"""One study -> one cache folder: orient, grid, regions, model-ready volumes, renders, sidecar.

The order is chosen for speed at full size (512x512 CT, ~300 slices): landmarks and the body
crop are found on the small whole-body grid (the PET grid by default), and every model-ready
volume is resampled straight from the native CT and PET arrays through one separable,
antialiased operator per axis that only reads the slab its box covers, instead of resizing
whole volumes and then cutting them. PET and CT are cut by the same box on the same grid, so the
two channels of every volume are aligned voxel for voxel (resample.py).

Nothing wrong is cached quietly: a volume with NaN or Inf voxels, values beyond float32 or a spacing
that is not finite and positive refuses the study (`BuildError`, reported per study by the build),
and the whole-body PET is stored in the dtype its unit needs (`cache.pet_storage`), recorded with
its precision in the sidecar's `storage`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from vipet.data.cache import FLOAT16_UNITS, FLOAT32_MAX, PRECISION, pet_storage, require_finite, save_array
from vipet.data.config import BuildConfig
from vipet.data.lesions import sample_lesions
from vipet.errors import BuildError
from vipet.imaging import render
from vipet.imaging.base import describe
from vipet.imaging.crop import BodyCrop
from vipet.imaging.landmarks import lung_profile
from vipet.imaging.orientation import OrientHeadFirst, resolve_orientation
from vipet.imaging.pet import PercentileScale, pet_normaliser
from vipet.imaging.regions import RegionSplit
from vipet.imaging.resample import Grid, index_map, resample_to_grid, same_field_of_view, sample_box
from vipet.imaging.resize import Box
from vipet.imaging.windows import MultiWindow
from vipet.io.ref import DICOM
from vipet.reports.regions import split_report
from vipet.schema import IMAGE_REGIONS, SAMPLE_REGIONS, WHOLE
from vipet.study import Study, Volume

CT_FILL_HU = -1000.0
PET_FILL = 0.0


def process_study(
    study: Study,
    config: BuildConfig,
    folder: Path,
    *,
    truth: dict[str, Any] | None = None,
    source_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write every array of `study` into `folder` and return the sidecar dict (also its manifest rows)."""
    timings: dict[str, float] = {}
    lap = _stopwatch()
    if study.ct is None or study.pet is None:
        missing = "CT" if study.ct is None else "PET"
        raise BuildError(f"study has no {missing} volume; the build needs both", study.source or study.key)
    if config.pet_norm == "suv":
        study.pet_suv()  # SUVUnavailableError naming the tag or fact that keeps this PET out of SUV
    where = study.source or study.key
    for name, volume in (("CT", study.ct), ("PET", study.pet)):
        _require_sane(volume, name, where)
    notes: list[str] = []

    # Whole-body arrays on the common grid (CT HU int16, PET in its unit), still in stored order:
    # orientation and landmarks are then found on these small arrays, once.
    ct_stored, pet_stored = study.ct, study.pet
    stored_grid = Grid.of(pet_stored if config.whole_grid == "pet" else ct_stored)
    factors = _block_factors(ct_stored, stored_grid)
    if factors:  # int16 CT over whole blocks of the grid (ViMed: 2x2 CT voxels per PET voxel)
        ct_on_grid, ct_rounded = _block_mean_int16(ct_stored.array, factors), True
    else:
        ct_on_grid = _on_grid(ct_stored, stored_grid, CT_FILL_HU)
        ct_rounded = ct_on_grid.dtype != np.int16
    if ct_on_grid.dtype != np.int16:  # e.g. float CT from NIfTI; never round the study's own array in place
        rounded = np.rint(ct_on_grid, out=None if ct_on_grid is ct_stored.array else ct_on_grid)
        clipped = int(np.count_nonzero((rounded < -32768) | (rounded > 32767)))
        if clipped:
            notes.append(f"CT: {clipped} voxels outside the int16 range -32768..32767 HU were clipped")
        ct_on_grid = np.clip(rounded, -32768, 32767, out=rounded).astype(np.int16)
    pet_on_grid = _on_grid(pet_stored, stored_grid, PET_FILL)
    timings["grid"] = lap()

    lung = lung_profile(ct_on_grid)
    orientation = resolve_orientation(study.head_first, pet_on_grid, ct_on_grid, lung)
    orient = OrientHeadFirst(orientation.head_first)
    ct_volume, pet_volume = orient(ct_stored), orient(pet_stored)
    ct_grid, pet_grid = Grid.of(ct_volume), Grid.of(pet_volume)
    grid = pet_grid if config.whole_grid == "pet" else ct_grid
    if not orientation.head_first:
        ct_on_grid, pet_on_grid = ct_on_grid[::-1], pet_on_grid[::-1]
        lung = (lung[0][::-1], lung[1][::-1])
    pet_store = pet_storage(pet_volume.unit, pet_on_grid, config.pet_dtype)
    if pet_store["dtype"] != config.pet_dtype and pet_volume.unit in FLOAT16_UNITS:
        notes.append(f"PET stored as {pet_store['dtype']}: {pet_store['reason']}")
    pet_on_grid = np.ascontiguousarray(pet_on_grid, dtype=pet_store["dtype"])
    ct_on_grid = np.ascontiguousarray(ct_on_grid)
    timings["orient"] = lap()

    splitter = RegionSplit(margin_mm=config.margin_mm)
    region_bounds = splitter(ct_on_grid, pet_on_grid, grid.spacing[0], lung)
    cropper = BodyCrop()
    if config.body_crop:
        box_y, box_x = cropper.box(ct_on_grid, grid.spacing)
    else:
        box_y, box_x = (0.0, float(grid.shape[1])), (0.0, float(grid.shape[2]))
    timings["landmarks"] = lap()

    pet_scale = pet_normaliser(pet_volume.unit, config.pet_norm, config.suv_max)
    if isinstance(pet_scale, PercentileScale):
        pet_scale = pet_scale.fitted(pet_on_grid)  # one scale for all regions of the study
    windows = MultiWindow(tuple(config.ct_windows))

    arrays: dict[str, Any] = {
        "ct": save_array(folder, "ct", ct_on_grid),
        "pet": save_array(folder, "pet", pet_on_grid),
    }
    boxes: dict[str, Box] = {}
    ranges = {WHOLE: (0, grid.shape[0]), **region_bounds.bounds}
    for name, (z0, z1) in ranges.items():
        box: Box = ((float(z0), float(z1)), box_y, box_x)
        boxes[name] = box
        pet_part = sample_box(pet_volume.array, pet_grid, grid, box, config.target_shape, fill=PET_FILL,
                              kernel=config.resample_kernel)
        ct_part = sample_box(ct_volume.array, ct_grid, grid, box, config.target_shape, fill=CT_FILL_HU,
                             kernel=config.resample_kernel)
        image = np.concatenate([pet_scale(pet_part)[None], windows(ct_part)]).astype(np.float16)
        arrays[name] = save_array(folder, name, image)
    timings["volumes"] = lap()

    extras: dict[str, Any] = {}
    if config.slices != "none":
        from vipet.data.slices import export_slices

        extras["slices"] = export_slices(ct_on_grid, pet_on_grid, folder / "slices", config.slices,
                                         suv_max=config.suv_max if pet_volume.unit == "SUVbw" else None,
                                         dtype=pet_store["dtype"])
    if config.renders:
        extras["renders"] = write_renders(folder, ct_on_grid, pet_on_grid, grid, pet_volume.unit, region_bounds.bounds)
    timings["extras"] = lap()

    texts = _texts(study)
    lesions = sample_lesions(truth, texts, boxes, config.target_shape, grid, ct_grid,
                             flipped=not orientation.head_first, ct_depth=ct_volume.shape[0])
    samples = []
    for name in SAMPLE_REGIONS:
        z0, z1 = ranges[name]
        samples.append({
            "region": name,
            "image": arrays[name]["file"],
            "z_range": [int(z0), int(z1)],
            "box": [list(b) for b in boxes[name]],
            "report_text": texts[name],
            "lesions": lesions[name],
        })
    return {
        "key": study.key,
        "source": study.source,
        "source_meta": source_meta or {},
        "source_uids": source_uids(study),
        "patient": {"id": study.patient.id, "sex": study.patient.sex, "height_m": study.patient.height_m,
                    "weight_kg": study.patient.weight_kg},
        "study_date": study.study_date.isoformat() if study.study_date else None,
        "units": {"ct": ct_volume.unit, "pet": pet_volume.unit, "pet_note": study.suv_note},
        "spacing_mm": {"ct": list(ct_grid.spacing), "pet": list(pet_grid.spacing)},
        "grids": {"ct": ct_grid.describe(), "pet": pet_grid.describe(), "whole": {"name": config.whole_grid, **grid.describe()}},
        "same_fov_assumed": same_field_of_view(ct_grid, pet_grid),
        "orientation": {"head_first_as_stored": orientation.head_first, "source": orientation.source,
                        "evidence": orientation.evidence, "flipped": not orientation.head_first},
        "regions": region_bounds.to_json(),
        "crop_box_yx": [list(box_y), list(box_x)],
        "transforms": [{"name": "ResampleToGrid", "grid": config.whole_grid, "kernel": "area",
                        "ct_dtype": "int16", "pet_dtype": pet_store["dtype"]},
                       describe(orient), describe(splitter), describe(cropper) | {"applied": config.body_crop},
                       describe(pet_scale), describe(windows),
                       {"name": "SampleBox", "kernel": config.resample_kernel, "antialias": True,
                        "target_shape": list(config.target_shape), "ct_fill_hu": CT_FILL_HU, "pet_fill": PET_FILL}],
        "channels": ["pet", *[f"ct_{w}" for w in config.ct_windows]],
        "arrays": arrays,
        "storage": {
            # whole-body arrays against the arrays on the common grid; |cached - source| <= max(rel * |source|, abs)
            "ct": {"dtype": "int16", "unit": ct_volume.unit,
                   "precision": {"relative": 0.0, "absolute": 0.5 if ct_rounded else 0.0}},
            "pet": pet_store,
            "volumes": {"dtype": "float16", "unit": "normalised 0..1", "precision": dict(PRECISION["float16"])},
        },
        "impression": texts["impression"],
        "samples": samples,
        "notes": list(study.notes) + notes + list(region_bounds.warnings),
        "timings_s": timings,
        **extras,
    }


def source_uids(study: Study) -> dict[str, str | None] | None:
    """The DICOM study and series a study was read from (None for other formats), so a report
    written later (DICOM SR, FHIR) can reference them after the source folder is gone."""
    prov = study.provenance
    if prov.get("format") != DICOM:
        return None
    return {"study_instance_uid": prov.get("study_uid") or None,
            "pet_series_uid": (prov.get("pet_series") or {}).get("uid") or None,
            "ct_series_uid": (prov.get("ct_series") or {}).get("uid") or None,
            "frame_of_reference_uid": prov.get("frame_of_reference") or None}


def _require_sane(volume: Volume, name: str, where: str) -> None:
    """Refuse (`BuildError`) a volume whose voxels are NaN/Inf or beyond float32, or whose spacing is not
    finite and positive: such a study is reported by the build and never cached."""
    spacing = tuple(float(s) for s in volume.spacing)
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise BuildError(f"{name} spacing {spacing} mm is not three finite positive numbers; refused", where)
    values = volume.array
    if values.dtype.kind == "f" and values.size:
        # Two reductions and no temporaries (require_finite builds a mask and an |x| copy): NaN and
        # Inf surface in the minimum or maximum, and so does anything beyond float32. Only an array
        # that fails goes on to require_finite, for its exact count and message.
        low, high = float(values.min()), float(values.max())
        if np.isfinite(low) and np.isfinite(high) and max(-low, high) <= FLOAT32_MAX:
            return
    require_finite(values, f"{name} volume ({volume.unit})", where)


def write_renders(folder: Path, ct_hu: np.ndarray, pet: np.ndarray, grid: Grid, pet_unit: str,
                  bounds: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """Coronal MIP and one fused axial slice (through the hottest chest voxel) via vipet.imaging.render."""
    pet32 = np.asarray(pet, dtype=np.float32)
    z0, z1 = bounds.get("chest", (0, pet.shape[0]))
    chest = pet32[z0:z1]
    z_fused = int(z0 + np.unravel_index(int(np.argmax(chest)), chest.shape)[0]) if chest.size else pet.shape[0] // 2
    view = Study(key=folder.name, ct=Volume(ct_hu, grid.spacing, "HU"), pet=Volume(pet32, grid.spacing, pet_unit),
                 head_first=True)
    render.save_mip_png(view, folder / "mip.png")
    render.save_fused_png(view, z_fused, folder / "fused.png")
    return {"mip": "mip.png", "fused": "fused.png", "fused_z": z_fused}


def _on_grid(volume: Volume, grid: Grid, fill: float) -> np.ndarray:
    """`volume` on `grid`: itself when it already is the grid, else area-averaged or interpolated."""
    if Grid.of(volume) == grid and (volume.affine is grid.affine):
        return volume.array
    return resample_to_grid(volume, grid, fill=fill)


# Block sizes for which the area average of `resample_to_grid` is exact in float32 for int16 input
# (sums of at most 64 int16 values times a power of two), so its rint is the integer mean below.
_BLOCK_FACTORS = (1, 2, 4)
_BLOCK_SLAB_VOXELS = 1 << 16  # output voxels per slab: the int32 sums stay in the CPU cache


def _block_factors(volume: Volume, grid: Grid) -> tuple[int, int, int] | None:
    """Per-axis block sizes when int16 `volume` covers `grid` in whole, aligned blocks of 1, 2 or 4
    voxels (not all 1), else None. Then `_block_mean_int16` gives what `resample_to_grid` followed
    by `np.rint` gives, bit for bit, at half its cost."""
    if volume.array.dtype != np.int16:
        return None
    source = Grid.of(volume)
    a_matrix, offset = index_map(source, grid)
    factors = np.diag(a_matrix)
    if not np.array_equal(a_matrix, np.diag(factors)) or not np.array_equal(offset, 0.5 * factors - 0.5):
        return None
    if not all(f in _BLOCK_FACTORS for f in factors) or all(f == 1 for f in factors):
        return None
    if any(n != f * m for n, f, m in zip(source.shape, factors, grid.shape)):
        return None
    return tuple(int(f) for f in factors)  # type: ignore[return-value]


def _block_mean_int16(values: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Mean of each (fz, fy, fx) block of int16 `values`, rounded half to even as `np.rint` does,
    as int16; summed in int32 slab by slab so that no full-size float32 copy is ever made."""
    fz, fy, fx = factors
    out = np.empty((values.shape[0] // fz, values.shape[1] // fy, values.shape[2] // fx), dtype=np.int16)
    count = fz * fy * fx
    shift, half = count.bit_length() - 1, count // 2  # count is a power of two
    step = max(1, _BLOCK_SLAB_VOXELS // (out.shape[1] * out.shape[2]))
    for z0 in range(0, out.shape[0], step):
        block = values[z0 * fz:(z0 + step) * fz]
        total = np.zeros((block.shape[0] // fz, *out.shape[1:]), dtype=np.int32)
        for a in range(fz):
            for b in range(fy):
                for c in range(fx):
                    total += block[a::fz, b::fy, c::fx]
        odd = total >> shift  # floor(total / count); adding half - 1 + (its parity) rounds ties to even
        odd &= 1
        total += odd
        total += half - 1
        total >>= shift
        out[z0:z0 + step] = total
    return out


def _texts(study: Study) -> dict[str, str]:
    """Target text per sample: full report for the whole body, region section (+ bone sentences) else."""
    if study.report is None:
        return {WHOLE: "", "impression": "", **{r: "" for r in IMAGE_REGIONS}}
    return {WHOLE: study.report.full_text(), "impression": study.report.impression.strip(), **split_report(study.report)}


def _stopwatch():
    """A callable returning seconds since its previous call: per-stage timings for the sidecar."""
    last = [time.perf_counter()]

    def lap() -> float:
        now = time.perf_counter()
        elapsed, last[0] = now - last[0], now
        return round(elapsed, 4)

    return lap
