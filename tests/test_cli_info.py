"""`vipet info` through the real CLI: JSON for a study and a dataset root, one-line failure for a bad path."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pydicom
from typer.testing import CliRunner

from vipet.cli import app
from vipet.io.dicom import write_dicom_study
from vipet.io.nifti import write_nifti_study
from vipet.io.vimed import write_metadata_csv, write_vimed_study
from vipet.study import HU, SUV_BW, Patient, Study, Volume

runner = CliRunner()


def tiny_study(day: int) -> Study:
    pet = np.full((4, 6, 6), 1.5, dtype=np.float32)
    pet[2, 1, 4] = 9.0
    return Study(
        key=f"2019_12_{day:02d}_patient_{day}",
        ct=Volume(np.full((4, 12, 12), 40, dtype=np.int16), (3.0, 2.0, 2.0), HU),
        pet=Volume(pet, (3.0, 4.0, 4.0), SUV_BW),
        patient=Patient(id=f"patient_{day}", sex="M", height_m=1.7, weight_kg=65.0),
        study_date=dt.date(2019, 12, day),
        head_first=True,
    )


def test_info_json_on_a_dicom_study(tmp_path):
    folder = write_dicom_study(tiny_study(3), tmp_path / "study", shuffle_names=True)
    result = runner.invoke(app, ["info", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["key"] == "2019_12_03_patient_3"
    assert summary["modalities"]["CT"]["shape"] == [4, 12, 12]
    assert summary["modalities"]["PT"]["unit"] == "SUVbw"
    assert abs(summary["modalities"]["PT"]["suv_max"] - 9.0) < 1e-3


def test_info_json_on_a_dataset_root(tmp_path):
    rows = [write_vimed_study(tiny_study(day), tmp_path, suv_per_unit=0.001) for day in (1, 2)]
    write_metadata_csv(rows, tmp_path)
    result = runner.invoke(app, ["info", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["studies"] == 2 and summary["per_year"] == {"2019": 2}
    assert summary["modalities"]["CT"]["in_plane"] == {"12x12": 2}
    table = runner.invoke(app, ["info", str(tmp_path)])
    assert table.exit_code == 0 and "studies per year" in table.stdout


def test_info_on_a_bad_path_fails_with_one_line(tmp_path):
    result = runner.invoke(app, ["info", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nowhere" in lines[0]


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    return lines[0]


def test_info_refuses_a_nifti_pair_whose_pet_unit_nobody_gives(tmp_path):
    ct, pet = write_nifti_study(tiny_study(4), tmp_path / "pair")
    (tmp_path / "pair" / "study.json").unlink()
    pair = f"{ct},{pet}"
    assert one_error_line(runner.invoke(app, ["info", pair])) == (
        f"error: {pet}: NIfTI keeps no PET unit and no study.json records one: pass --pet-unit "
        "(SUVbw, BQML, CNTS, VIMED_RAW, UNKNOWN)")
    given = runner.invoke(app, ["info", pair, "--pet-unit", "BQML", "--json"])
    assert given.exit_code == 0, given.output
    assert json.loads(given.stdout)["modalities"]["PT"]["unit"] == "BQML"
    assert one_error_line(runner.invoke(app, ["info", pair, "--pet-unit", "kBq"])) == (
        "error: pet_unit: unknown PET unit 'kBq'; expected one of SUVbw, BQML, CNTS, VIMED_RAW, UNKNOWN")


def test_info_labels_unknown_dicom_units_unknown_and_says_why_there_is_no_suv(tmp_path):
    folder = write_dicom_study(tiny_study(5), tmp_path / "study", suv_tags={"weight_kg": 65.0, "total_dose_bq": 3.7e8})
    for path in (p for p in folder.rglob("*") if p.is_file()):
        ds = pydicom.dcmread(path)
        if ds.Modality == "PT":
            ds.Units = "XYZ"
            ds.save_as(path)
    result = runner.invoke(app, ["info", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    pet = json.loads(result.stdout)["modalities"]["PT"]
    assert pet["unit"] == "UNKNOWN" and "suv_max" not in pet
    assert pet["suv_note"] == "Units (0054,1001) = 'XYZ' is not BQML/CNTS/GML: SUV cannot be computed"
