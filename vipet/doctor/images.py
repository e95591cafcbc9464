"""Per-study volume checks of the doctor, and the downsampled signature that finds duplicates.

Each check returns findings for one loaded study; thresholds are documented here and measured
on the synthetic cohort (clean studies stay clear of every one by a wide margin):

- signature: block means of CT and PET on a `SIGNATURE_GRID` grid, each z-scored (so a rescaled
  copy matches), joined and scaled to unit length; two studies whose signatures have a cosine of at
  least `DUPLICATE_COSINE` are near-identical, and equal SHA-256 of the voxels is identical;
- constant: a volume whose minimum equals its maximum (all zero included);
- same image twice: the CT's and the PET's z-scored signatures correlate at least `SAME_IMAGE_R`
  (a CT against its own PET correlates far lower: the lungs are dark on both, bone only on CT);
- body outline: the coronal silhouettes of the body (CT above `BODY_HU`, PET above the body
  threshold of `imaging.landmarks.pet_body_and_hot`) on a common grid must overlap with a Dice of at
  least `MIN_OUTLINE_DICE`;
- direction: the PET cue (brain vs bladder) and the CT cue (lungs in the upper half) of
  `imaging.orientation` must not point at opposite ends when both are at least `CUE_CONFIDENT`;
- HU range: at most `OUT_OF_RANGE_SHARE` of CT voxels outside `CT_HU_RANGE`, and at least
  `MIN_SOFT_TISSUE_SHARE` of them within `SOFT_TISSUE_HU` (a CT rescaled twice has its soft tissue
  near -1000 HU and none near 0);
- PET saturation: at most `SATURATED_SHARE` of the PET's non-zero voxels at exactly its maximum (a
  clipped or overflowed PET flattens every hot organ at one value), and an SUVbw max within
  `io.plausibility.SUV_MAX`;
- truncated: a head-feet extent (slices x slice spacing) of at least `MIN_BODY_EXTENT_MM`.

The pairing checks (outline, direction) read the CT in HU and, for the direction, a whole-body
field of view; they are skipped for a study already flagged as not HU, the same image twice or
truncated, so one defect gives one finding.

Measured on 16 small synthetic studies (seed 0) against planted copies: signature cosine between
distinct persons at most 0.987, a noisy rescaled copy 0.99997; CT-PET correlation 0.49-0.70 (the
CT given as PET: 1.000); outline Dice 0.98-0.99 (a PET shifted by a third of the field: 0.42); soft
tissue 9.7-14.3 % of CT voxels (rescaled twice: 0.4 %); PET voxels at the maximum 0.0013-0.0021 %
(clipped at the 99th percentile: 1.05 %); extent 910-1070 mm; PET cue 0.64-0.87 and lung cue
0.21-0.24 in agreement (PET flipped: -0.74 against +0.22).
"""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

import numpy as np

from vipet.doctor.findings import Finding
from vipet.imaging.crop import plane_stride
from vipet.imaging.landmarks import pet_body_and_hot
from vipet.imaging.orientation import lung_cue, pet_cue
from vipet.imaging.render import mip_image
from vipet.io.plausibility import suv_max_problem
from vipet.study import SUV_BW, Study

SIGNATURE_GRID = (16, 24, 24)
DUPLICATE_COSINE = 0.999
SAME_IMAGE_R = 0.98
BODY_HU = -500.0
OUTLINE_GRID = (48, 48)
MIN_OUTLINE_DICE = 0.6
CUE_CONFIDENT = 0.15
CT_HU_RANGE = (-3072.0, 4095.0)
OUT_OF_RANGE_SHARE = 0.001
SOFT_TISSUE_HU = (-200.0, 200.0)
MIN_SOFT_TISSUE_SHARE = 0.02
SATURATED_SHARE = 0.002
MIN_BODY_EXTENT_MM = 500.0
THUMBNAIL_HEIGHT = 160


def block_means(volume: np.ndarray, grid: tuple[int, ...] = SIGNATURE_GRID) -> np.ndarray:
    """Means over `grid` blocks of a 3-D volume (float32); an axis shorter than its block count is
    sampled at block centres instead, so every volume gives the same shape."""
    values = np.asarray(volume)
    for axis, count in enumerate(grid):
        size = values.shape[axis]
        if size >= count:
            edges = np.linspace(0, size, count + 1).astype(np.int64)
            sums = np.add.reduceat(values, edges[:-1], axis=axis, dtype=np.float64)
            shape = [1] * values.ndim
            shape[axis] = count
            values = (sums / np.diff(edges).reshape(shape)).astype(np.float32)
        else:
            index = ((np.arange(count) + 0.5) * size / count).astype(np.int64)
            values = np.take(values, index, axis=axis).astype(np.float32)
    return values


