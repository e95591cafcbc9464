"""Every ViMed-PET packaging written by `vipet.synth.packagings` reads back to the same arrays and reports,
is named by `vipet info`, and a folder that is none of them gets one line saying what was found."""

from __future__ import annotations

import json

import numpy as np
import pytest
from io_factories import make_study
from typer.testing import CliRunner

from vipet.cli import app
from vipet.errors import ReadError
from vipet.io import discover, load_study
from vipet.io.info import describe_path
from vipet.io.npz import load_volume, npy_header, save_npy_volume, volume_header
from vipet.io.vimed_packaging import HF_PARTS, LAYOUT, REGION_CROPS, TABLE, detect_packaging, read_region_crops
from vipet.schema import CHEST, Report
from vipet.study import VIMED_RAW, Volume
from vipet.synth.packagings import (
    write_hf_part,
    write_layout_without_table,
    write_region_crops,
    write_table_layout,
)

ENGLISH = {"Findings": {"Chest": "A right lung nodule 9 mm (SUVmax 5.2)."}, "Impression": "Likely malignant."}


def raw_studies():
    """Two tiny studies with PET in raw int16 units (what every packaging stores verbatim) and an
    English report on the first."""
    studies = []
    for seed, key in enumerate(("2019_11_05_patient_7", "2023_02_17_patient_12")):
        study = make_study(key=key, seed=seed)
        raw = np.rint(study.pet.array * 1000).astype(np.int16)
        study.pet = Volume(raw, study.pet.spacing, VIMED_RAW)
        studies.append(study)
    studies[0].report_en = ENGLISH
    return studies


def assert_same(read, written):
    assert read.key == written.key
    for got, want in ((read.ct, written.ct), (read.pet, written.pet)):
        assert got.array.dtype == want.array.dtype
        np.testing.assert_array_equal(got.array, want.array)
    assert read.report == written.report
    assert read.report_en == written.report_en


@pytest.mark.parametrize("ext", ["npz", "npy"])
def test_table_layout_reads_back_identical(tmp_path, ext):
    studies = raw_studies()
    write_table_layout(studies, tmp_path, volume_ext=ext)
    assert sorted(p.suffix for p in (tmp_path / "PETCT2019" / "THANG 11" / "CT").iterdir()) == [f".{ext}"]
    assert detect_packaging(tmp_path).kind == TABLE
    refs, problems = discover(tmp_path)
    assert problems == []
    for ref, study in zip(sorted(refs, key=lambda r: r.key), studies):
        assert_same(load_study(ref), study)
    summary = describe_path(tmp_path)
    assert (summary["packaging"], summary["studies"], summary["problem_counts"]) == (TABLE, 2, {})
    assert summary["modalities"]["CT"]["slices"]["max"] == 6


def test_layout_without_table_takes_the_year_from_the_folder(tmp_path):
    studies = raw_studies()
    write_layout_without_table(studies, tmp_path, volume_ext="npy")
    assert not (tmp_path / "metadata.csv").exists() and not (tmp_path / ".packaging_staging").exists()
    packaging = detect_packaging(tmp_path)
    assert (packaging.kind, packaging.volume_suffixes) == (LAYOUT, (".npy",))
    refs, problems = discover(tmp_path)
    assert problems == []
    assert [r.meta["year"] for r in refs] == [2019, 2023]
    for ref, study in zip(refs, studies):
        assert_same(load_study(ref), study)


def test_hf_part_year_from_the_table_one_folder_up(tmp_path):
    studies = raw_studies()
    part = write_hf_part(studies, tmp_path, part="part_3")
    assert sorted(p.name for p in part.iterdir()) == ["THANG 11", "THANG 2"]
    assert (tmp_path / "metadata.csv").is_file()
    assert detect_packaging(part).kind == HF_PARTS
    refs, problems = discover(part)
    assert problems == []
    by_key = {r.key: r for r in refs}
    for study in studies:
        read = load_study(by_key[study.key])
        assert_same(read, study)
        assert read.patient.weight_kg == study.patient.weight_kg  # demographics came from the table too


