"""FHIR R4 output: the Bundle parses with fhir.resources and gives back the text and every SUVmax and size exactly."""

from __future__ import annotations

import base64
import json

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given, settings
from hypothesis import strategies as st
from interop_factories import EXPECTED, NORMAL_TEXT, TEXT, prediction

from vipet.errors import InteropError
from vipet.interop.fhir import build_bundle, bundle_json, read_bundle
from vipet.interop.report_json import report_document
from vipet.interop.source import SourceSeries, SourceStudy

SOURCE = SourceStudy("1.2.840.99.1", (SourceSeries("PT", "1.2.840.99.1.2"), SourceSeries("CT", "1.2.840.99.1.3")),
                     patient_id="patient_9")


@pytest.fixture(scope="module")
def bundle_text() -> str:
    return bundle_json(build_bundle(report_document(prediction(), SOURCE), SOURCE))


def resources(text: str) -> dict[str, list[dict]]:
    """The Bundle's resources by type, read as plain JSON (no vipet code)."""
    out: dict[str, list[dict]] = {}
    for entry in json.loads(text)["entry"]:
        out.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return out


def test_the_bundle_parses_with_fhir_resources_and_gives_back_text_and_values(bundle_text):
    parsed = Bundle.model_validate_json(bundle_text)  # fhir.resources validates every resource
    assert parsed.type == "collection"
    back = read_bundle(bundle_text)
    assert back["text"] == TEXT and back["content_type"] == "text/plain; charset=utf-8"
    assert back["status"] == "preliminary" and back["study_instance_uid"] == "1.2.840.99.1"
    assert back["conclusion"] == report_document(prediction())["impression"]
    got = [(lesion["location"], lesion["suv_max"], lesion["size_mm"], lesion["site"]) for lesion in back["lesions"]]
    assert got == EXPECTED


def test_the_raw_json_holds_ucum_quantities_snomed_sites_and_the_base64_text(bundle_text):
    by_type = resources(bundle_text)
    (report,) = by_type["DiagnosticReport"]
    (form,) = report["presentedForm"]
    assert base64.b64decode(form["data"]).decode("utf-8") == TEXT and form["language"] == "vi"
    assert report["code"]["coding"][0] == {"system": "http://snomed.info/sct", "code": "443271005",
                                           "display": "PET/CT FDG imaging of whole body"}
    (study,) = by_type["ImagingStudy"]
    assert study["identifier"] == [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.840.99.1"}]
    assert [(s["uid"], s["modality"]["code"]) for s in study["series"]] == [("1.2.840.99.1.2", "PT"),
                                                                            ("1.2.840.99.1.3", "CT")]
    observations = by_type["Observation"]
    assert len(observations) == len(EXPECTED) == len(report["result"])
    for observation, (location, suv, size, site) in zip(observations, EXPECTED):
        assert observation["bodySite"] == {"coding": [{"system": "http://snomed.info/sct", "code": site,
                                                       "display": observation["bodySite"]["coding"][0]["display"]}],
                                           "text": location}
        suv_part, *size_parts = observation["component"]
        assert suv_part["code"]["coding"][0]["code"] == "126401"
        assert suv_part["valueQuantity"] == {"value": suv, "unit": "g/ml{SUVbw}", "system": "http://unitsofmeasure.org",
                                             "code": "g/ml{SUVbw}"}
        assert [p["valueQuantity"]["value"] for p in size_parts] == size
        assert {(p["valueQuantity"]["system"], p["valueQuantity"]["code"]) for p in size_parts} == {
            ("http://unitsofmeasure.org", "mm")}
        assert observation["subject"] == {"type": "Patient", "identifier": {"system": "urn:vipet:patient-id",
                                                                            "value": "patient_9"}}
    assert '"value": 2.1,' in bundle_text  # the decimal as written, not 2.1000000000000001


def test_the_same_report_gives_the_same_bytes():
    document = report_document(prediction(), SOURCE)
    assert bundle_json(build_bundle(document, SOURCE)) == bundle_json(build_bundle(document, SOURCE))


def test_without_dicom_source_there_is_no_imaging_study_and_a_normal_report_has_no_results():
    text = bundle_json(build_bundle(report_document(prediction(NORMAL_TEXT))))
    by_type = resources(text)
    assert set(by_type) == {"DiagnosticReport"}
    assert "imagingStudy" not in by_type["DiagnosticReport"][0] and "result" not in by_type["DiagnosticReport"][0]
    assert read_bundle(text)["text"] == NORMAL_TEXT


def test_read_bundle_refuses_what_is_not_a_bundle():
    with pytest.raises(InteropError, match="not a valid FHIR Bundle"):
        read_bundle('{"resourceType": "Patient"}')


@settings(max_examples=40, deadline=None)
@given(suv=st.integers(min_value=10, max_value=399), dims=st.lists(st.integers(1, 99), min_size=1, max_size=3))
def test_generated_values_come_back_exactly(suv, dims):
    """Random SUVmax with a decimal comma and sizes in cm with one decimal, as report writers write them."""
    written = " x ".join(f"{d // 10},{d % 10}" if d % 10 else f"{d // 10}" for d in dims) + " cm"
    text = (f"Hình ảnh khối mờ thùy trên phổi phải, kích thước {written}, tăng chuyển hóa FDG "
            f"(SUVmax {suv // 10},{suv % 10}).")
    (lesion,) = read_bundle(bundle_json(build_bundle(report_document(prediction(text)))))["lesions"]
    assert lesion["suv_max"] == suv / 10 and lesion["size_mm"] == [float(d) for d in dims]