def _zscore(values: np.ndarray) -> np.ndarray:
    flat = values.ravel().astype(np.float64)
    spread = flat.std()
    return ((flat - flat.mean()) / spread) if spread > 0 else np.zeros_like(flat)


def signature(ct: np.ndarray, pet: np.ndarray) -> np.ndarray:
    """Unit-length float32 vector of a study's downsampled, z-scored CT and PET (see module docstring)."""
    joined = np.concatenate([_zscore(block_means(ct)), _zscore(block_means(pet))])
    norm = float(np.linalg.norm(joined))
    return (joined / norm if norm > 0 else joined).astype(np.float32)


def encode_signature(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype=np.float16).tobytes()).decode("ascii")


def decode_signature(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float16).astype(np.float32)


def voxel_sha256(ct: np.ndarray, pet: np.ndarray) -> str:
    """SHA-256 over both volumes' shapes, dtypes and bytes: equal only for identical studies."""
    digest = hashlib.sha256()
    for values in (ct, pet):
        values = np.ascontiguousarray(values)
        digest.update(f"{values.shape}{values.dtype}".encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


def _silhouette(mask: np.ndarray) -> np.ndarray:
    """Coronal silhouette (z, x) of a 3-D mask, on the common `OUTLINE_GRID`."""
    coronal = mask.any(axis=1)
    rows = ((np.arange(OUTLINE_GRID[0]) + 0.5) * coronal.shape[0] / OUTLINE_GRID[0]).astype(np.int64)
    cols = ((np.arange(OUTLINE_GRID[1]) + 0.5) * coronal.shape[1] / OUTLINE_GRID[1]).astype(np.int64)
    return coronal[np.ix_(rows, cols)]


def outline_dice(ct_hu: np.ndarray, pet: np.ndarray) -> float:
    """Dice of the CT's and the PET's coronal body silhouettes on a common grid."""
    ct_step, pet_step = plane_stride(ct_hu.shape), plane_stride(pet.shape)
    ct_body = np.asarray(ct_hu[:, ::ct_step, ::ct_step]) > BODY_HU
    pet_body, _, _ = pet_body_and_hot(np.asarray(pet[:, ::pet_step, ::pet_step], dtype=np.float32))
    a, b = _silhouette(ct_body), _silhouette(pet_body)
    total = int(a.sum()) + int(b.sum())
    return 2.0 * float((a & b).sum()) / total if total else 0.0


def volume_findings(study: Study) -> tuple[list[Finding], dict[str, Any]]:
    """Findings of one readable study and the facts the cohort-level checks need
    (`signature`, `sha256`, `thumbnail` PNG as base64, measured numbers in `measures`)."""
    assert study.ct is not None and study.pet is not None
    key, source = study.key, study.source
    ct, pet = np.asarray(study.ct.array), np.asarray(study.pet.array)
    findings: list[Finding] = []
    measures: dict[str, Any] = {}

    def add(kind: str, message: str, **detail: Any) -> None:
        findings.append(Finding(kind, key, message, path=source, detail=detail))

    constant = False
    for name, values in (("CT", ct), ("PET", pet)):
        low, high = float(values.min()), float(values.max())
        if low == high:
            constant = True
            add("constant_volume", f"{name} holds one value everywhere ({low:g})" if low else f"{name} is all zero",
                modality=name, value=low)
    facts = {"signature": encode_signature(signature(ct, pet)), "sha256": voxel_sha256(ct, pet),
             "thumbnail": thumbnail_png(study)}
    if constant:
        return findings, facts | {"measures": measures}

    same_r = float(np.dot(_zscore(block_means(ct)), _zscore(block_means(pet))) / np.prod(SIGNATURE_GRID))
    measures["ct_pet_r"] = round(same_r, 4)
    same_image = (ct.shape == pet.shape and np.array_equal(ct, pet)) or same_r >= SAME_IMAGE_R
    if same_image:
        add("same_array_twice", f"the PET is the CT image given twice (downsampled correlation {same_r:.3f}, "
            f"at least {SAME_IMAGE_R:g} flags)", correlation=round(same_r, 4))

    low, high = CT_HU_RANGE
    outside = float(((ct < low) | (ct > high)).mean())
    soft = float(((ct >= SOFT_TISSUE_HU[0]) & (ct <= SOFT_TISSUE_HU[1])).mean())
    measures.update(ct_outside_share=round(outside, 6), ct_soft_tissue_share=round(soft, 4))
    ct_is_hu = outside <= OUT_OF_RANGE_SHARE and soft >= MIN_SOFT_TISSUE_SHARE
    if outside > OUT_OF_RANGE_SHARE:
        add("ct_not_hu", f"{outside:.2%} of CT voxels lie outside {low:g}..{high:g} HU "
            f"(range {float(ct.min()):g}..{float(ct.max()):g}): not HU, or rescaled twice", outside_share=outside)
    elif soft < MIN_SOFT_TISSUE_SHARE:
        add("ct_not_hu", f"only {soft:.2%} of CT voxels lie in the soft-tissue range {SOFT_TISSUE_HU[0]:g}..."
            f"{SOFT_TISSUE_HU[1]:g} HU (at least {MIN_SOFT_TISSUE_SHARE:.0%} expected): a second rescale?",
            soft_tissue_share=soft)

    peak = float(pet.max())
    nonzero = int(np.count_nonzero(pet))
    at_peak = int(np.count_nonzero(pet == pet.max()))
    share = at_peak / nonzero if nonzero else 0.0
    measures["pet_at_max_share"] = round(share, 6)
    if at_peak > 1 and share > SATURATED_SHARE:
        add("pet_saturated", f"{at_peak} PET voxels ({share:.2%} of the non-zero ones) sit at exactly the maximum "
            f"{peak:g}: clipped or overflowed (at most {SATURATED_SHARE:.1%} expected)", share=share)
    elif study.pet.unit == SUV_BW and (problem := suv_max_problem(peak)):
        add("pet_saturated", problem, suv_max=peak)

    extent = float(ct.shape[0] * study.ct.spacing[0])
    measures["extent_mm"] = round(extent, 1)
    whole_body = extent >= MIN_BODY_EXTENT_MM
    if not whole_body:
        add("truncated_study", f"the scan covers {extent:.0f} mm head to feet ({ct.shape[0]} slices x "
            f"{study.ct.spacing[0]:g} mm), under the {MIN_BODY_EXTENT_MM:g} mm of a whole body", extent_mm=extent)

    # The pairing checks read the CT in HU (body above BODY_HU, lungs as air) and, for the direction,
    # a whole-body field of view (lungs in the upper half): they are skipped when those do not hold,
    # since the findings above already say why the study is wrong.
    if same_image or not ct_is_hu:
        return findings, facts | {"measures": measures}
    dice = outline_dice(ct, pet)
    measures["outline_dice"] = round(dice, 4)
    if dice < MIN_OUTLINE_DICE:
        add("pet_ct_mismatch", f"PET and CT body outlines overlap with Dice {dice:.2f} (at least "
            f"{MIN_OUTLINE_DICE:g} needed): they do not show one body", dice=round(dice, 4))
    if whole_body:
        pet_score, _ = pet_cue(pet)
        lung_score, _ = lung_cue(ct)
        measures.update(pet_cue=round(pet_score, 4), lung_cue=round(lung_score, 4))
        if min(abs(pet_score), abs(lung_score)) >= CUE_CONFIDENT and (pet_score > 0) != (lung_score > 0):
            add("direction_disagreement", f"the PET puts the head at slice {'0' if pet_score > 0 else 'N'} "
                f"(cue {pet_score:+.2f}) but the CT at slice {'0' if lung_score > 0 else 'N'} (cue {lung_score:+.2f})",
                pet_cue=round(pet_score, 4), lung_cue=round(lung_score, 4))
    return findings, facts | {"measures": measures}


def thumbnail_png(study: Study) -> str:
    """Base64 PNG of the coronal PET MIP (inverted grey, head up), at most `THUMBNAIL_HEIGHT` px high."""
    from PIL import Image

    assert study.pet is not None
    values = np.asarray(study.pet.array, dtype=np.float32)
    if study.pet.unit == SUV_BW:
        shown, suv_max = values, 5.0
    else:  # raw units: the 99.9th percentile shown as SUV 10, as the build's renders do
        shown, suv_max = values * np.float32(10.0 / max(float(np.percentile(values, 99.9)), 1e-6)), 5.0
    image = Image.fromarray(mip_image(shown, study.pet.spacing, suv_max, study.head_first))
    if image.height > THUMBNAIL_HEIGHT:
        image = image.resize((max(1, round(image.width * THUMBNAIL_HEIGHT / image.height)), THUMBNAIL_HEIGHT))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
