"""Cohort files: determinism, round trips through the io readers, resume, failures, population traps."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vipet.errors import SynthError
from vipet.study import SUV_BW
from vipet.synth import generate_study, write_cohort
from vipet.synth import writer as synth_writer
from vipet.synth.population import MONTHS, plan_study


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _truth(root: Path) -> dict[str, dict]:
    lines = (root / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["key"]: json.loads(line) for line in lines}


def measured_suvmax(pet: np.ndarray, pet_spacing, ct_spacing, lesion: dict) -> float:
    """Independent reader: max PET over voxels whose centre is inside any solid of the lesion
    (ellipsoids from the truth's CT-index centres and semi-axes, mapped to mm with the shared field
    of view), or at the voxel nearest each centre when a solid is smaller than a voxel."""
    best = -np.inf
    grid = np.meshgrid(*(np.arange(n) for n in pet.shape), indexing="ij", sparse=True)
    pos = [(g + 0.5) * s for g, s in zip(grid, pet_spacing)]
    for member in lesion["members"]:
        centre = [(c + 0.5) * s for c, s in zip(member["center_ct_index"], ct_spacing)]
        inside = sum(((p - c) / r) ** 2 for p, c, r in zip(pos, centre, member["semi_axes_mm"])) <= 1.0
        nearest = tuple(int(np.clip(round(c / s - 0.5), 0, n - 1)) for c, s, n in zip(centre, pet_spacing, pet.shape))
        best = max(best, float(pet[nearest]), float(pet[inside].max()) if inside.any() else -np.inf)
    return best


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    out = {}
    for fmt in ("vimed", "dicom", "nifti"):
        out[fmt] = write_cohort(root / fmt, n=2, seed=11, format=fmt, size="small", progress=False)
    return out


def test_same_seed_gives_byte_identical_files_and_other_seeds_differ(cohorts, tmp_path):
    for fmt, first in cohorts.items():
        again = write_cohort(tmp_path / fmt, n=2, seed=11, format=fmt, size="small", progress=False)
        assert _digest(first) == _digest(again), fmt
    parallel = write_cohort(tmp_path / "parallel", n=2, seed=11, format="vimed", size="small", workers=2,
                            progress=False)
    assert _digest(parallel) == _digest(cohorts["vimed"])  # per-study RNGs: worker count is irrelevant
    other = write_cohort(tmp_path / "other", n=2, seed=12, format="vimed", size="small", progress=False)
    a, b = _digest(cohorts["vimed"]), _digest(other)
    assert set(a) != set(b) or a != b
    assert set(a.values()).isdisjoint(b.values())  # not one file (image, report, table) in common


def test_generate_study_is_a_pure_function():
    s1, t1 = generate_study(5, 3, "small")
    s2, t2 = generate_study(5, 3, "small")
    assert np.array_equal(s1.ct.array, s2.ct.array) and np.array_equal(s1.pet.array, s2.pet.array)
    assert json.dumps(t1, sort_keys=True) == json.dumps(t2, sort_keys=True)
    s3, _ = generate_study(6, 3, "small")
    assert s3.key != s1.key


@pytest.mark.parametrize("fmt", ["vimed", "dicom", "nifti"])
def test_cohort_reads_back_with_suv_and_lesions_where_truth_says(cohorts, fmt):
    from vipet.io import discover, load_study

    refs, problems = discover(cohorts[fmt])
    truth = _truth(cohorts[fmt])
    assert problems == [] and len(refs) == 2
    checked = 0
    for ref in refs:
        study = load_study(ref)
        record = truth[study.key]
        assert study.pet.unit == SUV_BW and study.ct.shape == tuple(record["ct_shape"])
        if fmt == "nifti":  # NIfTI keeps no unit: the cohort's study.json records it, nothing is guessed
            assert study.provenance["suv"] == {"method": "unit given by study.json", "unit": SUV_BW}
        assert study.report is not None and study.report.to_json() == record["report"]
        assert study.patient.weight_kg == pytest.approx(record["patient"]["weight_kg"])
        if fmt == "vimed":
            assert study.head_first is None  # the layout does not say; the imaging layer detects it
        else:
            assert study.head_first == record["head_first"]
        for lesion in record["lesions"]:
            if lesion["suv_max"] is None:
                continue
            value = measured_suvmax(np.asarray(study.pet.array, dtype=np.float64), study.pet.spacing,
                                    record["ct_spacing"], lesion)
            assert value == pytest.approx(lesion["suv_max"], rel=0.10, abs=0.06), (study.key, lesion["site"])
            checked += 1
    assert checked >= 2


def test_vimed_layout_and_metadata(cohorts):
    root = cohorts["vimed"]
    header = (root / "metadata.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("name,sex,height,weight,year,pet_path,ct_path,report_path,report_en_path,suv_per_unit")
    assert "head_first" not in header
    for record in _truth(root).values():
        ct = np.load(root / record["files"]["ct"])["data"]
        pet = np.load(root / record["files"]["pet"])["data"]
        assert ct.dtype == np.int16 and pet.dtype == np.int16
        assert 0 <= pet.min() and 30000 <= pet.max() <= 32767
        assert record["files"]["ct"].startswith(f"PETCT{record['study_date'][:4]}/THANG ")


def test_rerun_resumes_instead_of_redoing(tmp_path):
    made = []
    write_cohort(tmp_path / "c", n=2, seed=4, format="nifti", size="small", progress=False, on_study=made.append)
    before = _digest(tmp_path / "c")
    made.clear()
    write_cohort(tmp_path / "c", n=3, seed=4, format="nifti", size="small", progress=False, on_study=made.append)
    assert made == [2]  # only the new study was generated
    after = _digest(tmp_path / "c")
    assert {k: v for k, v in after.items() if k in before and k != "truth.jsonl" and k != "cohort.json"} == {
        k: v for k, v in before.items() if k != "truth.jsonl" and k != "cohort.json"}
    assert len(_truth(tmp_path / "c")) == 3
    with pytest.raises(SynthError, match="seed=4"):
        write_cohort(tmp_path / "c", n=3, seed=5, format="nifti", size="small", progress=False)


def test_one_failing_study_does_not_stop_the_others(tmp_path, monkeypatch):
    real = synth_writer.generate_study

    def flaky(index, seed, size):
        if index == 1:
            raise RuntimeError("boom")
        return real(index, seed, size)

    monkeypatch.setattr(synth_writer, "generate_study", flaky)
    with pytest.raises(SynthError, match="1 of 3 studies failed.*study 1: RuntimeError: boom"):
        write_cohort(tmp_path / "c", n=3, seed=0, format="nifti", size="small", progress=False)
    cohort = json.loads((tmp_path / "c" / "cohort.json").read_text())
    assert cohort["studies"] == 2 and list(cohort["failed"]) == ["1"]
    monkeypatch.setattr(synth_writer, "generate_study", real)
    made = []
    write_cohort(tmp_path / "c", n=3, seed=0, format="nifti", size="small", progress=False, on_study=made.append)
    assert made == [1] and not (tmp_path / "c" / ".synth_parts").exists()


def test_bad_arguments_fail_clearly(tmp_path):
    with pytest.raises(SynthError, match="unknown format"):
        write_cohort(tmp_path / "x", n=1, format="png")
    with pytest.raises(SynthError, match="unknown size"):
        write_cohort(tmp_path / "x", n=1, size="huge")
    with pytest.raises(SynthError, match="n >= 1"):
        write_cohort(tmp_path / "x", n=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SynthError, match="not a folder"):
        write_cohort(tmp_path / "file", n=1)
    with pytest.raises(SynthError, match="cannot create the output folder") as caught:
        write_cohort(tmp_path / "file" / "cohort", n=1)  # a parent that is a file
    assert caught.value.path == str(tmp_path / "file" / "cohort")


def test_population_reuses_ids_and_covers_the_temporal_split():
    plans = [plan_study(0, i) for i in range(200)]
    keys = [p.key for p in plans]
    assert len(set(keys)) == len(keys)
    ids = Counter(p.patient_id for p in plans)
    reused = [p for p in plans if p.repeat_of is not None]
    assert any(p.same_person for p in reused) and any(not p.same_person for p in reused)
    for p in reused:
        earlier = plans[p.repeat_of]
        assert ids[p.patient_id] == 2 and p.study_date.year != earlier.study_date.year
        if p.same_person:
            assert (p.person.sex, p.person.height_m) == (earlier.person.sex, earlier.person.height_m)
    for year, months in MONTHS.items():
        got = {p.study_date.month for p in plans if p.study_date.year == year}
        for split in ("val", "test"):
            assert got & set(months[split]), (year, split)
    first_five = [plan_study(0, i) for i in range(5)]
    splits = {("val" if p.study_date.month in MONTHS[p.study_date.year]["val"] else
               "test" if p.study_date.month in MONTHS[p.study_date.year]["test"] else "train") for p in first_five}
    assert splits == {"train", "val", "test"}  # even a demo-sized cohort can be split
    late = sum(p.study_date.month >= 10 for p in plans)
    assert late / len(plans) > 0.3
    assert 0.1 < sum(not p.head_first for p in plans) / len(plans) < 0.35


def test_cli_shows_a_progress_bar_and_fails_cleanly(tmp_path):
    from typer.testing import CliRunner

    from vipet.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["synth", str(tmp_path / "c"), "--n", "2", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "synth" in result.output and "2/2" in result.output
    assert (tmp_path / "c" / "metadata.csv").is_file()
    bad = runner.invoke(app, ["synth", str(tmp_path / "d"), "--format", "png"])
    assert bad.exit_code == 1 and "unknown format" in bad.output
