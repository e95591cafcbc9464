"""What the image of one built study shows: hot spots with their SUVmax, position, size and side.

The grounding check (`grounding.py`) asks of a stated lesion "is there a hot spot like that where
the report says?"; this module answers from the build cache alone: the whole-body PET (SUVbw) and
CT (HU) on one head-first grid (`vipet.data.process`), the region slice ranges the build found
from the lung fields (`vipet.imaging.regions`), and the grid's orientation.

Side: the cached arrays follow the project's axis convention (`vipet.study`): columns run patient
right -> left, which every reader canonicalises to (`vipet.io.orient`). When the build recorded an
affine for the whole grid, the sign of its column's LPS x step is used instead (positive: towards
the patient's left); a grid whose columns do not run along LPS x gives no side at all. The side of
a hot spot is relative to the body's own midline on that slice (centroid of the body outline),
not to the field of view, so a patient lying off-centre on the table is read correctly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from vipet.data.cache import open_array, read_meta, study_dir
from vipet.errors import BuildError
from vipet.imaging.crop import BODY_HU
from vipet.imaging.landmarks import LUNG_HU
from vipet.study import SUV_BW

# A hot spot is a local maximum (within LOCAL_MAX_MM in-plane and one slice) at least HOT_FACTOR
# times the median uptake of the body in its region: the physiological background (DOMAIN.md:
# muscle < 1, liver 2-3) is not a finding, and "tăng chuyển hóa" is relative to it.
HOT_FACTOR = 2.0
LOCAL_MAX_MM = 10.0
# Local background: median PET in a box of +-BACKGROUND_MM in-plane (and +-1 slice) around the peak;
# the hot-spot outline is where uptake falls to half way between background and peak (half maximum
# above background), the usual definition of a lesion's extent on a blurred image.
BACKGROUND_MM = 40.0
HALF = 0.5
RISE = 1.05  # noise tolerance when following a profile down from a peak
SADDLE = 0.8  # a maximum is its own spot when uptake dips below this share (above background) before a hotter one
SEPARATION_MM = 60.0  # how far a hotter spot is looked for when deciding whether a maximum is its shoulder
LUNG_MARGIN_MM = 15.0  # the lung "organ": air-filled lung plus this margin (pleura, pleural-based masses)


@dataclass
class HotSpot:
    """One hot spot: peak SUV, where it is (grid index and mm, head-first) and its axial extent."""

    peak_suv: float
    index: tuple[int, int, int]
    position_mm: tuple[float, float, float]
    extent_mm: tuple[float, float]  # (left-right, antero-posterior) runs of its half-maximum outline through the peak
    side: str | None  # "right" | "left" | "midline"; None when the grid's orientation is unknown
    offset_mm: float | None  # from the body midline, positive towards the patient's left
    regions: tuple[str, ...] = ()
    in_lung: bool = False
    background_suv: float = 0.0  # median uptake around it (see `hot_outline`)

    @property
    def contrast(self) -> float:
        """Peak over local background: a lesion stands out from its organ, noise in an organ does not."""
        return self.peak_suv / max(self.background_suv, 1e-3)

    def to_json(self) -> dict[str, Any]:
        return {"suv_max": round(self.peak_suv, 2), "index": list(self.index),
                "position_mm": [round(v, 1) for v in self.position_mm],
                "size_mm": [round(v, 1) for v in self.extent_mm], "side": self.side,
                "offset_mm": None if self.offset_mm is None else round(self.offset_mm, 1),
                "regions": list(self.regions), "in_lung": self.in_lung,
                "background_suv": round(self.background_suv, 2), "contrast": round(self.contrast, 2)}


@dataclass
class StudyImage:
    """The arrays and geometry of one cached study that the grounding check reads."""

    key: str
    pet_suv: np.ndarray  # float32, head-first grid
    ct_hu: np.ndarray
    spacing: tuple[float, float, float]  # (z, y, x) mm
    region_bounds: dict[str, tuple[int, int]]
    left_step: int | None  # +1: column index grows towards the patient's left; -1: towards the right; None: unknown
    orientation_source: str
    landmarks: dict[str, Any] = field(default_factory=dict)  # slice of lung_apex, lung_base, diaphragm_dome, bladder
    body: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    lung: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    midline_x: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    _spots: list[HotSpot] | None = field(repr=False, default=None)

    def __post_init__(self) -> None:
        if self.body is None:
            self.body = body_mask(self.ct_hu)
        if self.lung is None:
            self.lung = lung_mask(self.ct_hu, self.body, self.spacing)
        if self.midline_x is None:
            self.midline_x = body_midline(self.body)

    def hot_spots(self) -> list[HotSpot]:
        """Every hot spot of the study, hottest first (computed once)."""
        if self._spots is None:
            self._spots = find_hot_spots(self)
        return self._spots

    def without_arrays(self) -> "StudyImage":
        """This study with its hot spots found and its voxel arrays dropped: what a batch keeps per
        study (a full-size whole-body PET and CT is hundreds of MB as float32)."""
        self.hot_spots()
        empty = np.zeros((0, 0, 0), np.float32)
        self.pet_suv = self.ct_hu = empty
        self.body = self.lung = empty.astype(bool)
        return self


def left_step_of(meta: dict[str, Any]) -> tuple[int | None, str]:
    """Which way the cached grid's columns run, from the build's sidecar (see the module docstring)."""
    affine = ((meta.get("grids") or {}).get("whole") or {}).get("affine")
    if affine is None:
        return 1, "project convention: columns run patient right -> left (vipet.study)"
    column = np.asarray(affine, dtype=np.float64)[:3, 2]
    if int(np.argmax(np.abs(column))) != 0 or column[0] == 0:
        return None, f"whole-grid column axis {column.tolist()} is not along LPS x: side unknown"
    return (1 if column[0] > 0 else -1), f"whole-grid affine column x step {column[0]:+.3f} mm (LPS)"


def load_study_image(build: str | Path, key: str) -> StudyImage:
    """The cached PET (SUVbw), CT and geometry of study `key`; `BuildError` when it cannot be grounded."""
    folder = study_dir(build, key)
    meta = read_meta(folder)
    unit = (meta.get("units") or {}).get("pet")
    if unit != SUV_BW:
        raise BuildError(f"PET of {key} is cached in {unit!r}, not {SUV_BW}: stated SUVmax cannot be checked", folder)
    arrays = meta.get("arrays") or {}
    pet = np.asarray(open_array(folder / arrays["pet"]["file"]), dtype=np.float32)
    ct = np.asarray(open_array(folder / arrays["ct"]["file"]), dtype=np.float32)
    whole = (meta.get("grids") or {}).get("whole") or {}
    spacing = tuple(float(s) for s in whole.get("spacing_mm") or ())
    if pet.shape != ct.shape or len(spacing) != 3:
        raise BuildError(f"cached PET {pet.shape} and CT {ct.shape} are not on one grid with a spacing", folder)
    bounds = {name: (int(a), int(b)) for name, (a, b) in ((meta.get("regions") or {}).get("bounds") or {}).items()}
    step, source = left_step_of(meta)
    from vipet.trust.grounding_sites import landmarks_of

    return StudyImage(key, pet, ct, spacing, bounds, step, source, landmarks_of(meta))  # type: ignore[arg-type]


def body_mask(ct_hu: np.ndarray) -> np.ndarray:
    """Tissue above `BODY_HU`, holes filled slice by slice (lungs and bowel gas are inside the body)."""
    tissue = ct_hu > BODY_HU
    return np.stack([ndimage.binary_fill_holes(plane) for plane in tissue]) if tissue.size else tissue


def lung_mask(ct_hu: np.ndarray, body: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Air inside the body below `LUNG_HU` (the lungs), holes filled (nodules and masses inside them),
    widened by `LUNG_MARGIN_MM` in-plane (pleura and pleural-based lesions)."""
    air = body & (ct_hu < LUNG_HU)
    filled = np.stack([ndimage.binary_fill_holes(plane) for plane in air]) if air.size else air
    reach = [max(1, int(round(LUNG_MARGIN_MM / s))) for s in spacing[1:]]
    structure = np.zeros((1, 2 * reach[0] + 1, 2 * reach[1] + 1), bool)
    yy, xx = np.ogrid[-reach[0]:reach[0] + 1, -reach[1]:reach[1] + 1]
    structure[0] = (yy / reach[0]) ** 2 + (xx / reach[1]) ** 2 <= 1.0
    return ndimage.binary_dilation(filled, structure=structure) & body


