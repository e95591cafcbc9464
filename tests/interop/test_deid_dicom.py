"""DICOM PS3.15 de-identification: SUV exact, no profile attribute left, no private tag, PET/CT still pair."""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np
import pydicom
import pytest
import yaml
from deid_factories import PATIENT_ID, PATIENT_NAME, SECRET, deid_study, write_identified_dicom

from vipet.interop.deid_dicom import DicomDeidOptions
from vipet.interop.deid_keys import DeidKeys
from vipet.interop.deid_run import deidentify_tree
from vipet.io.dicom import read_dicom_study
from vipet.io.suv import F18_HALF_LIFE_S

KEYS = DeidKeys(SECRET)
IMPLEMENTED = ("patient", "modified_dates", "clean_descriptors")


def _deid(tmp_path: Path, **kwargs) -> tuple[Path, Path]:
    source = write_identified_dicom(tmp_path / "in", **kwargs)
    run = deidentify_tree(source, tmp_path / "out", KEYS, progress=False)
    assert run.failures == [] and run.done == 1
    (study_dir,) = [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    return source, study_dir


def _files(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p) for p in sorted(folder.rglob("*.dcm"))]


@pytest.mark.parametrize("decay", ["START", "ADMIN"])
def test_suv_after_deid_equals_the_original_across_midnight(tmp_path, decay):
    source, out = _deid(tmp_path, decay=decay)
    original, cleaned = read_dicom_study(source), read_dicom_study(out)
    np.testing.assert_allclose(cleaned.pet.array, original.pet.array, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(cleaned.ct.array, original.ct.array)
    # independent reference: the SUV the study was written with, to the int16 quantisation step
    truth = deid_study().pet.array
    step = truth.reshape(truth.shape[0], -1).max(axis=1)[:, None, None] / 32767
    assert np.all(np.abs(cleaned.pet.array - truth) <= step * 0.51 + 1e-6)
    # 23:40 -> 00:50 is 70 minutes of decay (START) or none (ADMIN): the factor the reader used
    dose = 3.7e8 * (math.pow(2.0, -4200.0 / F18_HALF_LIFE_S) if decay == "START" else 1.0)
    expected = 52.0 * 1000.0 / dose
    pet_files = [ds for ds in _files(out) if ds.Modality == "PT"]
    stored = pet_files[0].pixel_array * float(pet_files[0].RescaleSlope)
    ds_index = int(pet_files[0].InstanceNumber) - 1
    assert np.allclose(stored * expected, truth[ds_index], atol=float(step[ds_index, 0, 0]))
    moved = pet_files[0].RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime
    assert moved[8:] == "234000.000000" and moved[:8] != "20230417"
    assert pet_files[0].SeriesTime.startswith("005000") and pet_files[0].SeriesDate != "20230418"


def test_start_time_alone_on_the_scan_day_keeps_suv(tmp_path):
    """Without StartDateTime the reader puts StartTime on the (shifted) series day: still exact."""
    import datetime as dt

    from vipet.io.dicom_write import write_dicom_study

    source = tmp_path / "in"
    write_dicom_study(deid_study(), source, suv_tags={"series_datetime": dt.datetime(2023, 4, 17, 10, 0),
                                                      "injection_datetime": dt.datetime(2023, 4, 17, 8, 55),
                                                      "write_start_datetime": False})
    run = deidentify_tree(source, tmp_path / "out", KEYS, progress=False)
    assert run.done == 1
    (out,) = [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    np.testing.assert_allclose(read_dicom_study(out).pet.array, read_dicom_study(source).pet.array, rtol=0, atol=1e-6)


def _profile_rows() -> dict[int, dict]:
    raw = yaml.safe_load(resources.files("vipet.interop").joinpath("ps315_basic_profile.yaml").read_text("utf-8"))
    return {int(r["tag"], 16): r for r in raw["attributes"] if "X" not in r["tag"]}


def _walk(ds: pydicom.Dataset):
    for element in ds:
        yield element
        if element.VR == "SQ":
            for item in element.value:
                yield from _walk(item)


def _check_profile(original: pydicom.Dataset, cleaned: pydicom.Dataset, rows: dict[int, dict], seen: set) -> None:
    for element in original:
        tag = int(element.tag)
        if element.tag.is_private:
            assert element.tag not in cleaned
            continue
        row = rows.get(tag)
        if element.VR == "SQ":
            if element.tag in cleaned and len(cleaned[element.tag].value) == len(element.value):
                for a, b in zip(element.value, cleaned[element.tag].value):
                    _check_profile(a, b, rows, seen)
            continue
        if row is None or element.value in (None, ""):
            continue
        seen.add(element.keyword)
        retained = [row[c] for c in IMPLEMENTED if c in row]
        after = cleaned[element.tag].value if element.tag in cleaned else None
        if "K" in retained:
            assert after == element.value, element.keyword
        elif "C" in retained and element.VR == "TM":
            assert after == element.value, element.keyword  # whole-day shift: times of day kept
        elif "C" in retained and element.VR in ("DA", "DT"):
            assert after and after != element.value and len(after) == len(element.value), element.keyword
        elif "C" in retained:
            for word in ("NGUYEN", "HUNG", PATIENT_ID):
                assert word not in str(after), element.keyword
        else:
            assert after in (None, "") or after != element.value, element.keyword


def test_no_basic_profile_attribute_keeps_its_value_and_no_private_tag_survives(tmp_path):
    source, out = _deid(tmp_path)
    rows = _profile_rows()
    originals = {str(ds.SOPInstanceUID): ds for ds in _files(source)}
    seen: set = set()
    for cleaned in _files(out):
        assert not any(e.tag.is_private for e in _walk(cleaned))
        assert cleaned.file_meta.MediaStorageSOPInstanceUID == cleaned.SOPInstanceUID
        original = next(o for o in originals.values() if KEYS.uid(str(o.SOPInstanceUID)) == cleaned.SOPInstanceUID)
        _check_profile(original, cleaned, rows, seen)
        assert cleaned.PatientIdentityRemoved == "YES"
        assert [i.CodeValue for i in cleaned.DeidentificationMethodCodeSequence] == ["113100", "113108", "113107", "113105"]
        assert str(cleaned.PatientName) == str(cleaned.PatientID) == KEYS.patient_pseudonym(PATIENT_ID)
    # the check saw the attributes that carry identity here, so it cannot pass vacuously
    assert {"PatientName", "PatientID", "PatientBirthDate", "PatientAddress", "OtherPatientIDs", "AccessionNumber",
            "InstitutionName", "ReferringPhysicianName", "OperatorsName", "StudyInstanceUID", "SOPInstanceUID",
            "FrameOfReferenceUID", "StudyDate", "SeriesTime", "PatientWeight", "PatientSex", "PatientAge",
            "ReferencedSOPInstanceUID", "RequestedProcedureID", "RadiopharmaceuticalStartDateTime",
            "StudyDescription", "DeviceSerialNumber"} <= seen


def test_pet_and_ct_still_pair_and_references_resolve(tmp_path):
    source, out = _deid(tmp_path)
    cleaned = _files(out)
    assert len({ds.StudyInstanceUID for ds in cleaned}) == 1
    assert len({ds.FrameOfReferenceUID for ds in cleaned}) == 1
    assert cleaned[0].StudyInstanceUID != pydicom.dcmread(next(source.rglob("*.dcm"))).StudyInstanceUID
    ct_sops = {ds.SOPInstanceUID for ds in cleaned if ds.Modality == "CT"}
    pet = [ds for ds in cleaned if ds.Modality == "PT"]
    assert pet and all(ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID in ct_sops for ds in pet)
    # the layout: OUT/<study uid>/<series uid>/<sop uid>.dcm
    for path in out.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert path.relative_to(out.parent).parts == (ds.StudyInstanceUID, ds.SeriesInstanceUID, f"{ds.SOPInstanceUID}.dcm")
    study = read_dicom_study(out)
    assert study.report is not None and "NGUYỄN" not in study.report.full_text() and "D8" in study.report.full_text()


def test_uids_are_deterministic_per_secret_and_differ_between_secrets():
    assert KEYS.uid("1.2.3") == DeidKeys(SECRET).uid("1.2.3") != DeidKeys(b"other").uid("1.2.3")
    assert KEYS.uid("1.2.3").startswith("2.25.") and len(KEYS.uid("1.2.3")) <= 64
    assert -3652 <= KEYS.day_offset(PATIENT_ID) <= -365


def test_burned_in_annotation_is_refused_naming_the_file_unless_allowed(tmp_path):
    source = write_identified_dicom(tmp_path / "in")
    flagged = sorted((source / "PT").glob("*.dcm"))[0]
    ds = pydicom.dcmread(flagged)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(flagged)
    run = deidentify_tree(source, tmp_path / "out", KEYS, progress=False)
    assert run.done == 0 and len(run.failures) == 1
    where, reason = run.failures[0]
    assert where == str(flagged) and "BurnedInAnnotation" in reason
    assert not [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    allowed = deidentify_tree(source, tmp_path / "out2", KEYS, DicomDeidOptions(allow_burned_in=True), progress=False)
    assert allowed.done == 1 and allowed.failures == []