def test_hf_part_without_a_year_needs_the_option(tmp_path):
    studies = raw_studies()[:1]
    part = write_hf_part(studies, tmp_path, with_table=False)
    with pytest.raises(ReadError) as caught:
        discover(part)
    assert "pass --year" in str(caught.value) and "\n" not in str(caught.value)
    refs, problems = discover(part, year=2019)
    assert problems == [] and [r.key for r in refs] == [studies[0].key]
    assert_same(load_study(refs[0]), studies[0])
    result = CliRunner().invoke(app, ["info", str(part), "--year", "2019", "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert (summary["packaging"], summary["per_year"]) == (HF_PARTS, {"2019": 1})


def test_hf_part_study_listed_under_two_years_is_a_problem(tmp_path):
    study = raw_studies()[0]
    part = write_hf_part([study], tmp_path)
    table = (tmp_path / "metadata.csv").read_text(encoding="utf-8").splitlines()
    other_year = table[1].replace("PETCT2019", "PETCT2020").replace(",2019,", ",2020,")
    (tmp_path / "metadata.csv").write_text("\n".join([*table, other_year]) + "\n", encoding="utf-8")
    refs, problems = discover(part)
    assert refs == []
    assert [p["kind"] for p in problems] == ["bad_row"]
    assert "years [2019, 2020]" in problems[0]["reason"] and "--year" in problems[0]["reason"]


def test_hf_part_ct_without_pet_is_a_problem_not_a_study(tmp_path):
    part = write_hf_part(raw_studies(), tmp_path)
    next((part / "THANG 2" / "PET").glob("*.npy")).unlink()
    refs, problems = discover(part)
    assert [r.key for r in refs] == ["2019_11_05_patient_7"]
    assert [(p["kind"], "PET volume missing" in p["reason"]) for p in problems] == [("missing_volume", True)]


def test_region_crops_read_back_identical(tmp_path):
    rng = np.random.default_rng(1)
    crops = [("2019_11_05_patient_7", region, rng.integers(0, 32767, size=(3 + i, 5, 4)).astype(np.int16), text)
             for i, (region, text) in enumerate([("head_neck", "Não sinh lý."), ("chest", "Nốt phổi phải 9 mm."),
                                                 ("abdomen_pelvis", "")])]
    write_region_crops(crops, tmp_path)
    assert detect_packaging(tmp_path).kind == REGION_CROPS
    read, problems = read_region_crops(tmp_path)
    assert problems == []
    assert [(c.region, c.report, c.image) for c in read] == [
        (region, text, f"images/{region}/2019_11_05_patient_7.npy") for _, region, _, text in crops]
    for crop, (_, _, array, _) in zip(read, crops):
        got = load_volume(crop.path)
        assert got.dtype == np.int16
        np.testing.assert_array_equal(got, array)
    summary = describe_path(tmp_path)
    assert (summary["packaging"], summary["studies"]) == (REGION_CROPS, 1)
    assert summary["per_region"] == {"head_neck": 1, "chest": 1, "abdomen_pelvis": 1}
    with pytest.raises(ReadError, match="region crops"):
        discover(tmp_path)  # not whole-body studies: build refuses in one line


def test_region_crops_problems_missing_image_escape_and_unnamed(tmp_path):
    write_region_crops([("a", "chest", np.ones((2, 4, 4), np.int16), "Nốt phổi.")], tmp_path)
    records = json.loads((tmp_path / "data.json").read_text(encoding="utf-8"))
    records.append({"id": "gone", "image": "images/chest/gone.npy", "conversations": [{"from": "gpt", "value": "x"}]})
    records.append({"id": "out", "image": "../../etc/passwd", "conversations": [{"from": "gpt", "value": "x"}]})
    (tmp_path / "data.json").write_text(json.dumps(records), encoding="utf-8")
    save_npy_volume(tmp_path / "images" / "head_neck" / "orphan.npy", np.ones((2, 4, 4), np.int16))
    crops, problems = read_region_crops(tmp_path)
    assert [c.id for c in crops] == ["a_chest"]
    assert [p["kind"] for p in problems] == ["missing_volume", "missing_volume", "missing_report"]
    assert "orphan.npy" in problems[2]["path"]


def test_unrecognised_folder_is_one_line_naming_found_and_expected(tmp_path):
    (tmp_path / "scans").mkdir()
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ReadError) as caught:
        discover(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "found notes.txt, scans/" in message
    assert "expected metadata.csv, PETCT{year}/THANG {m}" in message and "region crops" in message
    result = CliRunner().invoke(app, ["info", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and result.output.startswith("error: ")


def test_npy_reader_refuses_pickles_truncation_and_wrong_rank(tmp_path):
    good = tmp_path / "good.npy"
    save_npy_volume(good, np.arange(2 * 4 * 4, dtype=np.int16).reshape(2, 4, 4))
    assert volume_header(good) == ((2, 4, 4), "int16") == npy_header(good)
    short = tmp_path / "short.npy"
    short.write_bytes(good.read_bytes()[:-5])
    for bad in (short,):
        with pytest.raises(ReadError, match="truncated"):
            npy_header(bad)
        with pytest.raises(ReadError, match="truncated"):
            load_volume(bad)
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ReadError):
        load_volume(pickled)
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((4, 4), np.int16))
    with pytest.raises(ReadError, match="3-D"):
        load_volume(flat)


def test_table_with_npy_paths_parses_and_reports_are_kept(tmp_path):
    studies = raw_studies()
    studies[1].report = Report(sections={**studies[1].report.sections, CHEST: "Hạch trung thất 12 mm."},
                               impression=studies[1].report.impression)
    rows = write_table_layout(studies, tmp_path, volume_ext="npy")
    assert rows[0]["ct_path"].endswith(".npy") and rows[0]["report_en_path"].endswith(".json")
    refs, _ = discover(tmp_path)
    assert load_study(sorted(refs, key=lambda r: r.key)[1]).report.sections[CHEST] == "Hạch trung thất 12 mm."
