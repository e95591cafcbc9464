"""Keys that become folder names, keys that collide, and metadata rows that reach outside the root,
list one study twice or carry impossible heights and weights (issue 20)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from io_factories import make_study

from vipet.fsutil import inside
from vipet.io import discover, load_study
from vipet.io.dicom import write_dicom_study
from vipet.io.info import describe_path
from vipet.io.nifti import read_nifti_pair, write_nifti_study
from vipet.io.ref import StudyRef, assign_unique_keys
from vipet.io.vimed import iter_vimed, write_metadata_csv, write_vimed_study
from vipet.io.vimed_layout import METADATA_NAME


def _set_sidecar(folder, **changes):
    sidecar = folder / "study.json"
    obj = json.loads(sidecar.read_text(encoding="utf-8"))
    for name, value in changes.items():
        if name in ("height_m", "weight_kg"):
            obj["patient"][name] = value
        else:
            obj[name] = value
    sidecar.write_text(json.dumps(obj), encoding="utf-8")


def _vimed_cohort(root, n=3):
    rows = [write_vimed_study(make_study(key=f"2017_12_{27 - i:02d}_patient_{399 + i}", seed=i), root,
                              suv_per_unit=0.001) for i in range(n)]
    write_metadata_csv(rows, root)
    return rows


def _table(root):
    return (root / METADATA_NAME).read_text(encoding="utf-8").splitlines()


def _write_table(root, lines):
    (root / METADATA_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")


# 1. Keys that become paths ----------------------------------------------------------------------

@pytest.mark.parametrize("hostile", ["../../x", "/etc/x", "..", "a/../../b"])
def test_a_sidecar_key_that_is_a_path_becomes_one_safe_folder_name(tmp_path, hostile):
    root = tmp_path / "data"
    write_nifti_study(make_study(), root / "p0")
    _set_sidecar(root / "p0", key=hostile)
    [ref], problems = discover(root)
    assert problems == []
    assert "/" not in ref.key and ref.key not in (".", "..") and not ref.key.startswith(".")
    cache = tmp_path / "out" / "cache"
    assert inside(cache, cache / ref.key).parent == cache.resolve()  # the build's folder stays in OUT
    study = load_study(ref)
    assert study.key == ref.key
    direct = read_nifti_pair(root / "p0" / "ct.nii.gz", root / "p0" / "pet.nii.gz")
    assert direct.key == ref.key
    assert {"../../x": "x", "/etc/x": "etc_x", "..": "anon", "a/../../b": "a_____b"}[hostile] == ref.key


def test_a_ref_built_by_hand_gets_a_safe_key_and_safe_keys_are_unchanged():
    assert StudyRef(key="../../x", format="nifti").key == "x"
    assert StudyRef(key="2017_12_27_patient_399", format="vimed").key == "2017_12_27_patient_399"


# 2. Unique keys -----------------------------------------------------------------------------------

def test_two_nifti_sidecars_with_one_key_both_stay_the_later_folder_suffixed_and_noted(tmp_path):
    for name in ("b", "a"):  # created in the other order: the suffix follows the path, not creation time
        write_nifti_study(make_study(key="2018_10_01_patient_0", seed=ord(name)), tmp_path / name)
    refs, problems = discover(tmp_path)
    assert [(r.key, r.paths["folder"]) for r in refs] == [
        ("2018_10_01_patient_0", str(tmp_path / "a")), ("2018_10_01_patient_0_2", str(tmp_path / "b"))]
    assert problems == [{
        "path": str(tmp_path / "b"), "key": "2018_10_01_patient_0_2", "kind": "duplicate_key",
        "reason": "study key 2018_10_01_patient_0 is also the key of a; this study is keyed 2018_10_01_patient_0_2"}]
    assert refs[0].meta["notes"] == [
        "study key 2018_10_01_patient_0 is also the key of b, which is keyed 2018_10_01_patient_0_2"]
    first, second = load_study(refs[0]), load_study(refs[1])
    assert (first.key, second.key) == ("2018_10_01_patient_0", "2018_10_01_patient_0_2")
    assert problems[0]["reason"] in second.notes and refs[0].meta["notes"][0] in first.notes
    assert not np.array_equal(first.pet.array, second.pet.array)  # two studies, two caches
    assert [r.key for r in discover(tmp_path)[0]] == [r.key for r in refs]  # a rerun gives the same keys


def test_two_anonymised_dicom_studies_of_one_day_keep_both(tmp_path):
    for name in ("s1", "s2"):
        study = make_study(key="2023_11_01_ANON", seed=int(name[1]))  # PatientID ANON, StudyDate 20231101
        study.key = name  # the writer derives the UIDs from it: two distinct studies
        write_dicom_study(study, tmp_path / name)
    refs, problems = discover(tmp_path)
    assert [r.key for r in refs] == ["2023_11_01_ANON", "2023_11_01_ANON_2"]
    assert [(p["kind"], p["path"]) for p in problems] == [("duplicate_key", str(tmp_path / "s2"))]
    assert load_study(refs[1]).key == "2023_11_01_ANON_2"
    summary = describe_path(tmp_path)
    assert summary["problem_counts"] == {"duplicate_key": 1} and summary["studies"] == 2


def test_two_table_rows_with_one_name_and_date_but_different_files_keep_both(tmp_path):
    rows = _vimed_cohort(tmp_path, n=1)
    for role in ("ct_path", "pet_path"):  # a second study of that patient that day, under another file name
        shutil.copy(tmp_path / rows[0][role], tmp_path / rows[0][role].replace(".npz", "_b.npz"))
    lines = _table(tmp_path)
    lines.append(lines[1].replace(".npz", "_b.npz"))
    _write_table(tmp_path, lines)
    refs, problems = discover(tmp_path)
    assert [r.key for r in refs] == ["2017_12_27_patient_399", "2017_12_27_patient_399_2"]
    assert refs[1].paths["ct"].endswith("day_27_patient_399_b.npz")
    [problem] = [p for p in problems if p["kind"] == "duplicate_key"]
    assert problem["key"] == "2017_12_27_patient_399_2"
    keys = [s.key for s in iter_vimed(tmp_path)]
    assert keys == ["2017_12_27_patient_399", "2017_12_27_patient_399_2"]


def test_assign_unique_keys_skips_a_suffix_another_study_already_has(tmp_path):
    refs = [StudyRef(key=k, format="nifti", paths={"folder": str(tmp_path / f)})
            for k, f in (("k", "a"), ("k_2", "b"), ("k", "c"))]
    problems = assign_unique_keys(refs, tmp_path)
    assert [r.key for r in refs] == ["k", "k_2", "k_3"] and [p["key"] for p in problems] == ["k_3"]


# 3. Metadata paths outside the root ---------------------------------------------------------------

def test_metadata_paths_outside_the_root_are_reported_and_skipped(tmp_path):
    root = tmp_path / "root"
    rows = _vimed_cohort(root, n=4)
    outside = tmp_path / "elsewhere"
    shutil.copytree(root / "PETCT2017", outside / "PETCT2017")
    lines = _table(root)
    lines[1] = lines[1].replace(f",{rows[0]['ct_path']},", f",../elsewhere/{rows[0]['ct_path']},")
    lines[2] = lines[2].replace(f",{rows[1]['pet_path']},", f",{outside / rows[1]['pet_path']},")
    lines[3] = lines[3].replace(f",{rows[2]['report_path']},", ",../../secret.json,")
    _write_table(root, lines)
    refs, problems = discover(root)
    assert [r.key for r in refs] == ["2017_12_24_patient_402"]
    bad = [p for p in problems if p["kind"] == "bad_row"]
    assert [p["reason"] for p in bad] == [
        f"line 2: unreadable row (ct_path '../elsewhere/{rows[0]['ct_path']}' lies outside the dataset root; refused)",
        f"line 3: unreadable row (pet_path '{outside / rows[1]['pet_path']}' lies outside the dataset root; refused)",
        "line 4: unreadable row (report_path '../../secret.json' lies outside the dataset root; refused)"]
    assert all(p["path"] == str(root / METADATA_NAME) for p in bad)


def test_a_table_path_through_a_link_that_leads_out_is_refused(tmp_path):
    root = tmp_path / "root"
    rows = _vimed_cohort(root, n=1)
    shutil.move(root / "PETCT2017", tmp_path / "moved")
    (root / "PETCT2017").symlink_to(tmp_path / "moved")
    refs, problems = discover(root)
    assert refs == [] and "lies outside the dataset root" in problems[0]["reason"]
    absolute_inside = _table(root)
    absolute_inside[1] = absolute_inside[1].replace(f",{rows[0]['ct_path']},", f",{root / rows[0]['ct_path']},")
    (root / "PETCT2017").unlink()
    shutil.move(tmp_path / "moved", root / "PETCT2017")
    _write_table(root, absolute_inside)
    assert [r.key for r in discover(root)[0]] == ["2017_12_27_patient_399"]  # absolute but inside: fine


# 4. Two rows over the same images -----------------------------------------------------------------

def test_a_second_row_over_the_same_images_is_reported_naming_both_lines_and_skipped(tmp_path):
    _vimed_cohort(tmp_path, n=2)
    lines = _table(tmp_path)
    lines.append(lines[1].replace("patient_399,", "patient_999,", 1))  # another name, the same files
    _write_table(tmp_path, lines)
    refs, problems = discover(tmp_path)
    assert [r.key for r in refs] == ["2017_12_27_patient_399", "2017_12_26_patient_400"]
    [problem] = [p for p in problems if p["kind"] == "duplicate_images"]
    assert problem["reason"].startswith("line 4: names the same CT file as line 2 (")
    assert problem["reason"].endswith("one study listed twice would count one person as two; row skipped")
    assert refs[0].meta["notes"] == [f"{METADATA_NAME} line 4 names the same images as this study's line 2 and was skipped"]
    assert refs[0].meta["notes"][0] in load_study(refs[0]).notes
    assert describe_path(tmp_path)["problem_counts"] == {"duplicate_images": 1}


# 5. Impossible heights and weights ----------------------------------------------------------------

def test_impossible_height_and_weight_in_the_table_are_dropped_with_a_note_naming_the_row(tmp_path):
    _vimed_cohort(tmp_path, n=2)
    lines = _table(tmp_path)
    lines[2] = lines[2].replace(",1.58,52,", ",161,53000,")
    _write_table(tmp_path, lines)
    refs, problems = discover(tmp_path)
    assert refs[1].meta["height_m"] is None and refs[1].meta["weight_kg"] is None
    assert refs[0].meta["height_m"] == 1.58 and refs[0].meta["weight_kg"] == 52.0 and "notes" not in refs[0].meta
    expected = [
        f"{METADATA_NAME} line 3: patient height 161 m is outside 0.4-2.5 m: likely centimetres; dropped (treated as unknown)",
        f"{METADATA_NAME} line 3: patient weight 53000 kg is outside 2-350 kg: likely grams; dropped (treated as unknown)"]
    assert refs[1].meta["notes"] == expected
    assert [p["reason"] for p in problems if p["kind"] == "implausible_metadata"] == expected
    study = load_study(refs[1])
    assert study.patient.height_m is None and study.patient.weight_kg is None
    assert [n for n in study.notes if "dropped" in n] == expected


def test_impossible_height_in_a_nifti_sidecar_is_dropped_with_a_note(tmp_path):
    write_nifti_study(make_study(), tmp_path / "p0")
    _set_sidecar(tmp_path / "p0", height_m=161.0, weight_kg="heavy")
    sidecar = tmp_path / "p0" / "study.json"
    [ref], problems = discover(tmp_path)
    assert ref.meta["height_m"] is None and ref.meta["weight_kg"] is None
    assert [p["kind"] for p in problems] == ["implausible_metadata", "implausible_metadata"]
    study = read_nifti_pair(tmp_path / "p0" / "ct.nii.gz", tmp_path / "p0" / "pet.nii.gz")
    assert study.patient.height_m is None and study.patient.weight_kg is None
    assert f"{sidecar}: patient height 161 m is outside 0.4-2.5 m: likely centimetres; dropped (treated as unknown)" \
        in study.notes
    assert f"{sidecar}: patient weight 'heavy' kg is not a positive finite number; dropped (treated as unknown)" \
        in study.notes
    assert load_study(ref).notes == study.notes  # discovery's notes and the reader's are the same sentences
