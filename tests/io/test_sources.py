"""Discovery over DICOM and NIfTI dataset roots, `read_study` dispatch, and refs that travel."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from io_factories import UNITLESS, make_study, write_unitless_nifti_pair

from vipet.errors import ReadError
from vipet.io import StudyRef, discover, load_study, read_study
from vipet.io.dicom import write_dicom_study
from vipet.io.nifti import write_nifti_study
from vipet.io.sources import is_study_folder
from vipet.study import BQML


def test_dicom_dataset_root_lists_one_ref_per_study_folder(tmp_path):
    for i in range(2):
        write_dicom_study(make_study(key=f"2023_11_0{i + 1}_patient_{i}"), tmp_path / f"study{i}", shuffle_names=i == 1)
    (tmp_path / "empty").mkdir()
    refs, problems = discover(tmp_path)
    assert [r.key for r in refs] == ["2023_11_01_patient_0", "2023_11_02_patient_1"]
    assert refs[0].format == "dicom" and refs[0].meta["year"] == 2023 and refs[0].meta["weight_kg"] == 52.0
    assert problems == [{"path": str(tmp_path / "empty"), "reason": "folder holds neither DICOM files nor a ct/pet NIfTI pair"}]
    assert load_study(refs[1]).key == "2023_11_02_patient_1"


def test_a_study_folder_is_not_mistaken_for_a_dataset(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "one")  # CT/ and PT/ subfolders of one study
    assert is_study_folder(folder) and not is_study_folder(tmp_path)
    refs, problems = discover(folder)
    assert len(refs) == 1 and refs[0].paths["folder"] == str(folder) and problems == []


def test_nifti_dataset_root(tmp_path):
    for i in range(2):
        write_nifti_study(make_study(key=f"2018_10_0{i + 1}_patient_{i}"), tmp_path / f"p{i}")
    refs, _ = discover(tmp_path)
    assert [r.format for r in refs] == ["nifti", "nifti"]
    assert refs[0].key == "2018_10_01_patient_0" and refs[0].meta["year"] == 2018
    study = load_study(refs[0])
    assert study.pet.unit == "SUVbw" and study.report is not None


def test_discovery_carries_the_given_unit_and_a_unitless_pair_is_refused_when_read(tmp_path):
    ct, pet = write_unitless_nifti_pair(tmp_path / "p0")
    ref = discover(tmp_path)[0][0]
    assert "pet_unit" not in ref.meta
    with pytest.raises(ReadError) as refused:
        load_study(ref)
    assert str(refused.value) == f"{pet}: {UNITLESS}"
    given = discover(tmp_path, pet_unit=BQML)[0][0]
    assert given.meta["pet_unit"] == BQML and load_study(given).pet.unit == BQML


def test_a_given_unit_outside_the_vocabulary_is_refused_whatever_the_format(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "d")
    for call in (lambda: discover(tmp_path, pet_unit="kBq"), lambda: read_study(folder, pet_unit="kBq")):
        with pytest.raises(ReadError) as refused:
            call()
        assert str(refused.value) == "pet_unit: unknown PET unit 'kBq'; expected one of SUVbw, BQML, CNTS, VIMED_RAW, UNKNOWN"


def test_refs_pickle_for_worker_processes(tmp_path):
    write_nifti_study(make_study(), tmp_path / "p0")
    ref = discover(tmp_path)[0][0]
    assert pickle.loads(pickle.dumps(ref)) == ref
    assert isinstance(ref, StudyRef)


def test_read_study_dispatch(tmp_path):
    study = make_study()
    dicom = write_dicom_study(study, tmp_path / "d")
    ct, pet = write_nifti_study(study, tmp_path / "n")
    assert np.array_equal(read_study(dicom).ct.array, study.ct.array)
    assert np.array_equal(read_study(tmp_path / "n").ct.array, study.ct.array)
    assert read_study(f"{ct},{pet}").key == study.key


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "absent", "no such file or folder"),
        (lambda p: _touch(p / "ct.nii.gz"), "needs both files"),
        (lambda p: _touch(p / "notes.txt"), "not a study"),
        (lambda p: "a.nii.gz,b.nii.gz,c.nii.gz", "'ct.nii.gz,pet.nii.gz'"),
        (lambda p: _touch(p / "root" / "metadata.csv").parent, "dataset root"),
    ],
)
def test_read_study_bad_paths_are_one_line_errors(tmp_path, make, message):
    with pytest.raises(ReadError, match=message) as info:
        read_study(make(tmp_path))
    assert "\n" not in str(info.value)


def test_discover_rejects_a_folder_without_studies(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ReadError, match="no studies found"):
        discover(tmp_path)
    with pytest.raises(ReadError, match="not a folder"):
        discover(tmp_path / "x.txt")


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    return path
