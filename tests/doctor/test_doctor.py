"""The doctor finds every planted defect, each on the study it was planted on and nothing else, finds
nothing in a clean root, resumes from its cache, and exits non-zero exactly when an error is found."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from doctor_factories import write_clean_root, write_defect_root
from typer.testing import CliRunner

import vipet.doctor.run as doctor_run
from vipet.cli import app
from vipet.doctor.findings import Finding
from vipet.doctor.html import doctor_html
from vipet.doctor.policy import ERROR, POLICY, WARNING, exit_code, policy_table
from vipet.doctor.run import run_doctor
from vipet.synth.packagings import write_region_crops

HEADER_KINDS = {"bad_row", "duplicate_images", "duplicate_person_date", "split_leakage", "missing_field",
                "implausible_metadata", "missing_volume", "missing_report"}


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("doctor")
    clean, bad = base / "clean", base / "bad"
    clean_keys = write_clean_root(clean)
    planted = write_defect_root(bad)
    return {"base": base, "clean": clean, "clean_keys": clean_keys, "bad": bad, "planted": planted}


@pytest.fixture(scope="module")
def bad_report(roots):
    return run_doctor(roots["bad"], cache=roots["base"] / "cache_bad", progress=False)


def test_clean_root_has_no_findings(roots):
    report = run_doctor(roots["clean"], cache=roots["base"] / "cache_clean", progress=False)
    assert report["findings"] == []
    assert (report["studies"], report["exit_code"], report["counts"]) == (4, 0, {ERROR: 0, WARNING: 0})


def test_every_planted_defect_is_found_on_its_study_and_nothing_else(roots, bad_report):
    planted = dict(roots["planted"])
    expected = {(kind.removesuffix("_near"), key) for kind, key in planted.items() if kind != "split_leakage_related"}
    found = {(f["kind"], f["key"]) for f in bad_report["findings"]}
    assert found == expected
    assert len(bad_report["findings"]) == len(expected)  # one finding per planted defect
    assert {kind for kind, _ in found} == set(POLICY) - {"split_leakage_unfixed"}  # every check, once


def test_findings_name_their_partners(roots, bad_report):
    by_kind = {}
    for f in bad_report["findings"]:
        by_kind.setdefault(f["kind"], []).append(f)
    planted = roots["planted"]
    duplicates = {f["key"]: f for f in by_kind["duplicate_study"]}
    assert duplicates[planted["duplicate_study"]]["detail"]["match"] == "identical"
    assert duplicates[planted["duplicate_study_near"]]["detail"]["match"] == "near-identical"
    assert duplicates[planted["duplicate_study"]]["related"] == duplicates[planted["duplicate_study_near"]]["related"]
    (leak,) = by_kind["split_leakage"]
    assert leak["related"] == [planted["split_leakage_related"]]
    assert leak["detail"]["studies"] == {planted["split_leakage"]: "train", planted["split_leakage_related"]: "test"}
    (disagree,) = by_kind["en_vi_disagreement"]
    assert disagree["message"] == "SUVmax only in Vietnamese: 5.2; SUVmax only in English: 52"


def test_exit_code_follows_the_policy(bad_report):
    assert bad_report["exit_code"] == 1
    warnings_only = [Finding(k, "x", "m") for k, (sev, _) in POLICY.items() if sev == WARNING]
    assert exit_code(warnings_only) == 0
    assert exit_code(warnings_only + [Finding("ct_not_hu", "x", "m")]) == 1
    assert bad_report["counts"][ERROR] == sum(1 for f in bad_report["findings"] if POLICY[f["kind"]][0] == ERROR)


def test_policy_table_is_documented_in_the_module_and_the_help():
    import vipet.doctor.policy as policy

    assert policy_table() in policy.__doc__
    result = CliRunner().invoke(app, ["doctor", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for kind, (severity, _) in POLICY.items():
        assert kind in result.output
    assert "Exit code 1 when any finding is an error" in " ".join(result.output.split())


def test_rerun_resumes_from_the_cache_and_rechecks_a_changed_file(roots, bad_report, monkeypatch):
    checked = []
    real = doctor_run.check_one
    monkeypatch.setattr(doctor_run, "check_one", lambda ref: checked.append(ref.key) or real(ref))
    again = run_doctor(roots["bad"], cache=roots["base"] / "cache_bad", progress=False)
    assert checked == []
    assert again["findings"] == bad_report["findings"]
    report_file = next((roots["bad"] / "PETCT2017" / "THANG 3" / "reports").glob("day_1_patient_21.json"))
    stat = report_file.stat()
    os.utime(report_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    run_doctor(roots["bad"], cache=roots["base"] / "cache_bad", progress=False)
    assert checked == [roots["planted"]["empty_section"]]


def test_header_only_reads_no_volume(roots, monkeypatch):
    import vipet.io.npz as npz

    monkeypatch.setattr(npz, "load_npz_volume", lambda *a, **k: pytest.fail("a volume was read"))
    report = run_doctor(roots["bad"], header_only=True, progress=False)
    kinds = {f["kind"] for f in report["findings"]}
    assert kinds == HEADER_KINDS - {"missing_volume", "missing_report"}  # files are not even looked at
    assert report["thumbnails"] == {}


def test_cli_json_html_and_parallel_workers(roots, tmp_path):
    page = tmp_path / "doctor.html"
    result = CliRunner().invoke(app, ["doctor", str(roots["clean"]), "--json", "--workers", "2",
                                      "--cache", str(tmp_path / "cache"), "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []
    assert "No findings." in page.read_text(encoding="utf-8")
    result = CliRunner().invoke(app, ["doctor", str(roots["bad"]), "--cache", str(roots["base"] / "cache_bad")])
    assert result.exit_code == 1
    assert "duplicate_study: 2" in result.output


def test_html_has_one_thumbnail_per_flagged_study_with_images(bad_report):
    page = doctor_html(bad_report)
    assert page.count("data:image/png;base64,") == len(bad_report["thumbnails"])
    flagged = {f["key"] for f in bad_report["findings"] if f["key"]}
    # every flagged study whose volumes could be read has its MIP (not: missing or corrupt files)
    assert set(bad_report["thumbnails"]) >= flagged - {"2017_03_01_patient_20", "2017_03_01_patient_28"}
    assert page.count("class='card'") == len(flagged) + 1  # plus one card for the table-level rows


def test_region_crops_doctor(tmp_path):
    rng = np.random.default_rng(0)
    good = rng.integers(0, 30000, size=(4, 8, 8)).astype(np.int16)
    write_region_crops([("s1", "chest", good, "Nốt mờ phổi phải 9 mm."), ("s2", "chest", good.copy(), "Hạch cổ."),
                        ("s3", "head_neck", np.zeros((4, 8, 8), np.int16), ""),
                        ("s4", "abdomen_pelvis", good[:, ::-1].copy(), "A nodule in the liver with uptake.")], tmp_path)
    report = run_doctor(tmp_path, progress=False)
    assert {(f["kind"], f["key"]) for f in report["findings"]} == {
        ("duplicate_study", "s2_chest"), ("constant_volume", "s3_head_neck"), ("empty_section", "s3_head_neck"),
        ("wrong_language", "s4_abdomen_pelvis")}


def test_real_metadata_header_only(real_data):
    report = run_doctor(real_data, header_only=True, progress=False)
    assert report["studies"] == 2757
    kinds = {f["kind"] for f in report["findings"]}
    assert kinds <= HEADER_KINDS
    bmi = [f for f in report["findings"] if f["kind"] == "implausible_metadata"]
    assert {"2023_12_21_patient_1626", "2018_10_19_patient_303"} <= {f["key"] for f in bmi}
    assert all(f["kind"] != "missing_volume" for f in report["findings"])
