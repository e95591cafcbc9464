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
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
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
        ({"series_datetime": dt.datetime(2020, 1, 2, 0, 20), "injection_datetime": dt.datetime(2020, 1, 1, 23, 30)},
         FACTOR_50_MIN),  # StartDateTime says the injection was the day before
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


def read_refused(folder: Path):
    """Read a study whose SUV must be refused: one SUVUnavailableWarning, PET kept as stored."""
    with pytest.warns(SUVUnavailableWarning):
        return read_dicom_study(folder)


def test_an_injection_after_the_scan_is_refused_not_moved_to_the_previous_day(tmp_path):
    """Regression: StartTime 12:00 with a 10:00 scan was read as 22 h uptake (SUV ~4,000x too high)."""
    folder = write_dicom_study(make_study(), tmp_path / "s", suv_tags={**TAGS_70KG, "write_start_datetime": False})
    activity, _ = raw_pet(folder)

    def inject_later(ds):
        ds.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartTime = "120000"

    edit_series(folder, "PT", inject_later)
    back = read_refused(folder)
    assert back.pet.unit == BQML
    assert back.suv_note == (
        "RadiopharmaceuticalStartTime (0018,1072) gives injection 2019-11-05T12:00:00, scan start "
        "2019-11-05T10:00:00 (SeriesDate/SeriesTime): injection is 7200 s after the scan start: an injection must "
        "precede the scan; a StartTime has no date: an injection the day before needs "
        "RadiopharmaceuticalStartDateTime (0018,1078)")
    np.testing.assert_allclose(back.pet.array, activity, rtol=1e-6)


def test_a_scan_after_midnight_with_only_a_start_time_is_refused(tmp_path):
    tags = {**TAGS_70KG, "write_start_datetime": False, "series_datetime": dt.datetime(2020, 1, 2, 0, 20),
            "injection_datetime": dt.datetime(2020, 1, 1, 23, 30)}
    back = read_refused(write_dicom_study(make_study(), tmp_path / "s", suv_tags=tags))
    assert back.pet.unit == BQML and "a StartTime has no date" in back.suv_note


def test_an_uptake_time_beyond_the_window_is_refused(tmp_path):
    tags = {**TAGS_70KG, "injection_offset_s": 7 * 3600.0}
    back = read_refused(write_dicom_study(make_study(), tmp_path / "s", suv_tags=tags))
    assert back.pet.unit == BQML and back.suv_note.endswith("uptake time 7.0 h exceeds 6 h (injection or scan date/time wrong?)")


@pytest.mark.parametrize(
    ("tag", "value", "note"),
    [
        ("PatientWeight", "70000", "PatientWeight (0010,1030): patient weight 70000 kg is outside 2-350 kg: likely grams"),
        ("RadionuclideTotalDose", "370", "RadionuclideTotalDose (0018,1074): injected dose 370 Bq is outside "
                                         "5e+06-2e+09 Bq: likely MBq"),
        ("RadionuclideHalfLife", "109.77", "RadionuclideHalfLife (0018,1075): half-life 109.77 s is outside "
                                           "60-432000 s or is F-18's 109.8: likely minutes"),
    ],
    ids=["grams", "MBq", "minutes"],
)
def test_unit_errors_keep_bqml_and_name_the_likely_unit(tmp_path, tag, value, note):
    """Regression: weight in grams, dose in MBq, half-life in minutes gave SUVmax 3e4..1.6e11, all accepted."""
    folder = write_dicom_study(make_study(), tmp_path / "s", suv_tags=TAGS_70KG)
    activity, _ = raw_pet(folder)

    def wrong_unit(ds):
        target = ds if tag == "PatientWeight" else ds.RadiopharmaceuticalInformationSequence[0]
        setattr(target, tag, value)

    edit_series(folder, "PT", wrong_unit)
    back = read_refused(folder)
    assert (back.pet.unit, back.suv_note) == (BQML, note)
    np.testing.assert_allclose(back.pet.array, activity, rtol=1e-6)


def test_implausible_patient_height_and_weight_are_dropped_with_a_note(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s", suv_tags={**TAGS_70KG, "weight_kg": 53000.0})

    def height_in_cm(ds):
        ds.PatientSize = "161"

    edit_series(folder, "PT", height_in_cm)
    back = read_refused(folder)
    assert back.patient.height_m is None and back.patient.weight_kg is None
    assert "PatientSize (0010,1020): patient height 161 m is outside 0.4-2.5 m: likely centimetres; height dropped" \
        in back.notes
    assert ("PatientWeight (0010,1030): patient weight 53000 kg is outside 2-350 kg: likely grams; weight dropped"
            in back.notes)
    assert back.pet.unit == BQML


def test_a_whole_volume_suv_max_above_the_limit_is_refused(tmp_path):
    study = make_study()
    study.pet.array[2, 3, 3] = 450.0  # every tag plausible, but SUVmax 450
    back = read_refused(write_dicom_study(study, tmp_path / "s", suv_tags=TAGS_70KG))
    assert back.pet.unit == BQML
    assert back.suv_note.startswith("whole-volume SUVmax 450") and "exceeds 200" in back.suv_note
    assert back.provenance["suv"]["note"] == back.suv_note


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"0 ", "RescaleSlope (0028,1053) '0' must be a positive finite number"),
        (b"-0.5", "RescaleSlope (0028,1053) '-0.5' must be a positive finite number"),
        (b"abc ", "RescaleSlope (0028,1053) 'abc' is not a number"),
        (b"inf ", "RescaleSlope (0028,1053) 'inf' must be a positive finite number"),
    ],
    ids=["zero", "negative", "unparsable", "infinite"],
)
def test_an_unusable_rescale_slope_refuses_the_series_naming_the_file_and_tag(tmp_path, raw, message):
    """Regression: slope 0 or unparsable was read as 1, a negative slope gave a negative SUV volume."""
    folder = write_dicom_study(make_study(), tmp_path / "s", suv_tags=TAGS_70KG)
    victim = folder / "PT" / "PT_0004.dcm"
    ds = pydicom.dcmread(victim)
    ds[0x00281053] = RawDataElement(Tag(0x00281053), "DS", len(raw), raw, 0, False, True)
    ds.save_as(victim)
    with pytest.raises(ReadError) as refused:
        read_dicom_study(folder)
    assert str(refused.value) == f"{victim}: {message}"


def test_an_unparsable_rescale_intercept_is_refused(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s")
    victim = folder / "CT" / "CT_0002.dcm"
    ds = pydicom.dcmread(victim)
    ds[0x00281052] = RawDataElement(Tag(0x00281052), "DS", 4, b"abc ", 0, False, True)
    ds.save_as(victim)
    with pytest.raises(ReadError) as refused:
        read_dicom_study(folder)
    assert str(refused.value) == f"{victim}: RescaleIntercept (0028,1052) 'abc' is not a finite number"


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

    lowest_z = min(float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in (pet_folder / "PT").iterdir())

    def real_frame(ds):  # the CT's frame, and a position that covers the CT (readers refuse disjoint volumes)
        ds.FrameOfReferenceUID = template.FrameOfReferenceUID
        x, y = (float(v) for v in template.ImagePositionPatient[:2])
        ds.ImagePositionPatient = [x - 100.0, y - 100.0, float(ds.ImagePositionPatient[2]) - lowest_z - 80.0]

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
