"""Export: official expert files equal to the originals (names, keys, order, types, bytes where canonical),
accepted by `vipet evaluate --expert` with the same scores as the originals; the sentence-label CSV."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vipet.cli import app
from vipet.eval.expert import study_key_from_filename
from vipet.review.export import (
    CSV_COLUMNS,
    ReviewExportWarning,
    expert_file_name,
    expert_json,
    export_expert,
    export_sentence_labels,
)
from vipet.review.store import Review, ReviewStore, SentenceLabel, WorkItem

runner = CliRunner()


def _pairs(text: str):
    """The JSON with every object as a list of (key, value) pairs: equality then also checks key order."""
    return json.loads(text, object_pairs_hook=list)


def _types(value):
    if isinstance(value, list):
        return [_types(v) for v in value]
    if isinstance(value, tuple):
        return (value[0], _types(value[1]))
    return type(value).__name__


def _review_all(store: ReviewStore, studies_and_lesions: list[tuple[str, list[dict]]], reviewer: str = "an") -> None:
    store.add_items([WorkItem(f"item{i}", study, "Câu một.") for i, (study, _) in enumerate(studies_and_lesions)])
    for i, (_, lesions) in enumerate(studies_and_lesions):
        store.save(Review(f"item{i}", reviewer, lesions, [SentenceLabel(0, "Câu một.", "correct")]))


def _evaluate(tmp_path: Path, keys: list[str], expert: Path, name: str) -> dict:
    """`vipet evaluate --expert` on one prediction per study key; the clinical section of the metrics."""
    texts = ["Hạch trung thất kích thước 12 x 10 mm, tăng chuyển hóa FDG (SUVmax: 5,2).",
             "Khối mờ thùy trên phổi phải kích thước 30 x 28 mm, tăng chuyển hóa FDG (SUVmax: 12,1). Nốt mờ thùy dưới phổi trái."]
    preds = tmp_path / f"{name}.jsonl"
    preds.write_text("".join(json.dumps({"id": k, "prediction": texts[i % 2], "reference": texts[(i + 1) % 2]},
                                        ensure_ascii=False) + "\n" for i, k in enumerate(keys)), encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(preds), "--profile", "coco", "--expert", str(expert), "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / f"{name}.metrics.json").read_text(encoding="utf-8"))
    return metrics["results"]["unknown"]["report"]["clinical"]


def test_official_files_round_trip_and_evaluate_the_same(tmp_path, expert_dir):
    originals = sorted(expert_dir.glob("*.json"))
    store = ReviewStore(tmp_path / "r.sqlite")
    store.add_reviewer("an")
    _review_all(store, [(p.stem, json.loads(p.read_text(encoding="utf-8"))) for p in originals])
    out = tmp_path / "export"
    written = export_expert(store, out, "an")
    assert [p.name for p in written] == [p.name for p in originals]  # the exact official names, day padding kept
    canonical = 0
    for original, exported in zip(originals, written):
        text = original.read_text(encoding="utf-8")
        assert _pairs(exported.read_text(encoding="utf-8")) == _pairs(text)  # keys, their order, values
        assert _types(_pairs(exported.read_text(encoding="utf-8"))) == _types(_pairs(text))  # int/float/str kept
        if original.read_bytes() == expert_json(json.loads(text)):
            canonical += 1
            assert exported.read_bytes() == original.read_bytes()
    assert canonical == 17  # the files never hand-edited after writing come back byte for byte
    keys = [study_key_from_filename(p.name) for p in originals]
    exported = _evaluate(tmp_path, keys, out, "exported")
    assert exported["n_patients"] == 80 and exported["n_without_expert"] == 0
    assert exported == _evaluate(tmp_path, keys, expert_dir, "original")


def test_generated_lists_round_trip_and_evaluate_the_same(tmp_path, store, make_lesions):
    lists = make_lesions(30, seed=11)
    lists[4] = []  # a study reviewed with no lesion
    keys = [f"{2017 + i % 7}_{1 + i % 12:02d}_{1 + i:02d}_patient_{100 + i}" for i in range(30)]
    originals = tmp_path / "originals"
    originals.mkdir()
    for key, lesions in zip(keys, lists):
        year, month, day, _, n = key.split("_")
        name = f"PETCT_{year}_THANG {int(month)}_{int(day)}_patient_{n}_REPORT_patient_{n}.json"
        (originals / name).write_text(json.dumps(lesions, ensure_ascii=False, indent=2), encoding="utf-8")
    _review_all(store, list(zip(keys, lists)))
    written = export_expert(store, tmp_path / "export", "an")
    assert sorted(p.name for p in written) == sorted(p.name for p in originals.iterdir())
    for path in written:
        original = (originals / path.name).read_text(encoding="utf-8")
        assert _pairs(path.read_text(encoding="utf-8")) == _pairs(original)
        assert _types(_pairs(path.read_text(encoding="utf-8"))) == _types(_pairs(original))
        assert path.read_bytes() == json.dumps(json.loads(original), ensure_ascii=False, indent=4).replace("\n", "\r\n").encode()
    assert (tmp_path / "export" / "PETCT_2021_THANG 5_5_patient_104_REPORT_patient_104.json").read_bytes() == b"[]"
    exported = _evaluate(tmp_path, keys, tmp_path / "export", "exported")
    assert exported["n_patients"] == 30 and exported["reference"] == "expert"
    assert exported == _evaluate(tmp_path, keys, originals, "original")
    first = {p: p.read_bytes() for p in written}
    assert export_expert(store, tmp_path / "export", "an") == written  # a rerun rewrites the same bytes
    assert {p: p.read_bytes() for p in written} == first


@pytest.mark.parametrize("study, name", [
    ("2018_11_02_patient_637", "PETCT_2018_THANG 11_2_patient_637_REPORT_patient_637.json"),
    ("PETCT2018/THANG 11/reports/day_02_patient_637.json", "PETCT_2018_THANG 11_02_patient_637_REPORT_patient_637.json"),
    ("PETCT2017/THANG 8/CT/day_1_patient_0.npz", "PETCT_2017_THANG 8_1_patient_0_REPORT_patient_0.json"),
    ("PETCT_2017_THANG 12_5_patient_421_REPORT_patient_421", "PETCT_2017_THANG 12_5_patient_421_REPORT_patient_421.json"),
    ("PETCT_2017_THANG 12_5_patient_421_REPORT_patient_421.json", "PETCT_2017_THANG 12_5_patient_421_REPORT_patient_421.json"),
    ("PETCT_2017_THANG 12_5_patient_421_REPORT_patient_42", None),
    ("2023_04_19_ANON", None),
    ("2023_13_01_patient_1", None),
    ("../../etc/passwd", None),
    ("vimed_3f2a9c", None),
])
def test_expert_file_names(study, name):
    assert expert_file_name(study) == name
    if name is not None:
        assert study_key_from_filename(name) is not None


def test_studies_without_an_official_name_are_reported_and_skipped(tmp_path, store):
    lesion = json.loads('[{"Kích thước khối u, tổn thương, bất thường": "9 mm", "Hình dạng của khối u, tổn thương, bất thường": '
                        '"Hạch", "Vị trí của khối u, tổn thương, bất thường": "trung thất", "Mức độ FDG": {"SUVmax": 3, '
                        '"Tăng chuyển hoá FDG": "Cao"}, "Xâm lấn": "Không", "Giai đoạn chuyển hoá": "viêm"}]')
    _review_all(store, [("2023_04_19_ANON", lesion), ("2019_12_03_patient_269", lesion)])
    problems: list[str] = []
    written = export_expert(store, tmp_path / "out", "an", on_problem=problems.append)
    assert [p.name for p in written] == ["PETCT_2019_THANG 12_3_patient_269_REPORT_patient_269.json"]
    assert problems == ["item 'item0': study '2023_04_19_ANON' has no official expert file name "
                        "(needs a study key YYYY_MM_DD_patient_<n> or a ViMed-PET path); skipped"]
    with pytest.warns(ReviewExportWarning, match="2023_04_19_ANON"):
        export_expert(store, tmp_path / "out", "an")
    assert export_expert(store, tmp_path / "out", "binh") == []  # nothing reviewed


def test_one_study_through_several_items_writes_the_latest_list(tmp_path, store, make_lesions):
    pool = [lesion for lesions in make_lesions(10, seed=21) for lesion in lesions]
    first, second = pool[:2], pool[2:3]
    # the same study, once as a study key and once as a ViMed-PET path (zero-padded day): one file
    store.add_items([WorkItem("a", "2018_12_04_patient_723", "x", model="m1"),
                     WorkItem("b", "PETCT2018/THANG 12/reports/day_04_patient_723.json", "y", model="m2")])
    store.save(Review("b", "an", second, []))
    store.save(Review("a", "an", first, []))  # saved last: the reviewer's current view of the study
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        problems: list[str] = []
        (path,) = export_expert(store, tmp_path / "out", "an", on_problem=problems.append)
    assert json.loads(path.read_text(encoding="utf-8")) == first
    assert path.name == "PETCT_2018_THANG 12_4_patient_723_REPORT_patient_723.json"
    assert problems == ["PETCT_2018_THANG 12_4_patient_723_REPORT_patient_723.json: 'an' saved 2 different lesion lists "
                        "for this study through several items; wrote the latest (item 'a', saved "
                        f"{store.latest('a', 'an').saved_at})"]


def test_sentence_label_csv(tmp_path, store):
    store.add_items([WorkItem("i1", "2017_12_27_patient_399", "Một. Hai, có dấu phẩy."), WorkItem("i2", "2018_11_02_patient_637", "Ba.")])
    store.save(Review("i1", "an", [], [SentenceLabel(0, "Một.", "significant", "missed_finding")]))
    store.save(Review("i1", "an", [], [SentenceLabel(0, "Một.", "correct"), SentenceLabel(1, "Hai, có \"dấu\" phẩy.", "insignificant", "wrong_location")]))
    store.save(Review("i1", "binh", [], [SentenceLabel(0, "Một.", "correct")]))
    store.save(Review("i2", "binh", [], []))
    path = export_sentence_labels(store, tmp_path / "labels.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [list(CSV_COLUMNS),
                    ["i1", "2017_12_27_patient_399", "an", "2", "0", "Một.", "correct", ""],
                    ["i1", "2017_12_27_patient_399", "an", "2", "1", "Hai, có \"dấu\" phẩy.", "insignificant", "wrong_location"],
                    ["i1", "2017_12_27_patient_399", "binh", "1", "0", "Một.", "correct", ""]]
    with export_sentence_labels(store, tmp_path / "all.csv", all_revisions=True).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["reviewer"], r["revision"], r["index"], r["label"], r["category"]) for r in rows] == [
        ("an", "1", "0", "significant", "missed_finding"), ("an", "2", "0", "correct", ""),
        ("an", "2", "1", "insignificant", "wrong_location"), ("binh", "1", "0", "correct", "")]
