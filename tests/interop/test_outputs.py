"""The per-report hospital files: one folder per study, all formats from one document, failures per format."""

from __future__ import annotations

import json

import pydicom
import pytest
from interop_factories import EXPECTED, TEXT, prediction, write_source
from typer.testing import CliRunner

from vipet.cli import app
from vipet.errors import InteropError
from vipet.interop.fhir import read_bundle
from vipet.interop.outputs import (FILE_NAMES, outputs_folder, parse_formats, study_predictions, write_prediction_outputs,
                                   write_report_outputs)
from vipet.interop.report_json import report_document
from vipet.interop.source import from_build_meta, from_datasets
from vipet.interop.sr import read_sr

KEY = "2021_03_04_patient_9"


def fake_build(root, source_folder=None, headers=None):
    """A build folder holding only what the outputs read: `cache/<key>/meta.json` (source and UIDs)."""
    meta = {"key": KEY, "source": str(source_folder or ""), "patient": {"id": "patient_9"}, "source_uids": None}
    if headers:
        pet = next(h for h in headers if h.Modality == "PT")
        ct = next(h for h in headers if h.Modality == "CT")
        meta["source_uids"] = {"study_instance_uid": str(pet.StudyInstanceUID), "pet_series_uid": str(pet.SeriesInstanceUID),
                               "ct_series_uid": str(ct.SeriesInstanceUID), "frame_of_reference_uid": None}
    folder = root / "cache" / KEY
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return root


def test_one_report_gives_the_three_files_that_agree(tmp_path):
    headers = write_source(tmp_path / "src")
    source = from_datasets(headers)
    paths = write_report_outputs(prediction(), tmp_path / "out", source=source)
    assert paths == {fmt: tmp_path / "out" / FILE_NAMES[fmt] for fmt in ("json", "sr", "fhir")}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(FILE_NAMES.values())  # no temporaries left
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert document == report_document(prediction(), source)
    sr = read_sr(pydicom.dcmread(paths["sr"]))
    fhir = read_bundle(paths["fhir"].read_text(encoding="utf-8"))
    assert sr["text"] == fhir["text"] == document["text"] == TEXT
    expected = [(suv, size) for _, suv, size, _ in EXPECTED]
    assert [(l["suv_max"], l["size_mm"]) for l in sr["lesions"]] == expected
    assert [(l["suv_max"], l["size_mm"]) for l in fhir["lesions"]] == expected
    assert sr["study_instance_uid"] == fhir["study_instance_uid"] == document["study"]["study_instance_uid"]


def test_formats_are_checked():
    assert parse_formats("sr, json") == ("json", "sr") and parse_formats(["fhir"]) == ("fhir",)
    with pytest.raises(InteropError, match="unknown hospital output format"):
        parse_formats("json,hl7v2")
    with pytest.raises(InteropError):
        parse_formats("")


def test_one_prediction_per_study_whole_body_first_else_regions_head_to_feet():
    records = [
        {"id": "a:chest", "task": "report", "prediction": "Ngực.", "model": "m", "study": "a"},
        {"id": "a:head_neck", "task": "report", "prediction": "Đầu cổ.", "model": "m", "study": "a"},
        {"id": "a:chest:q1", "task": "vqa", "prediction": "có", "model": "m", "study": "a"},
        {"id": "b:chest", "task": "report", "prediction": "Ngực b.", "model": "m", "study": "b"},
        {"id": "b:whole", "task": "report", "prediction": "Toàn thân b.", "model": "m", "study": "b"},
    ]
    merged = {p["study"]: p for p in study_predictions(records)}
    assert merged["a"]["prediction"] == "Đầu cổ. Ngực." and merged["b"]["prediction"] == "Toàn thân b."
    assert list(merged) == ["a", "b"]


def test_a_predictions_file_gets_a_folder_per_study_with_uids_from_the_build(tmp_path):
    headers = write_source(tmp_path / "src")
    build = fake_build(tmp_path / "build", tmp_path / "src", headers)
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps(prediction(), ensure_ascii=False) + "\n", encoding="utf-8")
    summary = write_prediction_outputs(preds, build, "json,sr,fhir")
    assert summary["failed"] == {} and set(summary["written"][KEY]) == {"json", "sr", "fhir"}
    folder = outputs_folder(preds) / KEY
    assert folder.parent == tmp_path / "preds.hospital"
    sr = read_sr(pydicom.dcmread(folder / FILE_NAMES["sr"]))
    assert sr["study_instance_uid"] == str(headers[0].StudyInstanceUID)
    assert {series for series, _ in sr["evidence_series"]} == {str(h.SeriesInstanceUID) for h in headers}
    assert json.loads((folder.parent / "hospital_outputs.json").read_text(encoding="utf-8"))["written"]


def test_a_study_not_from_dicom_gets_json_and_fhir_and_a_reason_for_the_sr(tmp_path):
    build = fake_build(tmp_path / "build")
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps(prediction(), ensure_ascii=False) + "\n", encoding="utf-8")
    summary = write_prediction_outputs(preds, build, ("json", "sr", "fhir"))
    assert set(summary["written"][KEY]) == {"json", "fhir"}
    assert "needs the source PET/CT instances" in summary["failed"][KEY]["sr"]
    assert json.loads((outputs_folder(preds) / KEY / "report.json").read_text(encoding="utf-8"))["study"][
        "study_instance_uid"] is None


def test_a_moved_source_folder_keeps_the_uids_but_refuses_the_sr(tmp_path):
    headers = write_source(tmp_path / "src")
    build = fake_build(tmp_path / "build", tmp_path / "gone", headers)
    source = from_build_meta(json.loads((build / "cache" / KEY / "meta.json").read_text(encoding="utf-8")))
    assert source.study_instance_uid == str(headers[0].StudyInstanceUID) and source.headers == []
    with pytest.raises(InteropError, match="source folder is gone"):
        write_report_outputs(prediction(), tmp_path / "out", formats="sr", source=source)
    assert not (tmp_path / "out").exists()


def test_generate_refuses_an_unknown_format_before_generating(tmp_path):
    result = CliRunner().invoke(app, ["generate", "template", str(tmp_path / "no-build"), "--hospital-formats", "pdf"])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and "unknown hospital output format(s) ['pdf']" in lines[0]
