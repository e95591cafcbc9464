"""`vipet augment`: comparison, paraphrase, VQA and image sets from a tiny synthetic build.

The cohort of 8 holds one person scanned twice (study 7 repeats study 6, both in train), so the
comparison set must pair those two visits; the paraphrase set runs against a loopback
OpenAI-compatible server started here."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vipet.data.augsets import (AugmentSetsConfig, ParaphraseSettings, comparison_answer, study_pairs, write_set,
                                write_sets)
from vipet.data.manifest import read_manifest
from vipet.errors import BuildError

TARGET = (16, 32, 32)


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> tuple[Path, Path]:
    from vipet.data.build import build_dataset
    from vipet.data.config import BuildConfig
    from vipet.synth.writer import write_cohort

    cohort = tmp_path_factory.mktemp("aug_cohort")
    write_cohort(cohort, n=8, seed=0, progress=False)
    out = tmp_path_factory.mktemp("aug_build")
    build_dataset(cohort, out, BuildConfig(target_shape=TARGET), workers=1, progress=False)
    return cohort, out


def _truth(cohort: Path) -> list[dict]:
    return [json.loads(line) for line in (cohort / "truth.jsonl").read_text(encoding="utf-8").splitlines()]


def test_comparison_answer_states_kept_new_and_gone_lesions_with_suv_change():
    first = ("Hình ảnh khối mờ, kích thước 43 x 39 mm, tăng chuyển hóa FDG (SUVmax: 8,3) ở thùy dưới phổi trái. "
             "Hình ảnh hạch thượng đòn phải, kích thước 12 x 14 mm, tăng chuyển hóa FDG (SUVmax: 4,1).")
    second = "Hình ảnh khối mờ, kích thước 30 x 28 mm, tăng chuyển hóa FDG (SUVmax: 5,0) ở thùy dưới phổi trái."
    answer = comparison_answer(first, second, "Phim 1", "Phim 2")
    assert answer.startswith("Phim 1: ") and " Phim 2: " in answer
    assert "SUVmax giảm từ 8,3 xuống 5,0" in answer
    assert "không còn thấy" in answer and "SUVmax 4,1" in answer.split("không còn thấy")[1]
    reverse = comparison_answer(second, first, "Phim 1", "Phim 2")
    assert "SUVmax tăng từ 5,0 lên 8,3" in reverse and "tổn thương mới" in reverse
    normal = "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não."
    assert comparison_answer(normal, normal, "A", "B").endswith("So sánh: cả hai phim không phát hiện tổn thương bất thường.")


def test_study_pairs_keep_every_repeat_visit_and_draw_other_pairs_by_seed():
    rows = [{"study_key": k, "person_id": p, "year": y, "month": 1, "day": 1, "sample_id": k}
            for k, p, y in [("a", "p1", 2019), ("b", "p1", 2017), ("c", "p2", 2018), ("d", "p3", 2020), ("e", "p1", 2023)]]
    pairs = study_pairs(rows, max_pairs=3, seed=0)
    same = [(a["study_key"], b["study_key"]) for a, b, s in pairs if s]
    assert same == [("b", "a"), ("a", "e")]  # consecutive visits, earlier first
    other = [(a["study_key"], b["study_key"]) for a, b, s in pairs if not s]
    assert len(other) == 3 and len(set(other)) == 3
    assert all(a != b and {a, b} & {"c", "d"} for a, b in other)  # never two visits of p1
    assert pairs == study_pairs(rows, max_pairs=3, seed=0)


def test_comparison_set_pairs_the_two_visits_of_one_person(build, tmp_path):
    cohort, built = build
    truth = {t["key"]: t for t in _truth(cohort)}
    repeats = {(truth[k]["patient"]["person"]) for k in truth if truth[k]["patient"]["repeat_of_index"] is not None}
    assert repeats  # the cohort of 8 has one (study 7 repeats study 6)
    result = write_set("comparison", built, tmp_path, AugmentSetsConfig(seed=0, max_pairs=4))
    llava = json.loads((tmp_path / "comparison" / "llava.json").read_text(encoding="utf-8"))
    assert result.records == len(llava) > 0
    import datasets

    hf = datasets.load_from_disk(str(tmp_path / "comparison" / "hf"))
    rows = hf.to_list()
    assert [r["id"] for r in rows] == [r["id"] for r in llava]
    same = [r for r in rows if r["same_person"]]
    train_keys = {r["study_key"] for r in read_manifest(built) if r["split"] == "train"}
    expected = {tuple(sorted(k for k in truth if truth[k]["patient"]["person"] == person and k in train_keys))
                for person in repeats}
    assert {tuple(sorted(r["study_keys"])) for r in same} == {e for e in expected if len(e) == 2}
    for row in same:
        assert "cùng một người bệnh" in row["question"]
        first, second = row["study_keys"]
        assert truth[first]["study_date"] < truth[second]["study_date"]
        whole = {r["study_key"]: r for r in read_manifest(built) if r["region"] == "whole"}
        a, b = whole[first], whole[second]
        labels = [f"Phim {i} ({r['day']:02d}/{r['month']:02d}/{r['year']})" for i, r in ((1, a), (2, b))]
        assert row["answer"] == comparison_answer(a["report_text"], b["report_text"], *labels)
        assert row["answer"].startswith(labels[0] + ": ")
    entry = llava[0]
    assert isinstance(entry["image"], list) and len(entry["image"]) == 2
    assert all((built / p).is_file() for p in entry["image"])
    assert entry["conversations"][0]["value"].startswith("<image>\n<image>\n")


def test_sets_are_deterministic_by_seed_and_resume(build, tmp_path):
    _, built = build
    config = AugmentSetsConfig(seed=3, max_pairs=3, copies=2)
    first = write_sets(built, tmp_path / "a", ["comparison", "vqa", "image"], config)
    write_sets(built, tmp_path / "b", ["comparison", "vqa", "image"], config)
    for name in ("comparison", "vqa", "image"):
        assert first["sets"][name]["records"] > 0
        assert (tmp_path / "a" / name / "llava.json").read_bytes() == (tmp_path / "b" / name / "llava.json").read_bytes()
    arrays_a = sorted((tmp_path / "a" / "image" / "arrays").glob("*.npy"))
    assert len(arrays_a) == first["sets"]["image"]["records"]
    for path in arrays_a:
        assert np.array_equal(np.load(path), np.load(tmp_path / "b" / "image" / "arrays" / path.name))
    assert (tmp_path / "a" / "augment.json").read_bytes() == (tmp_path / "b" / "augment.json").read_bytes()
    (tmp_path / "a" / ".vqa.killed.tmp").mkdir()  # a set a killed run left half written
    write_set("vqa", built, tmp_path / "a", AugmentSetsConfig(seed=2))
    assert not (tmp_path / "a" / ".vqa.killed.tmp").exists()
    write_set("vqa", built, tmp_path / "a", config)
    before = (tmp_path / "a" / "image" / "set.json").stat().st_mtime_ns
    again = write_sets(built, tmp_path / "a", ["image", "vqa"], config)
    assert again["sets"]["image"]["cached"] and again["sets"]["vqa"]["cached"]
    assert (tmp_path / "a" / "image" / "set.json").stat().st_mtime_ns == before
    other = write_sets(built, tmp_path / "c", ["image"], AugmentSetsConfig(seed=4, copies=2))
    assert other["sets"]["image"]["records"] == first["sets"]["image"]["records"]
    changed = [p.name for p in arrays_a if not np.array_equal(np.load(p), np.load(tmp_path / "c" / "image" / "arrays" / p.name))]
    assert changed  # another seed, other augmentations


def test_image_set_matches_the_source_volume_shape_and_vqa_the_task_pairs(build, tmp_path):
    from vipet.data.cache import open_array
    from vipet.data.tasks import qa_pairs

    _, built = build
    write_sets(built, tmp_path, ["image", "vqa"], AugmentSetsConfig(seed=0))
    rows = [r for r in read_manifest(built) if r["split"] == "train" and r["region"] == "whole" and r["report_text"].strip()]
    image = json.loads((tmp_path / "image" / "llava.json").read_text(encoding="utf-8"))
    assert len(image) == len(rows)
    for entry, row in zip(image, sorted(rows, key=lambda r: r["sample_id"])):
        array = np.load(tmp_path / entry["image"])
        assert array.shape == open_array(built / row["image_path"]).shape and array.dtype == np.float16
        assert 0.0 <= float(array.min()) and float(array.max()) <= 1.5
    vqa = json.loads((tmp_path / "vqa" / "llava.json").read_text(encoding="utf-8"))
    expected = sum(len(qa_pairs(r["report_text"], "whole")) for r in rows)
    assert len(vqa) == expected > 0


class _Echo(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that returns the report it is sent (a faithful paraphrase), or
    with every SUVmax value changed (`lie`), or fails with HTTP 500 for the first `fail_first` calls."""

    lie = False
    fail_first = 0
    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"auth": self.headers.get("Authorization"), "body": body})
        if len(type(self).seen) <= type(self).fail_first:
            self.send_response(500)
            self.end_headers()
            return
        text = body["messages"][-1]["content"]
        if type(self).lie:
            import re

            text = re.sub(r"SUVmax: (\d+)", lambda m: f"SUVmax: {int(m.group(1)) + 7}", text)
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def endpoint():
    handler = type("Handler", (_Echo,), {"seen": [], "lie": False, "fail_first": 0})
    httpd = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_paraphrase_set_keeps_faithful_rewrites_and_resumes_after_errors(build, tmp_path, endpoint, monkeypatch):
    _, built = build
    url, handler = endpoint
    monkeypatch.setenv("VIPET_TEST_KEY", "k-42")
    settings = ParaphraseSettings(endpoint=url, model="echo", api_key_env="VIPET_TEST_KEY", timeout_s=5)
    config = AugmentSetsConfig(paraphrase=settings, max_paraphrases=3)
    handler.fail_first = 1
    first = write_set("paraphrase", built, tmp_path, config)
    assert first.records == 2 and len(first.skipped) == 1 and "HTTP 500" in first.skipped[0]["reason"]
    assert handler.seen[0]["auth"] == "Bearer k-42" and handler.seen[0]["body"]["model"] == "echo"
    assert (tmp_path / "paraphrase.partial.jsonl").is_file()
    (tmp_path / "paraphrase" / "set.json").unlink()  # as if killed before the set was complete
    asked = len(handler.seen)
    second = write_set("paraphrase", built, tmp_path, config)
    assert second.records == 3 and not second.skipped
    assert len(handler.seen) == asked + 1  # only the failed report is asked again
    assert not (tmp_path / "paraphrase.partial.jsonl").exists()
    llava = json.loads((tmp_path / "paraphrase" / "llava.json").read_text(encoding="utf-8"))
    rows = sorted((r for r in read_manifest(built) if r["split"] == "train" and r["region"] == "whole"),
                  key=lambda r: r["sample_id"])[:3]
    from vipet.reports.parse import parse_report

    # The echo returns what the paraphraser sends: the parsed report's text.
    assert [e["conversations"][1]["value"] for e in llava] == [parse_report(r["report_text"]).full_text() for r in rows]