def body_midline(body: np.ndarray) -> np.ndarray:
    """Column of the body outline's centroid on every slice (NaN where a slice has no body)."""
    counts = body.sum(axis=(1, 2)).astype(np.float64)
    columns = (body.sum(axis=1) * np.arange(body.shape[2])[None, :]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, columns / np.maximum(counts, 1.0), np.nan)


def side_of(image: StudyImage, z: int, x: float, midline_mm: float) -> tuple[str | None, float | None]:
    """("right" | "left" | "midline", offset mm towards the patient's left) of column `x` on slice `z`."""
    centre = image.midline_x[z]
    if image.left_step is None or not np.isfinite(centre):
        return None, None
    offset = float((x - centre) * image.spacing[2] * image.left_step)
    if abs(offset) < midline_mm:
        return "midline", offset
    return ("left" if offset > 0 else "right"), offset


def _box(index: tuple[int, int, int], shape: tuple[int, ...], reach: tuple[int, int, int]) -> tuple[slice, ...]:
    return tuple(slice(max(0, i - r), min(n, i + r + 1)) for i, n, r in zip(index, shape, reach))


def hot_outline(image: StudyImage, index: tuple[int, int, int]) -> tuple[np.ndarray, tuple[slice, slice], float]:
    """(in-plane mask of the half-maximum outline on the peak slice, its box, local background)."""
    z, y, x = index
    pet = image.pet_suv
    reach = (1, *(max(2, int(round(BACKGROUND_MM / s))) for s in image.spacing[1:]))
    around = _box(index, pet.shape, reach)  # type: ignore[arg-type]
    background = float(np.median(pet[around]))
    peak = float(pet[index])
    threshold = background + HALF * (peak - background)
    plane_box = around[1:]
    plane = pet[z][plane_box] >= threshold
    labels, _ = ndimage.label(plane, structure=np.ones((3, 3), bool))
    own = labels == labels[y - plane_box[0].start, x - plane_box[1].start]
    return own, plane_box, background  # type: ignore[return-value]


