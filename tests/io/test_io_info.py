"""`describe_path`: study and dataset summaries, corrupt files found from headers, table rendering."""

from __future__ import annotations

import json

import pytest
from io_factories import UNITLESS, make_study, write_unitless_nifti_pair

from vipet.errors import ReadError
from vipet.io.info import describe_path, render_info
from vipet.io.nifti import write_nifti_study
from vipet.io.vimed import write_metadata_csv, write_vimed_study


@pytest.fixture
def cohort(tmp_path):
    rows = [write_vimed_study(make_study(key=f"{2017 + 6 * (i % 2)}_11_0{i + 1}_patient_{i}", seed=i), tmp_path,
                              suv_per_unit=0.001) for i in range(3)]
    write_metadata_csv(rows, tmp_path)
    return tmp_path, rows


def test_study_summary_has_shapes_units_and_suv(cohort):
    root, rows = cohort
    summary = describe_path(root / rows[0]["ct_path"])
    assert summary["kind"] == "study" and summary["format"] == "vimed"
    assert summary["key"] == "2017_11_01_patient_0"
    pet = summary["modalities"]["PT"]
    assert pet["shape"] == [6, 8, 8] and pet["unit"] == "SUVbw" and pet["suv_max"] > pet["suv_mean"] > 0
    assert summary["modalities"]["CT"]["unit"] == "HU"
    json.dumps(summary)  # JSON-ready


def test_dataset_summary_counts_years_shapes_and_corrupt_files(cohort):
    root, rows = cohort
    victim = root / rows[1]["ct_path"]
    victim.write_bytes(victim.read_bytes()[:100])
    (root / rows[2]["report_path"]).unlink()
    summary = describe_path(root)
    assert summary["kind"] == "dataset" and summary["studies"] == 3 and summary["studies_readable"] == 2
    assert summary["per_year"] == {"2017": 2, "2023": 1}
    assert summary["modalities"]["CT"]["volumes"] == 2 and summary["modalities"]["PT"]["volumes"] == 3
    assert summary["modalities"]["PT"]["in_plane"] == {"8x8": 3}
    assert summary["problem_counts"] == {"corrupt_volume": 1, "missing_report": 1}
    assert summary["problems"][0]["path"] == str(victim) and "truncated or corrupt" in summary["problems"][0]["reason"]


def test_render_info_prints_tables(cohort, capsys):
    root, rows = cohort
    render_info(describe_path(root))
    render_info(describe_path(root / rows[0]["ct_path"]))
    out = capsys.readouterr().out
    for text in ("studies per year", "2023", "volumes (from headers)", "no problems found", "SUVmax", "SUVbw"):
        assert text in out


def test_bad_path_raises_read_error(tmp_path):
    with pytest.raises(ReadError, match="no such file or folder"):
        describe_path(tmp_path / "missing")


def test_a_nifti_pair_without_a_unit_is_refused_and_listed_in_a_dataset_summary(tmp_path):
    ct, pet = write_unitless_nifti_pair(tmp_path / "bare")
    write_nifti_study(make_study(key="2019_11_06_patient_8"), tmp_path / "recorded")
    with pytest.raises(ReadError) as refused:
        describe_path(f"{ct},{pet}")
    assert str(refused.value) == f"{pet}: {UNITLESS}"
    assert describe_path(f"{ct},{pet}", pet_unit="BQML")["modalities"]["PT"]["unit"] == "BQML"
    summary = describe_path(tmp_path)
    assert summary["problem_counts"] == {"unknown_pet_unit": 1} and summary["studies_readable"] == 2
    assert summary["problems"][0]["path"] == str(pet)
    assert describe_path(tmp_path, pet_unit="BQML")["problem_counts"] == {}
