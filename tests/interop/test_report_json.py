"""The structured report JSON: its published schema, the values it carries, and the site codes behind it."""

from __future__ import annotations

import copy
import json

import pytest
from interop_factories import EXPECTED, NORMAL_TEXT, TEXT, prediction
from jsonschema import Draft202012Validator

from vipet.errors import InteropError
from vipet.interop.codes import REGION_CODES, SITE_CODES
from vipet.interop.report_json import SCHEMA_PATH, load_schema, report_document, validate_document
from vipet.interop.source import SourceSeries, SourceStudy
from vipet.reports.extract import extract_lesions
from vipet.reports.lexicon import load_lexicon


def test_the_published_schema_is_a_valid_draft_2020_12_schema():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_a_report_with_several_lesions_gives_back_every_suvmax_and_size():
    source = SourceStudy("1.2.3.4", (SourceSeries("PT", "1.2.3.4.1"), SourceSeries("CT", "1.2.3.4.2")))
    document = report_document(prediction(), source)
    validate_document(document)
    assert document["text"] == TEXT and document["status"] == "preliminary"
    assert document["study"] == {"key": "2021_03_04_patient_9", "study_instance_uid": "1.2.3.4",
                                 "series": [{"modality": "PT", "series_instance_uid": "1.2.3.4.1"},
                                            {"modality": "CT", "series_instance_uid": "1.2.3.4.2"}]}
    got = [(lesion["location"], lesion["suv_max"], lesion["size_mm"], lesion["sites"][0]["code"]["code"])
           for lesion in document["lesions"]]
    assert got == EXPECTED
    assert document["impression"].startswith("Khối mờ thùy trên phổi phải")
    assert document["lesions"][1]["judgement"] == "Nhiều khả năng ác tính"
    assert document["lesions"][0]["section"] == "head_neck" and document["lesions"][3]["section"] == "abdomen_pelvis"


def test_the_lesions_are_the_extractors_own():
    """The expert form of each document lesion is what `vipet report extract --scope all` prints."""
    document = report_document(prediction())
    assert [lesion["expert"] for lesion in document["lesions"]] == [
        lesion.to_expert() for lesion in extract_lesions(TEXT, scope="all")]


def test_a_normal_report_has_no_lesions_and_no_study_uid_when_not_from_dicom():
    document = report_document(prediction(NORMAL_TEXT))
    validate_document(document)
    assert document["lesions"] == [] and document["study"]["study_instance_uid"] is None


@pytest.mark.parametrize("path, value, where", [
    (("lesions", 0, "suv_max"), "8,5", "lesions/0/suv_max"),
    (("lesions", 1, "size_mm"), [25.0, -3.0], "lesions/1/size_mm/1"),
    (("study", "study_instance_uid"), "1.2.abc", "study/study_instance_uid"),
    (("format",), "vipet.report/0", "format"),
])
def test_a_document_that_breaks_the_schema_is_refused_naming_the_place(path, value, where):
    document = copy.deepcopy(report_document(prediction()))
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(InteropError, match=f"at {where}:"):
        validate_document(document)


def test_a_record_without_text_is_refused():
    with pytest.raises(InteropError, match="no report text"):
        report_document({"id": "k:whole", "study": "k", "prediction": None})


def test_every_lexicon_site_group_has_a_snomed_code_or_is_a_named_text_only_exception():
    groups = {site.group for site in load_lexicon().sites.values.values()}
    assert groups == set(SITE_CODES)
    assert {g for g, code in SITE_CODES.items() if code is None} == {"ruột", "tiết niệu sinh dục"}
    assert all(code.scheme == "SCT" and code.value.isdigit() for code in SITE_CODES.values() if code)
    # A few codes by hand (SNOMED CT body structures): lung, mediastinum, liver, bone.
    assert (SITE_CODES["phổi"].value, SITE_CODES["trung thất"].value, SITE_CODES["gan"].value,
            SITE_CODES["xương"].value) == ("39607008", "72410000", "10200004", "272673000")
    assert REGION_CODES["musculoskeletal"] is None and REGION_CODES["chest"].value == "816094009"


def test_the_schema_loads_once_and_is_the_file():
    assert load_schema() == json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def test_every_real_report_gives_a_valid_document_with_the_extractors_lesions(real_data):
    lines = (real_data / "reports.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) > 100
    for number, line in enumerate(lines, 1):
        text = json.loads(line)["text"]
        document = report_document(prediction(text, study=f"real_{number}"))
        validate_document(document)
        assert document["text"] == text
        assert [lesion["expert"] for lesion in document["lesions"]] == [
            lesion.to_expert() for lesion in extract_lesions(text, scope="all")], number
