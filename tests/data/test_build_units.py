"""The build never guesses a PET unit: a NIfTI pair needs `pet_unit` (or a study.json recording one),
and PET whose DICOM `Units` no rule understands is built as UNKNOWN, never as SUV."""

from __future__ import annotations

import datetime as dt
import json

import pydicom
import pytest
from phantom import make_phantom
from typer.testing import CliRunner

from vipet.cli import app
from vipet.data.build import build_dataset
from vipet.data.config import BuildConfig
from vipet.data.manifest import read_manifest
from vipet.errors import BuildError
from vipet.io.dicom import write_dicom_study
from vipet.io.nifti import write_nifti_study

CONFIG = BuildConfig(target_shape=(8, 16, 16), renders=False)
CLI_OPTIONS = ["--target-shape", "8,16,16", "--no-renders", "--export", "none"]
UNKNOWN_NOTE = "Units (0054,1001) = 'XYZ' is not BQML/CNTS/GML: SUV cannot be computed"


def phantom_study(day: int):
    study, _ = make_phantom(key=f"2018_10_{day:02d}_patient_{day}")
    study.patient.id = f"patient_{day}"
    study.study_date = dt.date(2018, 10, day)
    return study


@pytest.fixture(scope="module")
def unitless_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("nifti")
    pets = []
    for day in (1, 2):
        _, pet = write_nifti_study(phantom_study(day), root / f"s{day}")
        (root / f"s{day}" / "study.json").unlink()
        pets.append(pet)
    return root, pets


@pytest.fixture(scope="module")
def unknown_units_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicom")
    folder = write_dicom_study(phantom_study(3), root / "s3", suv_tags={"weight_kg": 65.0, "total_dose_bq": 3.7e6})
    # (a small dose keeps the activity inside float16, the cache's PET dtype)
    for path in (p for p in folder.rglob("*") if p.is_file()):
        ds = pydicom.dcmread(path)
        if ds.Modality == "PT":
            ds.Units = "XYZ"
            ds.save_as(path)
    return root


def test_a_unitless_nifti_dataset_is_refused_before_anything_is_built(unitless_root, tmp_path):
    root, pets = unitless_root
    with pytest.raises(BuildError) as refused:
        build_dataset(root, tmp_path / "out", CONFIG, exports=(), progress=False)
    assert str(refused.value) == (f"{sorted(pets)[0]}: NIfTI keeps no PET unit and no study.json records one "
                                  "(and 1 more NIfTI studies): pass --pet-unit")
    assert not (tmp_path / "out" / "cache").exists()
    result = CliRunner().invoke(app, ["build", str(root), str(tmp_path / "cli"), *CLI_OPTIONS])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and lines == [f"error: {refused.value}"]


def test_the_given_unit_is_built_and_recorded_and_another_unit_rebuilds(unitless_root, tmp_path):
    root, _ = unitless_root
    report = build_dataset(root, tmp_path, CONFIG, exports=(), progress=False, pet_unit="BQML")
    assert len(report["built"]) == 2 and report["failed"] == []
    assert {row["pet_unit"] for row in read_manifest(tmp_path)} == {"BQML"}
    same = build_dataset(root, tmp_path, CONFIG, exports=(), progress=False, pet_unit="BQML")
    assert same["built"] == [] and len(same["skipped_existing"]) == 2
    other = build_dataset(root, tmp_path, CONFIG, exports=(), progress=False, pet_unit="SUVbw")
    assert len(other["built"]) == 2 and other["skipped_existing"] == []  # a cache in BQML is not a cache in SUVbw
    assert {row["pet_unit"] for row in read_manifest(tmp_path)} == {"SUVbw"}


def test_unknown_dicom_units_build_as_unknown_and_suv_normalisation_is_refused_naming_the_tag(unknown_units_root, tmp_path):
    report = build_dataset(unknown_units_root, tmp_path / "auto", CONFIG, exports=(), progress=False)
    assert report["failed"] == [] and {row["pet_unit"] for row in read_manifest(tmp_path / "auto")} == {"UNKNOWN"}
    suv = CliRunner().invoke(app, ["build", str(unknown_units_root), str(tmp_path / "suv"), *CLI_OPTIONS,
                                   "--pet-norm", "suv", "--json"])
    assert suv.exit_code == 1
    assert suv.stderr.strip().splitlines() == [f"error: {tmp_path / 'suv'}: no study could be built (see build_report.json)"]
    (failure,) = json.loads(suv.stdout)["failed"]
    assert failure["reason"] == f"{unknown_units_root / 's3'}: SUV needed but unavailable: {UNKNOWN_NOTE}"
