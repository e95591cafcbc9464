"""DICOM series and NIfTI pairs on generated input (issue 19): any value in the geometry, spacing,
UID and rescale tags of a slice, and any JSON in a NIfTI pair's `study.json`, gives a `Study` or a
one-line `ReadError` naming a file of the study; never a ValueError or AttributeError.
150 + 100 = 250 inputs.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import pydicom
import pytest
from fuzzkit import count, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from io_factories import make_study  # noqa: E402  (the io tests' tiny study)

from vipet.errors import ReadError  # noqa: E402
from vipet.io.dicom import read_dicom_study, write_dicom_study  # noqa: E402
from vipet.io.nifti import read_nifti_pair, write_nifti_study  # noqa: E402
from vipet.study import Study  # noqa: E402

TAGS = ["ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness", "RescaleSlope",
        "RescaleIntercept", "SeriesInstanceUID", "PatientWeight", "Rows", "NumberOfSlices"]
TAG_VALUES = st.one_of(
    st.lists(st.sampled_from(["0", "1", "-1", "0.0", "1e309", "nan", "abc", "", "1\\2", "\x00", "1.5"]), min_size=1,
             max_size=7).map(lambda parts: "\\".join(parts)),
    st.text(alphabet="0123456789.-\\eE xÿ\x00", max_size=20),
)


@pytest.fixture(scope="module")
def dicom_template(tmp_path_factory) -> Path:
    return write_dicom_study(make_study(), tmp_path_factory.mktemp("dicom") / "s")


def _read_or_refuse(reader, folder: Path, *args):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return reader(*args)
    except ReadError as exc:
        assert "\n" not in str(exc) and str(folder) in str(exc), str(exc)
        return None


@fuzz_settings(150, deadline_s=30)
@given(modality=st.sampled_from(["CT", "PT"]), slice_no=st.integers(1, 6), tag=st.sampled_from(TAGS), value=TAG_VALUES)
def test_any_value_in_a_slice_tag_gives_a_study_or_one_error_naming_the_file(dicom_template, modality, slice_no, tag, value):
    count("dicom tag")
    folder = Path(tempfile.mkdtemp(prefix="vipet-fuzz-")) / "s"
    shutil.copytree(dicom_template, folder)
    victim = folder / modality / f"{modality}_{slice_no:04d}.dcm"
    ds = pydicom.dcmread(victim)
    element = ds[tag] if tag in ds else None
    raw = value.encode("latin-1", "replace")
    if element is None:
        return
    # Write the bytes as they would arrive from a damaged file, bypassing pydicom's value checks.
    from pydicom.dataelem import RawDataElement

    ds[element.tag] = RawDataElement(element.tag, element.VR, len(raw) + len(raw) % 2,
                                     raw + b" " * (len(raw) % 2), 0, False, True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.save_as(victim)
    except Exception:  # pydicom cannot write this value at all: no such file can exist
        return
    result = _read_or_refuse(read_dicom_study, folder, folder)
    assert result is None or isinstance(result, Study)


def test_a_corrupted_series_uid_says_it_is_malformed_and_names_the_file(dicom_template, tmp_path):
    """Regression: corrupted UID bytes were reported as "2 PET series found"."""
    folder = tmp_path / "s"
    shutil.copytree(dicom_template, folder)
    victim = folder / "PT" / "PT_0002.dcm"
    uid = pydicom.dcmread(victim).SeriesInstanceUID.encode()
    raw = bytearray(victim.read_bytes())
    at = raw.find(uid)
    raw[at + 3 : at + 6] = b"\xff\xfe\x07"
    victim.write_bytes(bytes(raw))
    with pytest.raises(ReadError) as refused:
        read_dicom_study(folder)
    assert str(refused.value).startswith(f"{victim}: series UID is malformed: SeriesInstanceUID (0020,000E)")
    assert "PET series found" not in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(("tag", "value", "message"), [
    ("ImagePositionPatient", b"1\\x\\3 ", "ImagePositionPatient (0020,0032)"),
    ("ImageOrientationPatient", b"1\\0\\0\\0\\y\\0 ", "ImageOrientationPatient (0020,0037)"),
    ("PixelSpacing", b"0\\0 ", "PixelSpacing (0028,0030)"),
])
def test_non_numeric_geometry_and_zero_spacing_are_one_error_naming_the_tag(dicom_template, tmp_path, tag, value, message):
    """Regression: these raised ValueError tracebacks."""
    from pydicom.dataelem import RawDataElement

    folder = tmp_path / "s"
    shutil.copytree(dicom_template, folder)
    victim = folder / "CT" / "CT_0003.dcm"
    ds = pydicom.dcmread(victim)
    element = ds[tag]
    ds[element.tag] = RawDataElement(element.tag, element.VR, len(value), value, 0, False, True)
    ds.save_as(victim)
    with pytest.raises(ReadError) as refused:
        read_dicom_study(folder)
    assert str(refused.value).startswith(f"{victim}: {message}")


@pytest.fixture(scope="module")
def nifti_template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("nifti") / "s"
    write_nifti_study(make_study(), folder)
    return folder


SIDECAR_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                              lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                          max_size=3), max_leaves=8)


@fuzz_settings(100, deadline_s=20)
@given(changes=st.dictionaries(st.sampled_from(["patient", "key", "study_date", "pet_unit", "spacing", "bogus"]),
                               SIDECAR_VALUES, max_size=3),
       patient=st.dictionaries(st.sampled_from(["id", "sex", "height_m", "weight_kg"]), SIDECAR_VALUES, max_size=3))
def test_any_study_json_beside_a_nifti_pair_gives_a_study_or_one_error(nifti_template, changes, patient):
    count("nifti sidecar")
    folder = Path(tempfile.mkdtemp(prefix="vipet-fuzz-")) / "s"
    shutil.copytree(nifti_template, folder)
    sidecar = folder / "study.json"
    obj = json.loads(sidecar.read_text(encoding="utf-8"))
    if isinstance(obj.get("patient"), dict):
        obj["patient"].update(patient)
    obj.update(changes)
    sidecar.write_text(json.dumps(obj), encoding="utf-8")
    ct, pet = sorted(folder.glob("*.nii*"))[:2] if len(list(folder.glob("*.nii*"))) == 2 else (None, None)
    from vipet.io.nifti import find_pair

    pair = find_pair(folder)
    assert pair is not None
    result = _read_or_refuse(read_nifti_pair, folder, *pair)
    assert result is None or isinstance(result, Study)


def test_a_sidecar_patient_that_is_a_list_is_not_an_attribute_error(nifti_template, tmp_path):
    from vipet.io.nifti import find_pair

    folder = tmp_path / "s"
    shutil.copytree(nifti_template, folder)
    obj = json.loads((folder / "study.json").read_text(encoding="utf-8"))
    obj["patient"] = ["x", 1]
    (folder / "study.json").write_text(json.dumps(obj), encoding="utf-8")
    study = read_nifti_pair(*find_pair(folder))
    assert any("patient" in note for note in study.notes)
