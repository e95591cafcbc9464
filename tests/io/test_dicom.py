"""DICOM PET/CT reading: SUV against hand-computed factors, slice order, and every bad-input rule.

Expected SUV is computed independently of the reader: the stored integers and each file's
RescaleSlope/Intercept are read with plain pydicom, ordered by InstanceNumber, and multiplied by
the factor worked out by hand in test_suv.py (70 kg, 370 MBq, F-18).
"""

from __future__ import annotations

import datetime as dt
import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_factories import make_study
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from vipet.errors import ReadError, SUVUnavailableError
from vipet.io.dicom import SUVUnavailableWarning, read_dicom_study, write_dicom_study
from vipet.study import BQML, CNTS, SUV_BW, UNKNOWN_UNIT

FACTOR_60_MIN = 2.763367e-4
FACTOR_50_MIN = 2.594268e-4
FACTOR_ADMIN = 1.891892e-4
TAGS_70KG = {"weight_kg": 70.0, "total_dose_bq": 3.7e8}


def raw_pet(folder: Path) -> tuple[np.ndarray, list[float]]:
    """Rescaled PET values in InstanceNumber order, read with plain pydicom, and the slopes seen."""
    slices = {}
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".json":
            ds = pydicom.dcmread(path)
            if ds.Modality == "PT":
                slices[int(ds.InstanceNumber)] = (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept),
                                                  float(ds.RescaleSlope))
    ordered = [slices[n] for n in sorted(slices)]
    return np.stack([values for values, _ in ordered]), [slope for _, slope in ordered]


def edit_series(folder: Path, modality: str, edit) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".json":
            ds = pydicom.dcmread(path)
            if ds.Modality == modality:
                edit(ds)
                ds.save_as(path)


@pytest.mark.parametrize(
    ("tags", "factor"),
    [
        ({}, FACTOR_60_MIN),
        ({"decay_correction": "ADMIN"}, FACTOR_ADMIN),
        ({"write_start_datetime": False}, FACTOR_60_MIN),
        ({"write_start_datetime": False, "series_datetime": dt.datetime(2020, 1, 2, 0, 20),
          "injection_datetime": dt.datetime(2020, 1, 1, 23, 30)}, FACTOR_50_MIN),
        ({"acquisition_offset_s": -600.0}, FACTOR_50_MIN),  # SeriesTime after the first acquisition
        ({"units": "GML"}, 1.0),
        ({"units": "CNTS", "philips_suv_scale": 0.0005}, 0.0005),
    ],
    ids=["start-datetime", "admin", "start-time-only", "after-midnight", "series-after-acquisition", "gml", "cnts-philips"],
)
def test_suv_matches_hand_computed_factor(tmp_path, tags, factor):
    study = make_study()
    folder = write_dicom_study(study, tmp_path / "s", suv_tags={**TAGS_70KG, **tags}, shuffle_names=True)
    activity, slopes = raw_pet(folder)
    assert len(set(slopes)) == study.pet.shape[0]  # one slope per slice, all different
    back = read_dicom_study(folder)
    assert back.pet.unit == SUV_BW and back.suv_note is None
    np.testing.assert_allclose(back.pet.array, activity * factor, rtol=1e-4, atol=1e-7)
    # and the written SUV comes back (within the int16 quantisation of each slice)
    steps = study.pet.array.max(axis=(1, 2)) / 32767.0
    assert np.all(np.abs(back.pet.array - study.pet.array) <= steps[:, None, None] * 0.51 + 1e-6)


