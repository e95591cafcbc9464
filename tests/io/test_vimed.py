"""ViMed-PET layout: paths, metadata rows, and every way a cohort folder can be damaged."""

from __future__ import annotations

import datetime as dt
import json
import time

import numpy as np
import pytest
from io_factories import make_study

from vipet.errors import ReadError
from vipet.io import discover, load_study, read_study
from vipet.io.npz import load_npz_volume, npz_header
from vipet.io.vimed import iter_vimed, read_vimed_study, write_metadata_csv, write_vimed_study
from vipet.io.vimed_layout import DEFAULT_SLICE_MM, REAL_COLUMNS, SPACING_ASSUMPTION, parse_study_path
from vipet.schema import Report
from vipet.study import VIMED_RAW


def write_cohort(root, n=3, **kwargs):
    rows = []
    for i in range(n):
        study = make_study(key=f"2017_12_{27 - i:02d}_patient_{399 + i}", seed=i)
        rows.append(write_vimed_study(study, root, suv_per_unit=0.001, **kwargs))
    write_metadata_csv(rows, root)
    return rows


def test_layout_paths_are_the_real_ones(tmp_path):
    row = write_cohort(tmp_path, n=1)[0]
    assert row["ct_path"] == "PETCT2017/THANG 12/CT/day_27_patient_399.npz"
    assert row["pet_path"] == "PETCT2017/THANG 12/PET/day_27_patient_399.npz"
    assert row["report_path"] == "PETCT2017/THANG 12/reports/day_27_patient_399.json"
    header = (tmp_path / "metadata.csv").read_text().splitlines()[0].split(",")
    assert tuple(header[: len(REAL_COLUMNS)]) == REAL_COLUMNS
    with np.load(tmp_path / row["ct_path"]) as archive:
        assert archive.files == ["data"] and archive["data"].dtype == np.int16
    assert npz_header(tmp_path / row["pet_path"]) == ((6, 8, 8), "int16")


def test_path_parsing():
    assert parse_study_path("x/PETCT2023/THANG 1/PET/day_3_patient_12.npz") == {
        "year": 2023, "month": 1, "day": 3, "id": "patient_12", "kind": "PET"}
    assert parse_study_path("PETCT2023/THANG 13/PET/day_3_patient_12.npz") is None
    assert parse_study_path("random/file.npz") is None


def test_single_study_by_paths_without_metadata(tmp_path):
    row = write_cohort(tmp_path, n=1)[0]
    (tmp_path / "metadata.csv").unlink()
    study = read_vimed_study(tmp_path / row["ct_path"], tmp_path / row["pet_path"], tmp_path / row["report_path"])
    assert study.key == "2017_12_27_patient_399" and study.study_date == dt.date(2017, 12, 27)
    assert study.pet.unit == VIMED_RAW and study.patient.weight_kg is None
    assert study.head_first is None
    assert SPACING_ASSUMPTION in study.notes
    assert study.ct.spacing == (DEFAULT_SLICE_MM, 500.0 / 16, 500.0 / 16)
    assert study.pet.spacing == (DEFAULT_SLICE_MM, 500.0 / 8, 500.0 / 8)


def test_read_study_by_ct_path_uses_the_metadata_row(tmp_path):
    row = write_cohort(tmp_path, n=2)[1]
    study = read_study(tmp_path / row["ct_path"])
    assert study.key == "2017_12_26_patient_400"
    assert study.patient.weight_kg == 52.0 and study.pet.unit == "SUVbw"
    assert read_study(tmp_path / row["pet_path"]).key == study.key


def test_english_report_is_kept_raw(tmp_path):
    study = make_study(key="2018_10_02_patient_5")
    study.report_en = {"Conclusion": "Right lung nodule", "Findings": {"Chest": "9 mm nodule"}}
    row = write_vimed_study(study, tmp_path, suv_per_unit=None)
    write_metadata_csv([row], tmp_path)
    assert load_study(discover(tmp_path)[0][0]).report_en == study.report_en


def test_spacing_sidecar_is_used_when_the_table_has_none(tmp_path):
    row = write_cohort(tmp_path, n=1)[0]
    sidecar = (tmp_path / row["ct_path"]).with_suffix(".spacing.json")
    sidecar.write_text(json.dumps({"spacing": [2.5, 0.9, 0.8]}))
    study = read_vimed_study(tmp_path / row["ct_path"], tmp_path / row["pet_path"])
    assert study.ct.spacing == (2.5, 0.9, 0.8) and study.provenance["spacing_source"]["CT"] == "sidecar"


