"""The build on a tiny phantom cohort: cache layout, orientation, regions, alignment, resume, failures."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import CORRUPT_KEY, TARGET

import vipet.data.build as build_module
from vipet.data.build import build_dataset
from vipet.data.cache import iter_cached, open_array, read_meta
from vipet.data.config import BuildConfig
from vipet.data.manifest import read_manifest
from vipet.errors import BuildError

CONFIG = BuildConfig(target_shape=TARGET, renders=False)
CONFIG_WITH_RENDERS = BuildConfig(target_shape=TARGET)  # what the shared `built` fixture used


def test_cache_arrays_open_read_only_with_the_recorded_shapes(built):
    out, report = built
    assert report["complete"] == 5 and report["samples"] == 20
    for key, meta in iter_cached(out):
        folder = out / "cache" / key
        for name, info in meta["arrays"].items():
            array = open_array(folder / info["file"])
            assert not array.flags.writeable and list(array.shape) == info["shape"] and str(array.dtype) == info["dtype"]
        assert meta["arrays"]["ct"]["dtype"] == "int16" and meta["arrays"]["pet"]["dtype"] == "float16"
        assert meta["arrays"]["chest"]["shape"] == [2, *TARGET]
        assert meta["arrays"]["ct"]["shape"] == meta["arrays"]["pet"]["shape"] == [96, 32, 32]  # the PET grid
        image = np.asarray(open_array(folder / "whole.b2nd"), np.float32)
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert meta["units"] == {"ct": "HU", "pet": "SUVbw", "pet_note": None}
        assert meta["config_fingerprint"] == CONFIG_WITH_RENDERS.fingerprint()
        assert {t["name"] for t in meta["transforms"]} >= {"OrientHeadFirst", "RegionSplit", "SUVScale", "MultiWindow"}


def test_corrupt_study_is_reported_and_skipped(built):
    out, report = built
    assert [f["key"] for f in report["failed"]] == [CORRUPT_KEY]
    assert "truncated or corrupt" in report["failed"][0]["reason"]
    assert not (out / "cache" / CORRUPT_KEY).exists()
    on_disk = json.loads((out / "build_report.json").read_text(encoding="utf-8"))
    assert on_disk["failed"] == report["failed"]


def test_feet_first_study_is_detected_and_stored_head_first(built):
    out, _ = built
    meta = read_meta(out / "cache" / "2018_05_07_patient_2")
    assert meta["orientation"]["source"] == "detected" and meta["orientation"]["flipped"] is True
    pet = np.asarray(open_array(out / "cache" / "2018_05_07_patient_2" / "pet.b2nd"), np.float32)
    reference = np.asarray(open_array(out / "cache" / "2018_03_02_patient_1" / "pet.b2nd"), np.float32)
    brain = slice(4, 15)
    assert pet[brain].mean() > 3 * pet[-15:].mean()  # the brain is now at the top
    assert np.abs(pet - reference).mean() < 0.1  # same anatomy as a head-first study, up to noise
    assert read_meta(out / "cache" / "2018_03_02_patient_1")["orientation"]["source"] == "study"


def test_regions_hold_their_planted_lesions_and_pet_ct_agree_on_it(built):
    out, _ = built
    rows = read_manifest(out)
    chest_rows = [r for r in rows if r["region"] == "chest"]
    assert len(chest_rows) == 5
    for row in chest_rows:
        (lesion,) = json.loads(row["lesions_json"])
        assert lesion["region"] == "chest" and lesion["inside"] is True
        assert row["z_start"] <= lesion["center_grid_index"][0] < row["z_stop"]
        image = np.asarray(open_array(out / row["image_path"]), np.float32)
        centre = np.array(lesion["center_voxel"])
        pet_peak = np.array(np.unravel_index(np.argmax(image[0]), image[0].shape))
        assert np.abs(pet_peak - centre).max() <= 1.0
        # CT: the lesion (soft tissue, ~0.5 in the wide window) is ringed by air-filled lung (~0.08)
        z, y, x = np.rint(centre).astype(int)
        ct = image[1]
        assert ct[z, y, x] > 0.45
        assert max(ct[z, y - 4, x], ct[z, y + 4, x], ct[z - 3, y, x], ct[z + 3, y, x]) < 0.3
    assert all(json.loads(r["lesions_json"]) == [] for r in rows if r["region"] in ("head_neck", "abdomen_pelvis"))


def test_manifest_rows_splits_and_relative_paths(built):
    out, _ = built
    rows = read_manifest(out)
    assert {r["region"] for r in rows} == {"whole", "head_neck", "chest", "abdomen_pelvis"}
    by_key = {r["study_key"]: r["split"] for r in rows if r["region"] == "whole"}
    assert by_key["2018_03_02_patient_1"] == by_key["2018_12_01_patient_1"] == "train"  # leak moved to train
    assert by_key["2018_10_09_patient_3"] == "val" and by_key["2018_11_04_patient_4"] == "test"
    for row in rows:
        assert not row["image_path"].startswith("/") and (out / row["image_path"]).is_file()
        assert row["image_shape"] == [2, *TARGET]
    whole = next(r for r in rows if r["sample_id"] == "2018_03_02_patient_1:whole")
    assert whole["report_text"].startswith("Hình ảnh bắt xạ") and "ác tính" in whole["report_text"]
    assert whole["sex"] == "M" and whole["height_m"] == 1.7 and whole["year"] == 2018 and whole["month"] == 3
    splits = json.loads((out / "splits.json").read_text(encoding="utf-8"))
    assert splits["moves"] == [{"key": "2018_12_01_patient_1", "person": "patient_1#0", "from": "test", "to": "train"}]


def test_rerun_skips_finished_studies_and_cleans_a_killed_runs_leftovers(built, tmp_path):
    out, _ = built
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    leftover = copy / "cache" / ".2018_12_15_patient_5.abc123.tmp"
    leftover.mkdir()
    (leftover / "ct.npy").write_bytes(b"partial")
    report = build_dataset(_cohort_of(out), copy, CONFIG_WITH_RENDERS, progress=False)
    assert report["built"] == [] and len(report["skipped_existing"]) == 5
    assert report["stale_temp_removed"] == [f"cache/{leftover.name}"] and not leftover.exists()


def test_worker_raising_mid_study_fails_only_that_study_and_a_rerun_finishes_it(cohort, tmp_path, monkeypatch):
    real = build_module.process_study

    def flaky(study, config, folder, **kwargs):
        if study.key == "2018_10_09_patient_3":
            (folder / "half_written.npy").write_bytes(b"x")
            raise RuntimeError("disk full")
        return real(study, config, folder, **kwargs)

    monkeypatch.setattr(build_module, "process_study", flaky)
    first = build_dataset(cohort, tmp_path, CONFIG, exports=(), progress=False)
    assert {f["key"] for f in first["failed"]} == {"2018_10_09_patient_3", CORRUPT_KEY}
    assert "RuntimeError: disk full" in next(f["reason"] for f in first["failed"] if "patient_3" in f["key"])
    assert not (tmp_path / "cache" / "2018_10_09_patient_3").exists()
    assert not list((tmp_path / "cache").glob(".*.tmp"))
    assert len(read_manifest(tmp_path)) == 16

    monkeypatch.setattr(build_module, "process_study", real)
    second = build_dataset(cohort, tmp_path, CONFIG, exports=(), progress=False)
    assert second["built"] == ["2018_10_09_patient_3"] and len(second["skipped_existing"]) == 4
    assert len(read_manifest(tmp_path)) == 20


def test_interrupt_mid_study_leaves_no_partial_study(cohort, tmp_path, monkeypatch):
    real = build_module.process_study
    calls = []

    def interrupted(study, config, folder, **kwargs):
        calls.append(study.key)
        if len(calls) == 2:
            (folder / "ct.npy").write_bytes(b"partial")
            raise KeyboardInterrupt  # what Ctrl-C (or a kill the process survives) does mid-study
        return real(study, config, folder, **kwargs)

    monkeypatch.setattr(build_module, "process_study", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(cohort, tmp_path, CONFIG, exports=(), progress=False)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [calls[0]]
    monkeypatch.setattr(build_module, "process_study", real)
    report = build_dataset(cohort, tmp_path, CONFIG, exports=(), progress=False)
    assert report["skipped_existing"] == [calls[0]] and len(report["built"]) == 4


def test_changed_recipe_rebuilds(cohort, tmp_path):
    build_dataset(cohort, tmp_path, CONFIG, exports=(), progress=False, limit=2)
    again = build_dataset(cohort, tmp_path, BuildConfig(target_shape=(8, 16, 16), renders=False), exports=(),
                          progress=False, limit=2)
    assert len(again["built"]) == 2 and again["skipped_existing"] == []
    assert read_manifest(tmp_path)[0]["image_shape"] == [2, 8, 16, 16]


def test_process_pool_gives_the_same_cache_as_in_process(cohort, built, tmp_path):
    report = build_dataset(cohort, tmp_path, BuildConfig(target_shape=TARGET), workers=2, exports=(), progress=False)
    assert len(report["built"]) == 5 and report["workers"] == 2
    out, _ = built
    for key, meta in iter_cached(out):
        for name in ("chest", "pet", "ct"):
            a = open_array(out / "cache" / key / f"{name}.b2nd")
            b = open_array(tmp_path / "cache" / key / f"{name}.b2nd")
            np.testing.assert_array_equal(a, b)


def test_ray_engine_in_a_local_ray_instance(cohort, tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    report = build_dataset(cohort, tmp_path, CONFIG, workers=1, engine="ray", exports=(), progress=False, limit=3)
    assert len(report["built"]) == 3 and report["engine"] == "ray"


def test_bad_arguments_are_build_errors(cohort, tmp_path):
    with pytest.raises(BuildError, match="unknown engine"):
        build_dataset(cohort, tmp_path, CONFIG, engine="spark")
    with pytest.raises(BuildError, match="target shape"):
        BuildConfig(target_shape=(0, 1, 1))


def _cohort_of(out):
    return json.loads((out / "build_report.json").read_text(encoding="utf-8"))["data"]
