"""DICOM SR (TID 1500) of a generated report: re-read with pydicom and highdicom, the text and every
SUVmax and size come back exactly, coded where codes exist, referencing the source PET and CT series."""

from __future__ import annotations

import io

import highdicom as hd
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from interop_factories import EXPECTED, NORMAL_TEXT, TEXT, prediction, write_source
from pydicom.sr.codedict import codes

from vipet.errors import InteropError
from vipet.interop.report_json import report_document
from vipet.interop.source import SourceStudy, from_datasets
from vipet.interop.sr import build_sr, read_sr


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> SourceStudy:
    return from_datasets(write_source(tmp_path_factory.mktemp("src") / "study"))


@pytest.fixture(scope="module")
def main_sr(source) -> pydicom.Dataset:
    """The SR of the several-lesion report, written to bytes and read back (built once: highdicom takes ~1 s)."""
    return saved(build_sr(report_document(prediction(), source), source))


def saved(sr) -> pydicom.Dataset:
    """Write the SR to bytes and read it back, as a PACS would receive it."""
    buffer = io.BytesIO()
    sr.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def test_text_suvmax_and_sizes_come_back_exactly(source, main_sr):
    document = report_document(prediction(), source)
    back = read_sr(main_sr)
    assert back["text"] == TEXT and back["impression"] == document["impression"]
    got = [(lesion["location"], lesion["suv_max"], lesion["size_mm"], lesion["sites"][0][1])
           for lesion in back["lesions"]]
    assert got == EXPECTED
    assert [lesion["tracking_id"] for lesion in back["lesions"]] == ["lesion 1", "lesion 2", "lesion 3", "lesion 4"]
    assert back["lesions"][1]["judgement"] == "Nhiều khả năng ác tính"


def test_highdicom_reads_the_measurement_groups_with_the_suv_and_size_codes(source, main_sr):
    ds = main_sr
    sr = hd.sr.Comprehensive3DSR.from_dataset(ds)
    assert len(sr.get_evidence()) == len(source.headers)  # highdicom reads the evidence back
    groups = hd.sr.MeasurementReport.from_sequence([ds]).get_image_measurement_groups()
    assert len(groups) == len(EXPECTED)
    suv_name = pydicom.sr.coding.Code("126401", "DCM", "SUVbw")  # DICOM CID 7180: SUV body weight
    diameter = pydicom.sr.coding.Code("81827009", "SCT", "Diameter")
    for group, (_, suv, size, site) in zip(groups, EXPECTED):
        (suv_item,) = group.get_measurements(name=suv_name)
        assert suv_item.value == suv and suv_item.unit.value == "g/ml{SUVbw}" and suv_item.unit.scheme_designator == "UCUM"
        assert suv_item.derivation == codes.SCT.Maximum
        sizes = group.get_measurements(name=diameter)
        assert [m.value for m in sizes] == size and {m.unit.value for m in sizes} == {"mm"}
        assert [s.value.value for s in group.finding_sites] == [site]
        assert group.finding_type == codes.SCT.Lesion


def test_the_sr_references_the_source_series_and_copies_the_study(source, main_sr):
    ds = main_sr
    first = source.headers[0]
    assert ds.StudyInstanceUID == first.StudyInstanceUID and ds.PatientID == first.PatientID
    assert ds.Modality == "SR" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert ds.SpecificCharacterSet == "ISO_IR 192" and ds.PreliminaryFlag == "PRELIMINARY"
    assert ds.VerificationFlag == "UNVERIFIED" and ds.CompletionFlag == "COMPLETE"
    by_series = {}
    for header in source.headers:
        by_series.setdefault(str(header.SeriesInstanceUID), set()).add(str(header.SOPInstanceUID))
    (study,) = ds.CurrentRequestedProcedureEvidenceSequence
    referenced = {str(s.SeriesInstanceUID): {str(i.ReferencedSOPInstanceUID) for i in s.ReferencedSOPSequence}
                  for s in study.ReferencedSeriesSequence}
    assert referenced == by_series and {h.Modality for h in source.headers} == {"PT", "CT"}


def test_a_normal_report_gives_an_sr_with_its_text_and_no_measurements(source):
    back = read_sr(saved(build_sr(report_document(prediction(NORMAL_TEXT), source), source)))
    assert back["text"] == NORMAL_TEXT and back["lesions"] == []


def test_the_same_report_twice_is_the_same_instance(source, main_sr):
    second = build_sr(report_document(prediction(), source), source)
    assert main_sr.SOPInstanceUID == second.SOPInstanceUID and main_sr.SeriesInstanceUID == second.SeriesInstanceUID
    other = build_sr(report_document(prediction(NORMAL_TEXT), source), source)
    assert other.SOPInstanceUID != main_sr.SOPInstanceUID


def test_laterality_follows_the_location(main_sr):
    groups = hd.sr.MeasurementReport.from_sequence([main_sr]).get_image_measurement_groups()
    assert [g.finding_sites[0].laterality for g in groups] == [
        codes.SCT.Left, codes.SCT.Right, codes.SCT.Left, codes.SCT.Right]


def test_an_sr_without_source_instances_is_refused():
    with pytest.raises(InteropError, match="needs the source PET/CT instances"):
        build_sr(report_document(prediction()), SourceStudy())


def test_read_sr_refuses_an_image():
    ds = pydicom.Dataset()
    ds.Modality = "CT"
    with pytest.raises(InteropError, match="not a DICOM SR"):
        read_sr(ds)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suv=st.integers(min_value=10, max_value=399), dims=st.lists(st.integers(1, 99), min_size=1, max_size=3),
       cm=st.booleans(), colon=st.booleans())
def test_generated_values_come_back_exactly(source, suv, dims, cm, colon):
    """Random SUVmax (one decimal, comma) and sizes (mm, or cm with one decimal) written as a report writes them."""
    if cm:
        written = " x ".join(f"{d // 10},{d % 10}" if d % 10 else f"{d // 10}" for d in dims) + " cm"
        expected_mm = [float(d) for d in dims]  # d tenths of a centimetre = d millimetres
    else:
        written = " x ".join(str(d) for d in dims) + " mm"
        expected_mm = [float(d) for d in dims]
    suv_text = f"{suv // 10},{suv % 10}"
    text = (f"Hình ảnh nốt mờ thùy dưới phổi trái, kích thước {written}, tăng chuyển hóa FDG "
            f"(SUVmax{':' if colon else ''} {suv_text}).")
    document = report_document(prediction(text), source)
    (lesion,) = read_sr(saved(build_sr(document, source)))["lesions"]
    assert lesion["suv_max"] == suv / 10 and lesion["size_mm"] == expected_mm
