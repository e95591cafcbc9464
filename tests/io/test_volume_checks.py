"""Volumes that read without error but must never become a training sample (issue 20): non-finite
voxels, zero or infinite spacing, no geometry, PET and CT apart in space or in depth, swapped
files and degenerate sizes. Each is a one-line `ReadError` naming the file."""

from __future__ import annotations

import gzip
import json
import shutil
import struct

import nibabel as nib
import numpy as np
import pytest
from io_factories import make_study

from vipet.errors import ReadError
from vipet.io import discover, load_study
from vipet.io.checks import DEPTH_TOLERANCE, MIN_OVERLAP, overlap_fractions
from vipet.io.nifti import read_nifti_pair, write_nifti_study
from vipet.io.npz import load_npz_volume, save_npz_volume
from vipet.io.plausibility import MIN_SHAPE, shape_problem, spacing_problem
from vipet.io.vimed import read_vimed_study, write_metadata_csv, write_vimed_study

AFFINE = np.diag([-2.0, -2.0, 3.0, 1.0])


def _pair(folder, ct=None, pet=None, ct_affine=AFFINE, pet_affine=AFFINE):
    """A NIfTI pair (CT with air, PET in SUV), stored (x, y, z) = (10, 12, 14), read (z, y, x) = (14, 12, 10)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    ct = rng.integers(-1000, 1000, size=(10, 12, 14)).astype(np.int16) if ct is None else ct
    pet = rng.uniform(0.0, 5.0, size=(10, 12, 14)).astype(np.float32) if pet is None else pet
    ct_path, pet_path = folder / "ct.nii.gz", folder / "pet.nii.gz"
    nib.save(nib.Nifti1Image(ct, ct_affine), str(ct_path))
    nib.save(nib.Nifti1Image(pet, pet_affine), str(pet_path))
    return ct_path, pet_path


def _refused(call) -> str:
    with pytest.raises(ReadError) as refused:
        call()
    assert "\n" not in str(refused.value)
    return str(refused.value)


def test_a_valid_pair_reads(tmp_path):
    study = read_nifti_pair(*_pair(tmp_path), "SUVbw")
    assert study.ct.shape == (14, 12, 10) and study.pet.unit == "SUVbw"


# 6. Non-finite voxels, spacing, geometry ----------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_nifti_voxels_are_refused_naming_the_file(tmp_path, bad):
    pet = np.ones((10, 12, 14), np.float32)
    pet[3, 4, 5] = bad
    ct_path, pet_path = _pair(tmp_path, pet=pet)
    nan, inf = (1, 0) if np.isnan(bad) else (0, 1)
    assert _refused(lambda: read_nifti_pair(ct_path, pet_path, "SUVbw")) == (
        f"{pet_path}: {nan} NaN and {inf} infinite voxels; volumes must be finite")
    ct = np.full((10, 12, 14), -1000.0, np.float32)
    ct[0, 0, 0] = np.nan
    ct_path, pet_path = _pair(tmp_path / "ct", ct=ct)
    assert _refused(lambda: read_nifti_pair(ct_path, pet_path, "SUVbw")).startswith(f"{ct_path}: 1 NaN and 0 infinite")


def test_non_finite_npz_voxels_are_refused_and_the_cohort_goes_on(tmp_path):
    rows = [write_vimed_study(make_study(key=f"2017_12_2{i}_patient_{i}", seed=i), tmp_path, suv_per_unit=0.001)
            for i in range(2)]
    write_metadata_csv(rows, tmp_path)
    values = load_npz_volume(tmp_path / rows[0]["pet_path"]).astype(np.float32)
    values[0, 0, 0] = np.nan
    values[1, 1, 1] = np.inf
    save_npz_volume(tmp_path / rows[0]["pet_path"], values)
    pet_path = tmp_path / rows[0]["pet_path"]
    assert _refused(lambda: load_npz_volume(pet_path)) == f"{pet_path}: 1 NaN and 1 infinite voxels; volumes must be finite"
    refs, _ = discover(tmp_path)
    with pytest.raises(ReadError):
        load_study(refs[0])
    assert load_study(refs[1]).pet.unit == "SUVbw"


def _with_header(path, edit):
    """Rewrite a NIfTI file with its header edited field by field (nibabel would otherwise recompute it)."""
    image = nib.load(str(path))
    header = image.header.copy()
    edit(header)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj), None, header), str(path))


@pytest.mark.parametrize("column", [0, 1, 2])
def test_a_zero_pixdim_is_refused_as_a_spacing_problem(tmp_path, column):
    ct_path, pet_path = _pair(tmp_path)
    # Patched in the bytes: nibabel's own writer and loader both turn a pixdim of 0 into 1 mm.
    block = bytearray(gzip.decompress(ct_path.read_bytes()))
    struct.pack_into("<hh", block, 252, 1, 0)  # qform_code 1, sform_code 0: geometry from pixdim
    struct.pack_into("<f", block, 80 + 4 * column, 0.0)  # pixdim[1 + column]
    ct_path.write_bytes(gzip.compress(bytes(block)))
    xyz = [2.0, 2.0, 3.0]
    xyz[column] = 0.0
    assert _refused(lambda: read_nifti_pair(ct_path, pet_path, "SUVbw")) == (
        f"{ct_path}: {spacing_problem(tuple(xyz))} (pixdim, x y z)")


def test_an_sform_with_a_zero_column_is_refused_as_a_spacing_problem(tmp_path):
    ct_path, pet_path = _pair(tmp_path)
    _with_header(pet_path, lambda header: header.__setitem__("srow_y", [0.0, 0.0, 0.0, 0.0]))
    assert _refused(lambda: read_nifti_pair(ct_path, pet_path, "SUVbw")) == (
        f"{pet_path}: {spacing_problem((3.0, 0.0, 2.0))} (affine)")


def test_an_infinite_affine_is_refused(tmp_path):
    ct_path, pet_path = _pair(tmp_path)
    _with_header(pet_path, lambda header: header.__setitem__("srow_z", [0.0, 0.0, np.inf, 0.0]))
    assert _refused(lambda: read_nifti_pair(ct_path, pet_path, "SUVbw")) == f"{pet_path}: affine has non-finite values"


def test_a_file_without_sform_or_qform_has_no_geometry_and_is_refused(tmp_path):
    ct_path, pet_path = _pair(tmp_path, pet_affine=None)  # nibabel writes codes 0 without an affine
    assert int(nib.load(str(pet_path)).header["sform_code"]) == 0
    assert _refused(lambda: read_nifti_pair(ct_path, pet_path, "SUVbw")) == (
        f"{pet_path}: sform and qform codes are both 0: the file has no patient geometry (position and "
        "orientation unknown), so PET and CT cannot be aligned")


# 7. PET and CT apart in space (NIfTI) or in depth (ViMed) ---------------------------------------

def test_a_pet_five_metres_from_its_ct_is_refused_naming_both_files(tmp_path):
    shifted = AFFINE.copy()
    shifted[2, 3] = 5000.0
    ct_path, pet_path = _pair(tmp_path, pet_affine=shifted)
    assert _refused(lambda: read_nifti_pair(ct_path, pet_path, "SUVbw")) == (
        f"{pet_path}: PET and CT overlap over only 0% of the smaller volume along the head-feet axis "
        f"(at least 50% needed): they do not image the same body (CT file {ct_path})")


def test_partial_overlap_above_the_threshold_reads(tmp_path):
    shifted = AFFINE.copy()
    shifted[2, 3] = 0.4 * 14 * 3.0  # 40% of the 42 mm along z: 60% overlap
    assert overlap_fractions((10, 12, 14), AFFINE, (10, 12, 14), shifted) == pytest.approx((1.0, 1.0, 0.6))
    assert MIN_OVERLAP == 0.5
    read_nifti_pair(*_pair(tmp_path, pet_affine=shifted), "SUVbw")
    shifted[2, 3] = 0.6 * 14 * 3.0  # 40% overlap
    ct_path, pet_path = _pair(tmp_path / "far", pet_affine=shifted)
    assert "overlap over only 40% of the smaller volume along the head-feet axis" in _refused(
        lambda: read_nifti_pair(ct_path, pet_path, "SUVbw"))


def test_a_written_study_with_different_pet_and_ct_matrices_still_reads(tmp_path):
    study = make_study(ct_size=16, pet_size=8)
    back = read_nifti_pair(*write_nifti_study(study, tmp_path))
    assert np.array_equal(back.ct.array, study.ct.array) and np.array_equal(back.pet.array, study.pet.array)


def _vimed_pair(root, ct_depth, pet_depth):
    row = write_vimed_study(make_study(depth=ct_depth), root, suv_per_unit=0.01)
    pet = load_npz_volume(root / row["pet_path"])
    save_npz_volume(root / row["pet_path"], np.resize(pet, (pet_depth, *pet.shape[1:])))
    return root / row["ct_path"], root / row["pet_path"]


def test_a_vimed_pet_of_50_slices_is_not_stretched_onto_a_ct_of_76(tmp_path):
    ct_path, pet_path = _vimed_pair(tmp_path, 76, 50)
    assert _refused(lambda: read_vimed_study(ct_path, pet_path)) == (
        f"{pet_path}: PET has 50 slices but the CT has 76 (one slice thickness assumed for both), more than 10% "
        f"apart: with no geometry to align them, fitting one onto the other would stretch the body; refused "
        f"(CT file {ct_path})")
    meta = {"ct_spacing": (3.0, 31.25, 31.25), "pet_spacing": (3.0, 62.5, 62.5)}
    assert "PET covers 150 mm (50 slices x 3 mm) but the CT covers 228 mm (76 slices x 3 mm)" in _refused(
        lambda: read_vimed_study(ct_path, pet_path, meta=meta))
    # recorded spacings that make the extents agree (PET slices 4.56 mm) read: the field is the same
    meta["pet_spacing"] = (4.56, 62.5, 62.5)
    assert read_vimed_study(ct_path, pet_path, meta=meta).pet.shape[0] == 50


def test_a_small_vimed_depth_difference_is_kept_with_a_note(tmp_path):
    assert DEPTH_TOLERANCE == 0.10
    ct_path, pet_path = _vimed_pair(tmp_path, 20, 19)  # 5% apart
    study = read_vimed_study(ct_path, pet_path)
    assert "CT has 20 slices but PET has 19" in study.notes


# 8. Swapped files and degenerate sizes -----------------------------------------------------------

def test_swapped_nifti_ct_and_pet_are_refused(tmp_path):
    ct_path, pet_path = write_nifti_study(make_study(), tmp_path)
    shutil.move(ct_path, tmp_path / "tmp.nii.gz")
    shutil.move(pet_path, ct_path)
    shutil.move(tmp_path / "tmp.nii.gz", pet_path)
    message = _refused(lambda: read_nifti_pair(ct_path, pet_path))
    assert message.startswith(f"{pet_path}: CT and PET look swapped: the CT has no value below -500 HU (minimum 0.1")
    assert message.endswith(f"and the PET has values down to -1000 (below -100), as a CT has (CT file {ct_path})")


def test_swapped_vimed_ct_and_pet_are_refused(tmp_path):
    row = write_vimed_study(make_study(), tmp_path, suv_per_unit=0.001)
    ct_path, pet_path = tmp_path / row["ct_path"], tmp_path / row["pet_path"]
    message = _refused(lambda: read_vimed_study(pet_path, ct_path))
    assert message.startswith(f"{ct_path}: CT and PET look swapped")


def test_a_ct_without_air_alone_is_not_called_swapped(tmp_path):
    ct = np.full((10, 12, 14), 40, np.int16)  # a CT cropped inside the body: no air, but the PET is a PET
    read_nifti_pair(*_pair(tmp_path, ct=ct), "SUVbw")


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 12, 10), (14, 3, 10)])
def test_degenerate_volumes_are_refused(tmp_path, shape):
    rng = np.random.default_rng(0)
    ct = rng.integers(-1000, 1000, size=shape[::-1]).astype(np.int16)  # NIfTI stores (x, y, z)
    pet = rng.uniform(0.0, 5.0, size=shape[::-1]).astype(np.float32)
    ct_path, pet_path = _pair(tmp_path, ct=ct, pet=pet)
    assert shape_problem(shape) is not None and len(MIN_SHAPE) == 3
    assert _refused(lambda: read_nifti_pair(ct_path, pet_path, "SUVbw")) == f"{ct_path}: {shape_problem(shape)}"


def test_a_one_voxel_vimed_study_is_refused(tmp_path):
    row = write_vimed_study(make_study(), tmp_path, suv_per_unit=0.001)
    save_npz_volume(tmp_path / row["ct_path"], np.full((1, 1, 1), -1000, np.int16))
    ct_path = tmp_path / row["ct_path"]
    assert _refused(lambda: read_vimed_study(ct_path, tmp_path / row["pet_path"])) == (
        f"{ct_path}: {shape_problem((1, 1, 1))}")


def test_an_infinite_spacing_in_the_table_is_refused(tmp_path):
    row = write_vimed_study(make_study(), tmp_path, suv_per_unit=0.001)
    ct_path, pet_path = tmp_path / row["ct_path"], tmp_path / row["pet_path"]
    meta = {"ct_spacing": (float("inf"), 31.25, 31.25)}
    assert _refused(lambda: read_vimed_study(ct_path, pet_path, meta=meta)) == (
        f"{ct_path}: {spacing_problem((float('inf'), 31.25, 31.25))} (spacing from metadata.csv)")
    (ct_path.with_suffix(".spacing.json")).write_text(json.dumps({"spacing": [0.0001, 1, 1]}))
    with pytest.raises(ReadError, match="voxel spacing"):
        read_vimed_study(ct_path, pet_path)
