"""NIfTI pairs: affine -> spacing and the project axis convention, checked against nibabel's own
reorientation (`as_closest_canonical`), and the failure modes."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from io_factories import UNITLESS, make_study, write_unitless_nifti_pair

from vipet.errors import ReadError, SUVUnavailableError
from vipet.io import read_study
from vipet.io.nifti import read_nifti_pair, write_nifti_study
from vipet.study import BQML, SUV_BW, VIMED_RAW


def project_view_of_canonical(image: nib.Nifti1Image) -> np.ndarray:
    """Expected (z, y, x) array by an independent route: nibabel's RAS+ canonical (i->R, j->A, k->S),
    then z = k (feet -> head here), y = posterior-going (flip A), x = left-going (flip R)."""
    canonical = np.asarray(nib.as_closest_canonical(image).dataobj)
    return canonical.transpose(2, 1, 0)[:, ::-1, ::-1]


def save(path, values, affine):
    nib.save(nib.Nifti1Image(values, affine), str(path))
    return path


@pytest.mark.parametrize(
    "affine",
    [
        np.diag([2.0, 3.0, 4.0, 1.0]),  # RAS-ordered scanner export
        np.diag([-2.0, -3.0, 4.0, 1.0]),  # LPS-ordered (dcm2niix-like before its flip)
        np.array([[0, 0, -3.0, 10], [2.0, 0, 0, -5], [0, 4.0, 0, 7], [0, 0, 0, 1]]),  # permuted axes
    ],
    ids=["ras", "lps", "permuted"],
)
def test_reorientation_matches_nibabel_canonical(tmp_path, affine):
    rng = np.random.default_rng(1)
    values = rng.integers(-1000, 1000, size=(5, 6, 7)).astype(np.int16)
    ct = save(tmp_path / "ct.nii.gz", values, affine)
    pet = save(tmp_path / "pet.nii.gz", (values.astype(np.float32) + 1000) / 300, affine)
    study = read_nifti_pair(ct, pet, "SUVbw")
    expected = project_view_of_canonical(nib.load(str(ct)))
    assert np.array_equal(study.ct.array, expected)
    assert study.head_first is False  # the slice axis of every case above runs toward the head
    voxel_sizes = sorted(np.linalg.norm(affine[:3, :3], axis=0))
    assert sorted(study.ct.spacing) == pytest.approx(voxel_sizes)
    # index (z, y, x) is canonical voxel (i, j, k) = (nx-1-x, ny-1-y, z): same point, LPS = RAS with x, y negated
    canonical = nib.as_closest_canonical(nib.load(str(ct)))
    nz, ny, nx = study.ct.shape
    for z, y, x in [(0, 0, 0), (1, 2, 3), (nz - 1, ny - 1, nx - 1)]:
        ras = canonical.affine @ [nx - 1 - x, ny - 1 - y, z, 1.0]
        assert np.allclose(study.ct.affine @ [z, y, x, 1.0], [-ras[0], -ras[1], ras[2], 1.0])


def test_pet_unit_is_taken_from_the_user(tmp_path):
    ct, pet = write_nifti_study(make_study(), tmp_path)
    study = read_nifti_pair(ct, pet, BQML)
    assert study.pet.unit == BQML and "NIfTI keeps no SUV tags" in study.suv_note
    with pytest.raises(SUVUnavailableError):
        study.pet_suv()
    with pytest.raises(ReadError, match="unknown PET unit 'kBq'"):
        read_nifti_pair(ct, pet, "kBq")


def test_a_pair_without_a_given_or_recorded_unit_is_refused_naming_the_pet_file(tmp_path):
    ct, pet = write_unitless_nifti_pair(tmp_path)
    for read in (lambda: read_nifti_pair(ct, pet), lambda: read_study(f"{ct},{pet}"), lambda: read_study(tmp_path)):
        with pytest.raises(ReadError) as refused:
            read()
        assert str(refused.value) == f"{pet}: {UNITLESS}"
    study = read_nifti_pair(ct, pet, BQML)
    assert study.pet.unit == BQML
    assert study.suv_note == "NIfTI PET given as BQML by the user; NIfTI keeps no SUV tags"


def test_the_unit_study_json_records_is_read_and_a_given_unit_wins_with_a_note(tmp_path):
    ct, pet = write_nifti_study(make_study(), tmp_path)  # the writer records SUVbw
    study = read_nifti_pair(ct, pet)
    assert study.pet.unit == SUV_BW and study.suv_note is None
    assert study.provenance["suv"] == {"method": "unit given by study.json", "unit": SUV_BW}
    given = read_nifti_pair(ct, pet, BQML)
    assert given.pet.unit == BQML and given.provenance["suv"]["method"] == "unit given by the user"
    assert "PET read as BQML as given, not as the SUVbw that study.json records" in given.notes


def test_a_recorded_unit_outside_the_vocabulary_is_refused_naming_study_json(tmp_path):
    ct, pet = write_nifti_study(make_study(), tmp_path)
    sidecar = tmp_path / "study.json"
    sidecar.write_text(json.dumps(json.loads(sidecar.read_text(encoding="utf-8")) | {"pet_unit": "kBq/ml"}))
    with pytest.raises(ReadError) as refused:
        read_nifti_pair(ct, pet)
    assert str(refused.value) == f"{sidecar}: unknown PET unit 'kBq/ml'; expected one of SUVbw, BQML, CNTS, VIMED_RAW, UNKNOWN"


def test_writer_refuses_pet_that_is_not_suv(tmp_path):
    study = make_study()
    study.pet.unit = VIMED_RAW
    study.suv_note = "raw units"
    with pytest.raises(SUVUnavailableError, match="raw units"):
        write_nifti_study(study, tmp_path)


def test_unreadable_and_missing_files(tmp_path):
    ct, _ = write_nifti_study(make_study(), tmp_path)
    junk = tmp_path / "junk.nii.gz"
    junk.write_bytes(b"definitely not gzip")
    with pytest.raises(ReadError, match="not a readable NIfTI file") as info:
        read_nifti_pair(ct, junk)
    assert str(junk) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ReadError, match="NIfTI file not found"):
        read_nifti_pair(ct, tmp_path / "absent.nii.gz")
