"""The hospital round trip against a real Orthanc, every step through the CLI:
synthetic DICOM study -> `vipet deid` -> `vipet pacs push` -> `vipet pacs pull` -> `vipet build` ->
`vipet generate --hospital-formats sr` -> `vipet pacs push` the SR -> the SR found again by QIDO
(StudyInstanceUID, modality SR), retrieved, and its text and values checked."""

from __future__ import annotations

import json
import shutil

import pydicom
import pytest
from orthanc_server import PASSWORD, USER, orthanc  # noqa: F401  (the session fixture)
from typer.testing import CliRunner

from vipet.cli import app
from vipet.interop.pacs import PASSWORD_ENV, USER_ENV, connect, search_instances
from vipet.interop.report_json import report_document
from vipet.interop.sr import read_sr
from vipet.reports.extract import extract_lesions
from vipet.schema import Report

runner = CliRunner()
ENV = {USER_ENV: USER, PASSWORD_ENV: PASSWORD}


def ok(args: list[str]) -> str:
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 0, (args[:2], result.output)
    return result.stdout


@pytest.mark.slow
def test_deid_push_pull_build_generate_and_the_sr_back_from_the_pacs(orthanc, tmp_path, monkeypatch):  # noqa: F811
    for name, value in ENV.items():  # the library calls below read the credentials from the environment
        monkeypatch.setenv(name, value)
    # seed 2: a lymphoma study whose report states four FDG-avid lesions with SUVmax and sizes
    ok(["synth", str(tmp_path / "synth"), "--n", "1", "--seed", "2", "--format", "dicom"])
    (truth,) = map(json.loads, (tmp_path / "synth" / "truth.jsonl").read_text(encoding="utf-8").splitlines())
    (original,) = [p for p in (tmp_path / "synth").iterdir() if p.is_dir()]
    original_report = Report.load(original / "report.json")

    ok(["deid", str(original), str(tmp_path / "deid"), "--seed", "round-trip-secret", "--no-progress"])
    (deid_study,) = [p for p in (tmp_path / "deid").iterdir() if p.is_dir() and not p.name.startswith(".")]
    deid_headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in deid_study.rglob("*.dcm")]
    (study_uid,) = {str(ds.StudyInstanceUID) for ds in deid_headers}
    original_uid = str(pydicom.dcmread(next(original.rglob("*.dcm")), stop_before_pixels=True).StudyInstanceUID)
    assert study_uid != original_uid  # the PACS only ever sees the de-identified study

    ok(["pacs", "push", orthanc.dicomweb, str(deid_study)])  # the folder's DICOM files; report.json stays here
    ok(["pacs", "pull", orthanc.dicomweb, study_uid, str(tmp_path / "pulled")])
    pulled = tmp_path / "pulled" / study_uid
    assert len(list(pulled.rglob("*.dcm"))) == len(deid_headers)
    # The PACS holds images; the report text reaches the workstation from the RIS, de-identified by `vipet deid`.
    shutil.copy(deid_study / "report.json", pulled / "report.json")

    ok(["build", str(tmp_path / "pulled"), str(tmp_path / "build"), "--split", "random", "--target-shape", "8,16,16",
        "--export", "none", "--no-renders"])
    (meta_path,) = (tmp_path / "build" / "cache").glob("*/meta.json")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    assert meta["source_uids"]["study_instance_uid"] == study_uid
    preds = tmp_path / "preds" / "train.jsonl"
    # one study: it is the training split, and retrieval returns its own (nearest) report, lesions and all
    out = ok(["generate", "retrieval", str(tmp_path / "build"), "--split", "train", "--out", str(preds),
              "--hospital-formats", "sr"])
    assert "hospital outputs (sr) for 1 studies" in out
    (whole,) = [r for r in map(json.loads, preds.read_text(encoding="utf-8").splitlines()) if r["id"].endswith(":whole")]
    (sr_file,) = (tmp_path / "preds" / "train.hospital").glob("*/report_sr.dcm")

    ok(["pacs", "push", orthanc.dicomweb, str(sr_file)])
    (found,) = search_instances(orthanc.dicomweb, study_uid, modality="SR")
    sop_uid = found["00080018"]["Value"][0]
    series_uid = found["0020000E"]["Value"][0]
    back = read_sr(connect(orthanc.dicomweb).retrieve_instance(study_uid, series_uid, sop_uid))

    assert back["study_instance_uid"] == study_uid and back["text"] == whole["prediction"]
    assert {series for series, _ in back["evidence_series"]} == {meta["source_uids"]["pet_series_uid"],
                                                                 meta["source_uids"]["ct_series_uid"]}
    document = report_document(whole)
    assert [(lesion["suv_max"], lesion["size_mm"]) for lesion in back["lesions"]] == [
        (lesion["suv_max"], lesion["size_mm"]) for lesion in document["lesions"]]
    # against the synthetic ground truth (independent of the extractor): every planted SUVmax, and the
    # two-dimension sizes of the avid lesions, come back from the PACS
    planted = sorted(lesion["suv_max"] for lesion in truth["lesions"] if lesion["suv_max"] is not None)
    assert len(planted) == 4 and sorted(l["suv_max"] for l in back["lesions"] if l["suv_max"] is not None) == planted
    by_suv = {l["suv_max"]: l["size_mm"] for l in back["lesions"] if l["suv_max"] is not None}
    for lesion in truth["lesions"]:
        if lesion["suv_max"] is not None and lesion["size_mm"][0] != lesion["size_mm"][1]:
            assert by_suv[lesion["suv_max"]] == [float(d) for d in lesion["size_mm"]]
    # de-identification kept the clinical content: the lesions are those of the original report
    assert [lesion.to_expert() for lesion in extract_lesions(whole["prediction"], scope="all")] == [
        lesion.to_expert() for lesion in extract_lesions(original_report.full_text(), scope="all")]
