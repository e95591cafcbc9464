"""Each writer's output reads back as the same study: arrays, geometry, units, patient, report."""

from __future__ import annotations

import numpy as np
import pytest

from io_factories import make_study
from vipet.io import discover, load_study, read_study
from vipet.io.dicom import read_dicom_study, write_dicom_study
from vipet.io.nifti import read_nifti_pair, write_nifti_study
from vipet.io.vimed import iter_vimed, write_metadata_csv, write_vimed_study
from vipet.study import SUV_BW, VIMED_RAW


def _pet_close(read, written):
    # PET is stored as int16 with slope = slice max / 32767: error <= half a step of the slice max.
    steps = written.max(axis=(1, 2)) / 32767.0
    assert np.all(np.abs(read - written) <= steps[:, None, None] * 0.5 + 1e-6)


@pytest.mark.parametrize("head_first", [True, False])
def test_vimed_round_trip_with_suv_per_unit(tmp_path, head_first):
    study = make_study(head_first=head_first)
    row = write_vimed_study(study, tmp_path, suv_per_unit=0.001)
    write_metadata_csv([row], tmp_path)
    [back] = list(iter_vimed(tmp_path))
    assert back.key == study.key == "2019_11_05_patient_7"
    assert back.study_date == study.study_date
    assert back.patient == study.patient
    assert back.head_first is head_first
    assert back.ct.spacing == study.ct.spacing and back.pet.spacing == study.pet.spacing
    assert np.array_equal(back.ct.array, study.ct.array) and back.ct.array.dtype == np.int16
    assert back.pet.unit == SUV_BW
    assert np.allclose(back.pet.array, np.rint(study.pet.array / 0.001) * 0.001, atol=1e-6)
    assert back.report == study.report
    assert back.notes == []


def test_vimed_without_suv_per_unit_is_raw_like_the_real_cohort(tmp_path):
    study = make_study()
    row = write_vimed_study(study, tmp_path, suv_per_unit=None)
    write_metadata_csv([row], tmp_path)
    back = load_study(discover(tmp_path)[0][0])
    assert back.pet.unit == VIMED_RAW and back.pet.array.dtype == np.int16
    assert int(back.pet.array.max()) == 32767
    assert "raw scanner units" in back.suv_note
    hot = np.unravel_index(np.argmax(study.pet.array), study.pet.shape)
    assert np.unravel_index(np.argmax(back.pet.array), back.pet.shape) == hot


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("head_first", [True, False])
def test_dicom_round_trip_keeps_array_order_and_suv(tmp_path, shuffle, head_first):
    study = make_study(head_first=head_first)
    folder = write_dicom_study(study, tmp_path / "study", shuffle_names=shuffle, seed=3)
    back = read_dicom_study(folder)
    assert back.key == study.key
    assert back.head_first is head_first
    assert np.array_equal(back.ct.array, study.ct.array)
    assert back.pet.unit == SUV_BW
    _pet_close(back.pet.array, study.pet.array)
    assert np.allclose(back.ct.spacing, study.ct.spacing) and np.allclose(back.pet.spacing, study.pet.spacing)
    assert back.patient == study.patient and back.study_date == study.study_date
    assert back.report == study.report
    assert back.notes == []


@pytest.mark.parametrize("head_first", [True, False])
def test_nifti_round_trip(tmp_path, head_first):
    study = make_study(head_first=head_first)
    ct_path, pet_path = write_nifti_study(study, tmp_path / "pair")
    back = read_nifti_pair(ct_path, pet_path, SUV_BW)
    assert back.key == study.key and back.patient == study.patient and back.study_date == study.study_date
    assert back.head_first is head_first
    assert np.array_equal(back.ct.array, study.ct.array)
    assert np.allclose(back.pet.array, study.pet.array)
    assert np.allclose(back.ct.spacing, study.ct.spacing)
    assert back.report == study.report
    same = read_study(f"{ct_path},{pet_path}")
    assert np.array_equal(same.pet.array, back.pet.array)


def test_dicom_and_nifti_agree_on_geometry(tmp_path):
    """The same study through both formats lands on the same affine (index -> LPS mm)."""
    study = make_study()
    via_dicom = read_dicom_study(write_dicom_study(study, tmp_path / "d"))
    via_nifti = read_nifti_pair(*write_nifti_study(study, tmp_path / "n"), SUV_BW)
    assert np.allclose(via_dicom.ct.affine, via_nifti.ct.affine, atol=1e-4)
    assert np.allclose(via_dicom.pet.affine, via_nifti.pet.affine, atol=1e-4)