def test_truncated_npz_is_one_line_error_and_the_cohort_goes_on(tmp_path):
    rows = write_cohort(tmp_path)
    victim = tmp_path / rows[1]["pet_path"]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    results = list(iter_vimed(tmp_path))
    assert [type(r).__name__ for r in results] == ["Study", "ReadError", "Study"]
    message = str(results[1])
    assert message.startswith(str(victim)) and "truncated or corrupt .npz" in message and "\n" not in message
    with pytest.raises(ReadError, match="truncated or corrupt"):
        npz_header(victim)


def test_npz_without_data_key_or_wrong_rank(tmp_path):
    rows = write_cohort(tmp_path, n=1)
    np.savez(tmp_path / rows[0]["ct_path"], volume=np.zeros((2, 2, 2), np.int16))
    with pytest.raises(ReadError, match="no 'data' array"):
        load_study(discover(tmp_path)[0][0])
    np.savez(tmp_path / rows[0]["ct_path"], data=np.zeros((2, 2), np.int16))
    with pytest.raises(ReadError, match=r"expected a 3-D"):
        load_study(discover(tmp_path)[0][0])


def test_missing_report_loads_with_a_note_and_is_flagged_by_discovery(tmp_path):
    rows = write_cohort(tmp_path)
    (tmp_path / rows[2]["report_path"]).unlink()
    refs, problems = discover(tmp_path)
    assert len(refs) == 3
    [problem] = [p for p in problems if p["kind"] == "missing_report"]
    assert problem["key"] == "2017_12_25_patient_401" and problem["reason"] == "report missing"
    study = load_study(refs[2])
    assert study.report is None
    assert any(n.startswith("report unavailable:") and "report file not found" in n for n in study.notes)


def test_unreadable_metadata_rows_are_reported_and_skipped(tmp_path):
    write_cohort(tmp_path)
    lines = (tmp_path / "metadata.csv").read_text().splitlines()
    lines[2] = lines[2].replace(",52,", ",fifty,")  # weight not a number
    lines.append("patient_9,M,1.7")  # too short
    lines.append("patient_10,M,1.7,60,2017,a.npz,b.npz,c.json,d.json")  # not the layout
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n")
    results = list(iter_vimed(tmp_path))
    errors = [r for r in results if isinstance(r, ReadError)]
    assert len([r for r in results if not isinstance(r, ReadError)]) == 2
    assert [e.reason.split(":")[0] for e in errors] == ["line 3", "line 5", "line 6"]
    assert "weight is not a number: 'fifty'" in errors[0].reason
    assert all(e.path.endswith("metadata.csv") and "\n" not in str(e) for e in errors)
    refs, problems = discover(tmp_path)
    assert len(refs) == 2 and sum(p["kind"] == "bad_row" for p in problems) == 3


def test_undecodable_bytes_cost_one_row(tmp_path):
    write_cohort(tmp_path)
    raw = (tmp_path / "metadata.csv").read_bytes().splitlines()
    raw[1] = raw[1].replace(b"patient_399,F,1.58", b"patient_399,\xff\xfe,1.58")
    (tmp_path / "metadata.csv").write_bytes(b"\n".join(raw) + b"\n")
    refs, problems = discover(tmp_path)
    assert len(refs) == 2 and "sex must be M, F or empty" in problems[0]["reason"]


def test_empty_metadata_table_is_one_line_error_naming_it(tmp_path):
    (tmp_path / "metadata.csv").write_bytes(b"\xef\xbb\xbf \n")  # a BOM and a blank line, no header
    with pytest.raises(ReadError) as caught:
        list(iter_vimed(tmp_path))
    assert caught.value.path.endswith("metadata.csv") and "metadata table is empty" in caught.value.reason
    assert "\n" not in str(caught.value)


def test_missing_volume_is_a_problem_not_a_crash(tmp_path):
    rows = write_cohort(tmp_path)
    (tmp_path / rows[0]["ct_path"]).unlink()
    refs, problems = discover(tmp_path)
    assert len(refs) == 3 and problems[0]["reason"] == "CT volume missing"
    with pytest.raises(ReadError, match="volume file not found"):
        load_study(refs[0])


def test_writer_refuses_suv_beyond_int16(tmp_path):
    with pytest.raises(ValueError, match="use suv_per_unit >="):
        write_vimed_study(make_study(), tmp_path, suv_per_unit=1e-4)