def test_start_datetime_wins_over_a_disagreeing_start_time(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s", suv_tags=TAGS_70KG)

    def shift_time(ds):
        ds.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartTime = "091000"

    edit_series(folder, "PT", shift_time)
    activity, _ = raw_pet(folder)
    np.testing.assert_allclose(read_dicom_study(folder).pet.array, activity * FACTOR_60_MIN, rtol=1e-4, atol=1e-7)

    def drop_datetime(ds):
        del ds.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime

    edit_series(folder, "PT", drop_datetime)  # now StartTime 09:10 is all there is: 50 min uptake
    np.testing.assert_allclose(read_dicom_study(folder).pet.array, activity * FACTOR_50_MIN, rtol=1e-4, atol=1e-7)


def test_missing_weight_keeps_bqml_warns_once_and_names_the_tag(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s", suv_tags={**TAGS_70KG, "weight_kg": None})
    activity, _ = raw_pet(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        back = read_dicom_study(folder)
    suv_warnings = [w for w in caught if issubclass(w.category, SUVUnavailableWarning)]
    assert len(suv_warnings) == 1 and "PatientWeight (0010,1030) missing" in str(suv_warnings[0].message)
    assert back.pet.unit == BQML
    assert back.suv_note == "PatientWeight (0010,1030) missing"
    np.testing.assert_allclose(back.pet.array, activity, rtol=1e-6)
    with pytest.raises(SUVUnavailableError, match=r"PatientWeight \(0010,1030\) missing"):
        back.pet_suv()
    assert back.provenance["suv"]["weight_kg"] is None


def test_cnts_without_vendor_factor_is_kept_as_counts(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s", suv_tags={"units": "CNTS"})
    with pytest.warns(SUVUnavailableWarning):
        back = read_dicom_study(folder)
    assert back.pet.unit == CNTS and "(7053,1000)" in back.suv_note
    with pytest.raises(SUVUnavailableError, match=r"7053,1000"):
        back.pet_suv()


def test_units_no_rule_understands_are_labelled_unknown_and_suv_is_refused_naming_the_tag(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s", suv_tags=TAGS_70KG)
    activity, _ = raw_pet(folder)
    edit_series(folder, "PT", lambda ds: setattr(ds, "Units", "XYZ"))
    with pytest.warns(SUVUnavailableWarning):
        back = read_dicom_study(folder)
    note = "Units (0054,1001) = 'XYZ' is not BQML/CNTS/GML: SUV cannot be computed"
    assert back.pet.unit == UNKNOWN_UNIT and back.suv_note == note
    np.testing.assert_allclose(back.pet.array, activity, rtol=1e-6)  # values kept as stored, not relabelled
    with pytest.raises(SUVUnavailableError) as refused:
        back.pet_suv()
    assert str(refused.value) == f"{folder}: SUV needed but unavailable: {note}"


def test_provenance_traces_every_suv_input(tmp_path):
    back = read_dicom_study(write_dicom_study(make_study(), tmp_path / "s", suv_tags=TAGS_70KG))
    trace = back.provenance["suv"]
    for key in ("units", "corrected_image", "decay_correction", "weight_kg", "total_dose_bq", "half_life_s",
                "injection", "injection_source", "scan_start", "scan_start_source", "elapsed_s", "suv_factor"):
        assert key in trace
    assert trace["suv_factor"] == pytest.approx(FACTOR_60_MIN, rel=1e-4)


def test_non_dicom_and_non_image_files_are_ignored_with_notes(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s", shuffle_names=True)
    (folder / "readme.txt").write_text("not dicom")
    (folder / "sub").mkdir()
    (folder / "sub" / "blob.bin").write_bytes(b"\x00" * 300)
    _write_structured_report(folder / "sr.dcm")
    back = read_dicom_study(folder)
    assert "ignored non-DICOM file readme.txt" in back.notes
    assert "ignored non-DICOM file sub/blob.bin" in back.notes
    assert any(n.startswith("ignored non-image DICOM object sr.dcm (Modality SR)") for n in back.notes)
    assert back.pet.unit == SUV_BW


def test_two_pet_series_is_an_error(tmp_path):
    first = write_dicom_study(make_study(), tmp_path / "a")
    second = write_dicom_study(make_study(key="2019_11_05_patient_8"), tmp_path / "b")
    shutil.copytree(second / "PT", first / "PT2")
    with pytest.raises(ReadError, match="2 PET series found, expected one") as info:
        read_dicom_study(first)
    assert str(first) in str(info.value) and "\n" not in str(info.value)


def test_different_frames_of_reference_is_an_error(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s")

    def other_frame(ds):
        ds.FrameOfReferenceUID = "1.2.3.4.5"

    edit_series(folder, "PT", other_frame)
    with pytest.raises(ReadError, match="PET and CT have different FrameOfReferenceUID"):
        read_dicom_study(folder)


@pytest.mark.parametrize(("remove", "message"), [("CT", "no CT image series found"), ("PT", "no PET")])
def test_missing_modality_is_an_error(tmp_path, remove, message):
    folder = write_dicom_study(make_study(), tmp_path / "s")
    shutil.rmtree(folder / remove)
    with pytest.raises(ReadError, match=message):
        read_dicom_study(folder)


def test_truncated_slice_is_an_error_naming_the_file(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s")
    victim = folder / "PT" / "PT_0003.dcm"
    victim.write_bytes(victim.read_bytes()[:-40])
    with pytest.raises(ReadError) as info:
        read_dicom_study(folder)
    assert "PT_0003.dcm" in str(info.value) and "\n" not in str(info.value)


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(ReadError, match="DICOM folder not found"):
        read_dicom_study(tmp_path / "nope")


def test_real_ct_slices_from_pydicom_pair_with_a_written_pet(tmp_path):
    """pydicom's real CT_small.dcm, copied to three positions in shuffled order, plus a PET on its frame."""
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    folder = tmp_path / "real"
    folder.mkdir()
    expected = []
    for index, z in enumerate([-75.7, -70.7, -65.7]):  # files named against their order
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.ImagePositionPatient = [template.ImagePositionPatient[0], template.ImagePositionPatient[1], z]
        ds.InstanceNumber = index + 1
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(folder / f"ct_{9 - index}.dcm")
        expected.append(ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
    pet_folder = write_dicom_study(make_study(), tmp_path / "pet")

    def real_frame(ds):
        ds.FrameOfReferenceUID = template.FrameOfReferenceUID

    edit_series(pet_folder, "PT", real_frame)
    shutil.copytree(pet_folder / "PT", folder / "PT")
    back = read_dicom_study(folder)
    assert back.ct.shape == (3, 128, 128)
    assert back.head_first is False  # instance numbers rise from z -75.7 upwards: feet -> head
    assert np.array_equal(back.ct.array, np.stack(expected))
    assert back.ct.spacing == pytest.approx((5.0, 0.661468, 0.661468), rel=1e-5)


def _write_structured_report(path: Path) -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.SeriesInstanceUID = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