def _run(inside: np.ndarray, values: np.ndarray, at: int) -> int:
    """Voxels of the profile `values` around its peak `at` that are inside the outline and keep
    falling away from the peak (a rise of more than `RISE` means a neighbour's slope begins)."""
    start, stop = _span(inside, values, at)
    return stop - start


def _shoulder_of(pet: np.ndarray, index: tuple[int, int, int], background: float,
                 kept: list[tuple[int, int, int]], reach: tuple[int, int, int]) -> bool:
    """Whether the maximum at `index` is part of a hotter spot already kept: uptake stays above half
    way between background and this peak all the way to it (the half-maximum criterion that also
    draws the outline). Searched within `reach` voxels: farther spots are other structures."""
    near = [k for k in kept if all(abs(a - b) <= r for a, b, r in zip(k, index, reach))]
    if not near:
        return False
    box = _box(index, pet.shape, reach)
    above = pet[box] >= background + SADDLE * (float(pet[index]) - background)
    labels, _ = ndimage.label(above, structure=np.ones((3, 3, 3), bool))
    own = labels[tuple(i - b.start for i, b in zip(index, box))]
    return any(labels[tuple(k - b.start for k, b in zip(other, box))] == own for other in near)


def _span(inside: np.ndarray, values: np.ndarray, at: int) -> tuple[int, int]:
    """[start, stop) of the falling run of `values` around `at` inside `inside` (see `_run`)."""
    start, stop = at, at + 1
    while start > 0 and inside[start - 1] and values[start - 1] <= values[start] * RISE:
        start -= 1
    while stop < values.size and inside[stop] and values[stop] <= values[stop - 1] * RISE:
        stop += 1
    return start, stop


def find_hot_spots(image: StudyImage, midline_mm: float = 15.0) -> list[HotSpot]:
    """Local uptake maxima above `HOT_FACTOR` x the body's median uptake in their region, one per
    hot spot (a lower maximum inside a hotter spot's outline is the same spot), hottest first."""
    pet = image.pet_suv
    size = (3, *(2 * max(1, int(round(LOCAL_MAX_MM / s))) + 1 for s in image.spacing[1:]))
    peaks = (pet == ndimage.maximum_filter(pet, size=size, mode="nearest")) & image.body
    floor = np.full(pet.shape[0], np.inf, dtype=np.float64)
    ranges = image.region_bounds or {"whole": (0, pet.shape[0])}
    for z0, z1 in ranges.values():
        inside = image.body[z0:z1]
        if inside.any():
            level = HOT_FACTOR * float(np.median(pet[z0:z1][inside]))
            floor[z0:z1] = np.minimum(floor[z0:z1], level)
    peaks &= pet >= floor[:, None, None]
    order = np.argsort(-pet[peaks], kind="stable")
    candidates = np.argwhere(peaks)[order]
    spots: list[HotSpot] = []
    kept: list[tuple[int, int, int]] = []
    reach = tuple(max(2, int(round(SEPARATION_MM / s))) for s in image.spacing)
    for z, y, x in candidates:
        index = (int(z), int(y), int(x))
        outline, (ys, xs), background = hot_outline(image, index)
        if _shoulder_of(pet, index, background, kept, reach):
            continue
        kept.append(index)
        # Extent along the row and the column through the peak: a neighbouring lesion whose outline
        # touches this one's widens the outline's bounding box, not the runs through the peak.
        py, px = y - ys.start, x - xs.start
        plane = pet[z, ys, xs]
        run_x, run_y = _run(outline[py, :], plane[py, :], px), _run(outline[:, px], plane[:, px], py)
        extent = (run_x * image.spacing[2], run_y * image.spacing[1])
        side, offset = side_of(image, index[0], float(x), midline_mm)
        spots.append(HotSpot(
            peak_suv=float(pet[index]), index=index,
            position_mm=tuple(float(i * s) for i, s in zip(index, image.spacing)),  # type: ignore[arg-type]
            extent_mm=(float(extent[0]), float(extent[1])), side=side, offset_mm=offset,
            regions=tuple(name for name, (a, b) in sorted(image.region_bounds.items()) if a <= index[0] < b),
            in_lung=bool(image.lung[index]), background_suv=background,
        ))
    return spots