def test_discover_real_metadata_table(real_data, tmp_path):
    """All 2,757 real rows parse into refs; the volumes are absent, so each is a recorded problem."""
    (tmp_path / "metadata.csv").write_bytes((real_data / "metadata.csv").read_bytes())
    start = time.perf_counter()
    refs, problems = discover(tmp_path)
    elapsed = time.perf_counter() - start
    assert len(refs) == 2757 and len({r.key for r in refs}) == 2757
    assert not [p for p in problems if p["kind"] == "bad_row"]
    assert sum(p["kind"] == "missing_volume" for p in problems) == 2 * 2757
    assert {r.meta["year"] for r in refs} == {2017, 2018, 2019, 2023}
    assert sum(r.meta["year"] == 2023 for r in refs) == 1741
    assert sum(r.meta["sex"] is None for r in refs) == 2
    first = refs[0]
    assert first.key == "2017_08_01_patient_0" and first.meta["height_m"] == 1.59 and first.meta["weight_kg"] == 67.0
    assert elapsed < 5.0


def test_report_loads_through_the_schema(tmp_path):
    rows = write_cohort(tmp_path, n=1)
    study = load_study(discover(tmp_path)[0][0])
    assert study.report == Report.load(tmp_path / rows[0]["report_path"])


@pytest.mark.parametrize(
    ("payload", "message"),
    [(b"hello, not numpy", "no zip header"), (None, "not an .npz archive")],
)
def test_files_that_are_not_npz_archives(tmp_path, payload, message):
    path = tmp_path / "x.npz"
    if payload is None:
        with open(path, "wb") as handle:
            np.save(handle, np.zeros((2, 2, 2), np.int16))
    else:
        path.write_bytes(payload)
    with pytest.raises(ReadError, match=message):
        load_npz_volume(path)


# Issue 20: report types checked at the boundary, a byte-order mark accepted, corrupt reports noted.

@pytest.mark.parametrize(
    ("where", "value", "kind"),
    [("section", ["Nốt phổi phải.", "Hạch trung thất."], "list"), ("section", {"a": 1}, "dict"),
     ("section", 3, "int"), ("impression", True, "bool"), ("impression", ["Ác tính."], "list")],
)
def test_a_report_field_that_is_not_text_is_refused_naming_the_file_and_the_section(tmp_path, where, value, kind):
    from vipet.errors import ReportError
    from vipet.schema import CHEST, FINDINGS_KEY, IMPRESSION_KEY

    obj = make_study().report.to_json()
    if where == "section":
        obj[FINDINGS_KEY][CHEST] = value
        label = f"section {CHEST!r}"
    else:
        obj[IMPRESSION_KEY] = value
        label = f"impression {IMPRESSION_KEY!r}"
    path = tmp_path / "report.json"
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ReportError) as refused:
        Report.load(path)
    assert str(refused.value) == f"{path}: {label} must be text or null, got {kind}"


def test_null_and_absent_report_fields_are_empty_text():
    from vipet.schema import CHEST, FINDINGS_KEY, HEAD_NECK, IMPRESSION_KEY

    report = Report.from_json({IMPRESSION_KEY: None, FINDINGS_KEY: {CHEST: None, HEAD_NECK: "Não bình thường."}})
    assert report.impression == "" and report.sections[CHEST] == "" and report.sections[HEAD_NECK] == "Não bình thường."


def test_a_report_with_a_utf8_byte_order_mark_loads(tmp_path):
    rows = write_cohort(tmp_path, n=1)
    path = tmp_path / rows[0]["report_path"]
    expected = Report.load(path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    study = load_study(discover(tmp_path)[0][0])
    assert study.report == expected and not [n for n in study.notes if "report" in n]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b'{"broken": ', "not valid UTF-8 JSON (JSONDecodeError"), (b"\xff\xfe{}", "not valid UTF-8 JSON (UnicodeDecodeError"),
     ('{"Nhận định kết quả": "x", "Mô tả hình ảnh": {"Lồng ngực": ["a", "b"]}}'.encode(), "must be text or null, got list")],
)
def test_a_corrupt_report_keeps_the_images_and_its_problem_is_a_study_note(tmp_path, payload, reason):
    rows = write_cohort(tmp_path, n=1)
    path = tmp_path / rows[0]["report_path"]
    path.write_bytes(payload)
    study = load_study(discover(tmp_path)[0][0])
    assert study.report is None and study.ct is not None
    [note] = [n for n in study.notes if n.startswith("report unavailable:")]
    assert note.startswith(f"report unavailable: {path}: ") and reason in note