def test_paraphrase_set_drops_rewrites_that_change_a_number(build, tmp_path, endpoint):
    _, built = build
    url, handler = endpoint
    handler.lie = True
    result = write_set("paraphrase", built, tmp_path, AugmentSetsConfig(
        paraphrase=ParaphraseSettings(endpoint=url, model="m", timeout_s=5), max_paraphrases=4))
    rows = sorted((r for r in read_manifest(built) if r["split"] == "train" and r["region"] == "whole"),
                  key=lambda r: r["sample_id"])[:4]
    with_suv = [r for r in rows if "SUVmax" in r["report_text"]]
    assert with_suv and len(with_suv) < len(rows)  # both kinds are asked
    assert result.records == len(rows) - len(with_suv)
    assert all(s["reason"] == "the rewrite does not state the same lesions" for s in result.skipped)


def test_paraphrase_needs_an_endpoint_and_a_set_key(build, tmp_path, monkeypatch):
    _, built = build
    with pytest.raises(BuildError, match="--paraphrase-config"):
        write_set("paraphrase", built, tmp_path, AugmentSetsConfig())
    monkeypatch.delenv("VIPET_NO_SUCH_KEY", raising=False)
    with pytest.raises(BuildError, match="VIPET_NO_SUCH_KEY"):
        write_set("paraphrase", built, tmp_path, AugmentSetsConfig(
            paraphrase=ParaphraseSettings(endpoint="http://127.0.0.1:9/v1", model="m", api_key_env="VIPET_NO_SUCH_KEY")))


