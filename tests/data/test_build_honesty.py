"""Issue 20 in the build: an honest cache (dtype from the unit, finite values only), writes and removals
inside OUT, unique study keys, every problem and note in build_report.json, an empty build fails,
and temporary files a killed run left are cleaned."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from conftest import CORRUPT_KEY, TARGET
from phantom import make_phantom
from typer.testing import CliRunner

import vipet.io
from vipet.cli import app
from vipet.data.build import build_dataset
from vipet.data.cache import PRECISION, clean_stale, open_array, read_meta, study_dir
from vipet.data.config import BuildConfig
from vipet.data.export import export_hf, export_llava
from vipet.data.manifest import manifest_rows, read_manifest
from vipet.data.process import process_study
from vipet.data.splits import make_splits
from vipet.errors import BuildError, UnsafePathError
from vipet.fsutil import safe_name
from vipet.study import BQML, CNTS, SUV_BW, UNKNOWN_UNIT, VIMED_RAW

CONFIG = BuildConfig(target_shape=TARGET, renders=False)
runner = CliRunner()
# (unit, factor applied to the phantom's SUV, dtype the cache must choose): Bq/mL and counts reach far
# beyond float16's 65504 (the phantom's bladder is SUV 25: 25 x 1e4 = 2.5e5).
UNITS = [
    (SUV_BW, 1.0, "float16"),
    (VIMED_RAW, 1000.0, "float16"),
    (BQML, 1.0e4, "float32"),
    (CNTS, 5.0e3, "float32"),
    (UNKNOWN_UNIT, 1.0e4, "float32"),
]


def _unit_study(unit: str, factor: float):
    study, _ = make_phantom()
    values = study.pet.array.astype(np.float64) * factor
    if unit == VIMED_RAW:  # ViMed raw units are int16 0..32767, as the ViMed reader gives them
        values = np.clip(np.rint(values), 0, 32767).astype(np.int16)
    else:
        values = values.astype(np.float32)
    study.pet.array, study.pet.unit = values, unit
    return study


@pytest.mark.parametrize(("unit", "factor", "dtype"), UNITS)
def test_pet_cache_dtype_follows_the_unit_and_equals_the_source_within_the_recorded_precision(unit, factor, dtype,
                                                                                            tmp_path):
    study = _unit_study(unit, factor)
    source = np.asarray(study.pet.array, dtype=np.float64)  # head first, already on the PET grid: the cached array
    config = BuildConfig(target_shape=(8, 16, 16), renders=False, slices="npy")
    meta = process_study(study, config, tmp_path)
    cached = open_array(tmp_path / "pet.b2nd")
    storage = meta["storage"]["pet"]
    assert cached.dtype == np.dtype(dtype) and meta["arrays"]["pet"]["dtype"] == dtype
    assert storage["dtype"] == dtype and storage["unit"] == unit and storage["precision"] == PRECISION[dtype]
    assert meta["transforms"][0]["pet_dtype"] == dtype
    assert cached.shape == source.shape and np.isfinite(cached).all()
    bound = np.maximum(storage["precision"]["relative"] * np.abs(source), storage["precision"]["absolute"])
    assert np.all(np.abs(cached.astype(np.float64) - source) <= bound)
    if dtype == "float32":
        assert source.max() > np.finfo(np.float16).max  # float16 would have cached inf here
    slice_pair = np.load(tmp_path / "slices" / "0050.npy")
    assert slice_pair.dtype == np.dtype(dtype) and np.isfinite(slice_pair).all()
    assert meta["slices"]["dtype"] == dtype
    # CT shrunk onto the PET grid, then rounded to whole HU
    assert meta["storage"]["ct"] == {"dtype": "int16", "unit": "HU", "precision": {"relative": 0.0, "absolute": 0.5}}


def test_float32_recipe_stores_every_unit_in_float32(tmp_path):
    meta = process_study(_unit_study(SUV_BW, 1.0), BuildConfig(target_shape=(8, 16, 16), renders=False,
                                                               pet_dtype="float32"), tmp_path)
    assert open_array(tmp_path / "pet.b2nd").dtype == np.float32
    assert meta["storage"]["pet"]["reason"] == "pet_dtype float32 requested"


def test_suv_beyond_float16_range_is_stored_in_float32_with_a_note(tmp_path):
    study = _unit_study(SUV_BW, 1.0e4)  # SUV 2.5e5: implausible, but never cached as inf
    meta = process_study(study, BuildConfig(target_shape=(8, 16, 16), renders=False), tmp_path)
    assert meta["storage"]["pet"]["dtype"] == "float32" and np.isfinite(open_array(tmp_path / "pet.b2nd")).all()
    peak = float(np.max(np.abs(study.pet.array)))
    assert meta["notes"] == [f"PET stored as float32: SUVbw |max| {peak:.6g} exceeds float16's 65504"]


def test_a_dicom_pet_left_in_bq_per_ml_is_cached_finite_in_float32(tmp_path):
    from vipet.io.dicom import write_dicom_study

    study, _ = make_phantom(key="2018_10_03_patient_1")
    write_dicom_study(study, tmp_path / "data" / "s1", suv_tags={"weight_kg": None})  # no PatientWeight: Bq/mL
    report = build_dataset(tmp_path / "data", tmp_path / "out", CONFIG, exports=(), progress=False)
    assert report["failed"] == [] and len(report["built"]) == 1
    (key,) = report["built"]
    meta = read_meta(study_dir(tmp_path / "out", key))
    pet = open_array(study_dir(tmp_path / "out", key) / "pet.b2nd")
    assert meta["units"]["pet"] == BQML and pet.dtype == np.float32
    assert np.isfinite(pet).all() and pet.max() > np.finfo(np.float16).max
    assert report["notes"][key][-1] == f"no SUV: {meta['units']['pet_note']}"  # why SUV is missing, per study


def _inject(monkeypatch, changes):
    """Make the reader return, for the keys in `changes`, the study the change function makes of it."""
    real = vipet.io.load_study

    def load(ref):
        study = real(ref)
        if ref.key in changes:
            changes[ref.key](study)
        return study

    monkeypatch.setattr(vipet.io, "load_study", load)


def _nan_pet(study):
    study.pet.array = study.pet.array.astype(np.float32)
    study.pet.array[3, 4, 5] = np.nan
    study.notes.append("a reader note")


def _inf_ct(study):
    study.ct.array = study.ct.array.astype(np.float32)
    study.ct.array[0, 0, :2] = np.inf


def _huge_factor(study):
    study.pet.array = study.pet.array.astype(np.float64) * 1e300


def _inf_spacing(study):
    study.pet.spacing = (float("inf"), 2.0, 2.0)


def test_non_finite_volumes_and_absurd_factors_are_refused_per_study_and_never_cached(cohort, tmp_path, monkeypatch):
    keys = ["2018_03_02_patient_1", "2018_05_07_patient_2", "2018_10_09_patient_3", "2018_11_04_patient_4"]
    _inject(monkeypatch, dict(zip(keys, (_nan_pet, _inf_ct, _huge_factor, _inf_spacing))))
    report = build_dataset(cohort, tmp_path, CONFIG, exports=(), progress=False)
    failed = {f["key"]: f for f in report["failed"]}
    source = {k: str(cohort / "PETCT2018" / f"THANG {k[5:7].lstrip('0')}" / "CT" / f"day_{int(k[8:10])}_{k[11:]}.npz")
              for k in keys}
    pet_voxels = int(np.prod(read_meta(study_dir(tmp_path, "2018_12_01_patient_1"))["grids"]["pet"]["shape"]))
    ct_voxels = int(np.prod(read_meta(study_dir(tmp_path, "2018_12_01_patient_1"))["grids"]["ct"]["shape"]))
    assert failed[keys[0]]["reason"] == f"{source[keys[0]]}: PET volume (SUVbw) has 1 NaN/Inf voxels of {pet_voxels}; refused, not cached"
    assert failed[keys[0]]["notes"] == ["a reader note"]  # the notes of a refused study are kept too
    assert failed[keys[1]]["reason"] == f"{source[keys[1]]}: CT volume (HU) has 2 NaN/Inf voxels of {ct_voxels}; refused, not cached"
    assert failed[keys[2]]["reason"].startswith(f"{source[keys[2]]}: PET volume (SUVbw) reaches ")
    assert failed[keys[2]]["reason"].endswith(", beyond float32 (3.4e+38): a unit or scale factor is wrong; refused, not cached")
    assert failed[keys[3]]["reason"] == f"{source[keys[3]]}: PET spacing (inf, 2.0, 2.0) mm is not three finite positive numbers; refused"
    for key in keys:
        assert not study_dir(tmp_path, key).exists()
    assert report["built"] == ["2018_12_01_patient_1"] and sorted(failed) == sorted([*keys, CORRUPT_KEY])
    assert report["summary"] == {"built": 1, "skipped": 0, "failed": 5, "notes": 1, "discover_problems": 0, "complete": 1}
    assert {r["study_key"] for r in read_manifest(tmp_path)} == {"2018_12_01_patient_1"}


def test_cached_array_with_inf_is_never_written(tmp_path):
    from vipet.data.cache import save_array

    with pytest.raises(BuildError) as refused:
        save_array(tmp_path, "pet", np.array([1.0, np.inf], dtype=np.float16))
    assert str(refused.value) == "cached array 'pet' (float16) has 1 NaN/Inf voxels of 2; refused, not cached"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", ["../../escape", "/tmp/abs", "a/b", "..", ".", ".hidden.abc.tmp", ""])
def test_study_dir_refuses_every_key_that_is_not_one_safe_folder_name(key, tmp_path):
    with pytest.raises(UnsafePathError) as refused:
        study_dir(tmp_path, key)
    assert str(refused.value) == (f"{tmp_path / 'cache'}: study key {key!r} is not one safe folder name "
                                  "(letters, digits, _ . -); refused")


def _rekey(monkeypatch, new_keys):
    """Give the discovered refs other keys (by their original key), as a careless reader might."""
    real = vipet.io.discover

    def discover(root, pet_unit=None):
        refs, problems = real(root, pet_unit=pet_unit)
        for ref in refs:
            ref.key = new_keys.get(ref.key, ref.key)
        return refs, problems

    monkeypatch.setattr(vipet.io, "discover", discover)


def test_a_key_that_escapes_is_refused_and_nothing_outside_out_is_written_or_removed(cohort, tmp_path, monkeypatch):
    out = tmp_path / "a" / "b" / "out"
    victim = tmp_path / "a" / "b" / "escape"  # where OUT/cache/../../escape lands
    victim.mkdir(parents=True)
    (victim / "keep.txt").write_text("mine", encoding="utf-8")
    _rekey(monkeypatch, {"2018_03_02_patient_1": "../../escape", "2018_05_07_patient_2": ".."})
    report = build_dataset(cohort, out, CONFIG, exports=("hf", "llava"), progress=False)
    assert (victim / "keep.txt").read_text(encoding="utf-8") == "mine" and sorted(os.listdir(victim)) == ["keep.txt"]
    assert sorted(os.listdir(tmp_path / "a" / "b")) == ["escape", "out"]
    failed = {f["key"]: f["reason"] for f in report["failed"]}
    for key in ("../../escape", ".."):
        assert failed[key] == f"study key {key!r} is not one safe folder name (letters, digits, _ . -); refused"
    assert len(report["built"]) == 3 and (out / "cache").is_dir() and (out / "manifest.parquet").is_file()


def test_two_studies_with_one_key_are_both_refused_naming_each_other(cohort, tmp_path, monkeypatch):
    _rekey(monkeypatch, {"2018_05_07_patient_2": "2018_03_02_patient_1"})
    report = build_dataset(cohort, tmp_path, CONFIG, exports=(), progress=False)
    first = str(cohort / "PETCT2018" / "THANG 3" / "CT" / "day_2_patient_1.npz")
    second = str(cohort / "PETCT2018" / "THANG 5" / "CT" / "day_7_patient_2.npz")
    dupes = [f for f in report["failed"] if f["key"] == "2018_03_02_patient_1"]
    assert dupes == [
        {"key": "2018_03_02_patient_1", "path": first, "notes": [],
         "reason": f"study key '2018_03_02_patient_1' is shared with {second}; neither is built (give the studies distinct ids or dates)"},
        {"key": "2018_03_02_patient_1", "path": second, "notes": [],
         "reason": f"study key '2018_03_02_patient_1' is shared with {first}; neither is built (give the studies distinct ids or dates)"},
    ]
    assert not study_dir(tmp_path, "2018_03_02_patient_1").exists()
    ids = [r["sample_id"] for r in read_manifest(tmp_path)]
    assert len(ids) == len(set(ids)) and not any(i.startswith("2018_03_02_patient_1:") for i in ids)
    assert report["discovered"] == 6 and len(report["built"]) == 3


def test_manifest_refuses_two_cached_studies_with_one_key(built):
    out, _ = built
    meta = read_meta(study_dir(out, "2018_03_02_patient_1"))
    twin = dict(meta, source="elsewhere/ct.npz")
    splits = make_splits([], "temporal")
    with pytest.raises(BuildError) as refused:
        manifest_rows([meta, twin], splits)
    assert str(refused.value) == (f"two cached studies share the key '2018_03_02_patient_1' ({meta['source']} and "
                                  "elsewhere/ct.npz): their sample ids would collide; refused")


def test_every_note_reaches_build_report_and_the_summary_line(cohort, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(cohort, data)
    (data / "PETCT2018" / "THANG 10" / "reports" / "day_9_patient_3.json").write_text("{", encoding="utf-8")
    result = runner.invoke(app, ["build", str(data), str(tmp_path / "out"), "--target-shape", "8,16,16",
                                 "--no-renders", "--export", "none"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "build_report.json").read_text(encoding="utf-8"))
    meta = read_meta(study_dir(tmp_path / "out", "2018_10_09_patient_3"))
    (note,) = meta["notes"]
    assert note.startswith("report unavailable: ")  # the sidecar's note ...
    assert report["notes"] == {"2018_10_09_patient_3": [note]}  # ... is in the report, with nothing else
    assert report["summary"] == {"built": 5, "skipped": 0, "failed": 1, "notes": 1, "discover_problems": 0,
                                 "complete": 5}
    (summary,) = [line for line in result.stdout.splitlines() if line.startswith("built ")]
    assert summary == (
        f"built 5, skipped 0 (already cached), failed 1, notes 1, discovery problems 0 (all in "
        f"{tmp_path / 'out' / 'build_report.json'}); 5 studies, 20 samples in {tmp_path / 'out' / 'manifest.parquet'}")
    again = build_dataset(data, tmp_path / "out", BuildConfig(target_shape=(8, 16, 16), renders=False), exports=(),
                          progress=False)
    assert again["notes"] == report["notes"] and again["summary"]["skipped"] == 5  # notes of cached studies too


def test_an_empty_build_exits_non_zero_with_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "metadata.csv").write_text("name,sex,height,weight,year,pet_path,ct_path,report_path\n", encoding="utf-8")
    result = runner.invoke(app, ["build", str(data), str(tmp_path / "out"), "--export", "none"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: {data}: no study found to build (an empty metadata.csv or dataset "
                                          "folder?); see build_report.json"]
    assert json.loads((tmp_path / "out" / "build_report.json").read_text(encoding="utf-8"))["complete"] == 0


def test_a_killed_runs_top_level_temporaries_are_cleaned_and_nothing_else(tmp_path):
    out = tmp_path / "out"
    (out / "cache" / ".2018_01_01_p.k2j_9x.tmp").mkdir(parents=True)
    (out / "cache" / ".2018_01_01_p.k2j_9x.tmp" / "ct.npy").write_bytes(b"partial")
    (out / "hf" / "report").mkdir(parents=True)
    leftovers = [out / ".manifest.parquet.a1b2c3d4.tmp", out / ".build_report.json.zz_9.tmp",
                 out / "hf" / "report" / ".train.parquet.q1w2e3.tmp", out / "cache" / ".meta.json.x.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine", encoding="utf-8")
    (out / ".splits.json.l1nk.tmp").symlink_to(outside, target_is_directory=True)
    kept = [out / ".notes.tmp", out / "mine.tmp", out / ".keep", out / "cache" / "2018_01_02_p"]
    for path in kept[:3]:
        path.write_text("user", encoding="utf-8")
    kept[3].mkdir()
    removed = clean_stale(out)
    assert removed == [".build_report.json.zz_9.tmp", ".manifest.parquet.a1b2c3d4.tmp", ".splits.json.l1nk.tmp",
                       "cache/.2018_01_01_p.k2j_9x.tmp", "cache/.meta.json.x.tmp", "hf/report/.train.parquet.q1w2e3.tmp"]
    assert all(not p.exists() for p in leftovers) and not (out / ".splits.json.l1nk.tmp").is_symlink()
    assert all(p.exists() for p in kept) and (outside / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_export_names_stay_inside_out(built, tmp_path):
    out, _ = built
    rows = [dict(r, split="../../../../evil") for r in read_manifest(out)]
    target = tmp_path / "a" / "b" / "out"
    target.mkdir(parents=True)
    hf = export_hf(rows, target)
    export_llava(rows, target)
    assert safe_name("../../../../evil") == "evil" and set(hf["counts"]["report"]) == {"../../../../evil"}
    assert (target / "hf" / "report" / "evil.parquet").is_file() and (target / "llava" / "evil.json").is_file()
    assert sorted(os.listdir(tmp_path)) == ["a"] and sorted(os.listdir(tmp_path / "a")) == ["b"]
