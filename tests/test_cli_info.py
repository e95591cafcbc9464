"""`vipet info` through the real CLI: JSON for a study and a dataset root, one-line failure for a bad path."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
from typer.testing import CliRunner

from vipet.cli import app
from vipet.io.dicom import write_dicom_study
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