def test_cli_writes_sets_and_refuses_bad_input_in_one_line(build, tmp_path, endpoint):
    from vipet.cli import app

    _, built = build
    url, _ = endpoint
    config = tmp_path / "para.yaml"
    config.write_text(f"endpoint: {url}\nmodel: echo\ntimeout_s: 5\n", encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(app, ["augment", str(built), str(tmp_path / "out"), "--sets", "comparison,paraphrase",
                             "--paraphrase-config", str(config), "--max-paraphrases", "1", "--max-pairs", "2"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "out" / "comparison" / "hf").is_dir() and (tmp_path / "out" / "paraphrase" / "llava.json").is_file()
    bad = runner.invoke(app, ["augment", str(built), str(tmp_path / "x"), "--sets", "comparisn"])
    assert bad.exit_code == 1 and bad.output.strip().startswith("error:") and "comparisn" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    missing = runner.invoke(app, ["augment", str(tmp_path / "nope"), str(tmp_path / "y"), "--sets", "vqa"])
    assert missing.exit_code == 1 and "manifest.parquet" in missing.output
    typo = tmp_path / "typo.yaml"
    typo.write_text("endpoint: x\nmodle: m\n", encoding="utf-8")
    refused = runner.invoke(app, ["augment", str(built), str(tmp_path / "z"), "--sets", "paraphrase",
                                  "--paraphrase-config", str(typo)])
    assert refused.exit_code == 1 and "modle" in refused.output
