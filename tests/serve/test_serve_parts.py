"""The parts under the pages: pictures, voxel values, lesion marks, suggestions, the lesion table, uploads, CLI."""

from __future__ import annotations

import io
import json
import re
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serve_support import make_config
from vipet.data.cache import open_array
from vipet.errors import ImagingError, VipetError
from vipet.imaging.render import fused_slice_rgb, mip_image
from vipet.imaging.windows import WINDOWS
from vipet.serve import images
from vipet.serve.sources import Catalog, StudyVolumes, volumes_from_cache


@pytest.fixture(scope="module")
def one_study(serve_build):
    key = sorted(p.name for p in (serve_build / "cache").iterdir())[0]
    return volumes_from_cache(serve_build, key), serve_build / "cache" / key


def decode(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)))


def test_planes_are_the_render_modules_pictures_at_true_proportions(one_study):
    volumes, folder = one_study
    ct, pet = open_array(folder / "ct.b2nd"), open_array(folder / "pet.b2nd").astype(np.float32)
    dz, dy, dx = volumes.spacing
    assert dy == dx  # in-plane pixels are square, so the axial plane needs no stretch
    z = ct.shape[0] // 2
    for window in images.WINDOW_PRESETS:
        assert np.array_equal(decode(images.plane_png(volumes, "axial", z, window)), fused_slice_rgb(ct[z], pet[z], WINDOWS[window]))
    coronal = decode(images.plane_png(volumes, "coronal", 10, "lung"))
    assert coronal.shape == (round(ct.shape[0] * dz / dx), ct.shape[2], 3)
    sagittal = images.plane_rgb(volumes, "sagittal", 5)
    assert sagittal.shape == (round(ct.shape[0] * dz / dy), ct.shape[1], 3)
    assert np.array_equal(decode(images.mip_png(volumes)), mip_image(pet, volumes.spacing, 5.0, head_first=True))
    with pytest.raises(ImagingError, match="outside"):
        images.plane_rgb(volumes, "axial", ct.shape[0])
    with pytest.raises(ImagingError, match="unknown window"):
        images.plane_rgb(volumes, "axial", 0, "liver")
    with pytest.raises(ImagingError, match="unknown plane"):
        images.plane_rgb(volumes, "oblique", 0)


def test_value_at_reads_the_cached_voxel_and_names_the_unit(one_study):
    volumes, folder = one_study
    pet, ct = open_array(folder / "pet.b2nd"), open_array(folder / "ct.b2nd")
    z, y, x = np.unravel_index(int(np.argmax(pet)), pet.shape)
    value = images.value_at(volumes, int(z), int(y), int(x))
    assert value["pet"] == round(float(pet[z, y, x]), 3) and value["ct_hu"] == int(ct[z, y, x])
    assert value["is_suv"] and value["pet_unit"] == "SUVbw"
    with pytest.raises(ImagingError, match="outside"):
        images.value_at(volumes, -1, 0, 0)


def test_a_pet_not_in_suv_is_scaled_for_display_never_called_suv():
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 30000, size=(6, 8, 8)).astype(np.float32)
    volumes = StudyVolumes("k", np.zeros((6, 8, 8), np.int16), raw, (2.0, 2.0, 2.0), "VIMED_RAW", {}, {})
    assert images.display_scale(volumes) == pytest.approx(10.0 / np.percentile(raw, 99.9))
    assert images.value_at(volumes, 0, 0, 0)["is_suv"] is False


def test_lesions_are_marked_matched_missed_and_hallucinated():
    from vipet.serve.drafting import compare_lesions

    nodule = "Hình ảnh nốt mờ thùy trên phổi phải, kích thước 12 mm, tăng chuyển hóa FDG (SUVmax: 3,0)."
    node = "Hình ảnh hạch trung thất cạnh khí quản phải, kích thước 15 mm, tăng chuyển hóa FDG (SUVmax: 6,0)."
    effusion = "Hình ảnh tràn dịch màng phổi trái lượng ít."
    compared = compare_lesions(f"{nodule} {effusion}", f"{nodule} {node}")
    assert [m.status for m in compared["draft"]] == ["matched", "hallucinated"]
    assert [m.status for m in compared["reference"]] == ["matched", "missed"]
    assert '<span class="hallucinated">' in compared["draft_html"] and '<span class="missed">' in compared["reference_html"]
    escaped = compare_lesions("<script>alert(1)</script>", "")
    assert "<script>" not in escaped["draft_html"]


def test_suggested_questions_are_the_toolkits_questions_without_answers(serve_build):
    from vipet.reports.vqa import QUESTION_TYPES, generate_vqa
    from vipet.serve.drafting import suggested_questions

    catalog = Catalog(serve_build, serve_build / "unused")
    text = next(e.report_text for e in catalog.entries.values() if e.report_text)
    suggestions = suggested_questions(text)
    pairs = generate_vqa(text)
    assert [s["type"] for s in suggestions] == [t for t in QUESTION_TYPES if t in {p["type"] for p in pairs}]
    assert all(s["question"] == next(p["question"] for p in pairs if p["type"] == s["type"]) for s in suggestions)
    assert suggested_questions("")[0]["type"] == "region"


def test_search_by_key_year_split_and_finding(serve_build):
    from vipet.data.manifest import read_manifest

    catalog = Catalog(serve_build, serve_build / "unused")
    rows = [r for r in read_manifest(serve_build) if r["region"] == "whole"]
    assert [e.key for e in catalog.search()] == sorted(r["study_key"] for r in rows)
    assert [e.key for e in catalog.search(split="test")] == sorted(r["study_key"] for r in rows if r["split"] == "test")
    assert [e.key for e in catalog.search(year="2018")] == sorted(r["study_key"] for r in rows if r["year"] == 2018)
    assert [e.key for e in catalog.search("PATIENT_1")] == sorted(r["study_key"] for r in rows if "patient_1" in r["study_key"])
    nodes = catalog.search(finding="hạch")
    assert nodes and all("hạch" in e.finding_types() for e in nodes)
    assert all("Hình ảnh" in e.report_text for e in nodes)


def test_only_the_most_recently_opened_studies_stay_decompressed(serve_build, monkeypatch):
    from vipet.serve import sources

    monkeypatch.setattr(sources, "MAX_OPEN_STUDIES", 2)
    catalog = Catalog(serve_build, serve_build / "unused")
    first, second, third = sorted(catalog.entries)[:3]
    kept = catalog.open(first)
    catalog.open(second)
    assert catalog.open(first) is kept  # a hit makes it the most recent
    catalog.open(third)  # evicts `second`, the least recently used
    assert [catalog.is_open(k) for k in (first, second, third)] == [True, False, True]
    again = catalog.open(second)
    assert np.array_equal(again.ct_hu, volumes_from_cache(serve_build, second).ct_hu)
    assert not catalog.is_open(first)


def test_suvmax_cells_are_read_as_the_expert_files_write_them():
    from vipet.serve.review_routes import parse_suv

    assert parse_suv("7,4") == 7.4 and parse_suv("40") == 40 and isinstance(parse_suv("40"), int)
    assert parse_suv("") == "Không có" == parse_suv("Không có")
    assert parse_suv("3.0") == 3.0 and isinstance(parse_suv("3.0"), float)
    assert parse_suv("Không có giá trị xác định") == "Không có giá trị xác định"  # as in the official files
    assert parse_suv("nan") == "nan"  # never a NaN number in an expert file


def test_lesion_table_rows_round_trip_the_official_expert_files(real_data):
    from vipet.review.store import check_lesions
    from vipet.schema import Lesion
    from vipet.serve.review_routes import lesion_from_row, row_from_lesion

    files = sorted((real_data / "expert").glob("*.json"))
    assert files
    for path in files:
        official = json.loads(path.read_text(encoding="utf-8"))
        rebuilt = [lesion_from_row(row_from_lesion(lesion)) for lesion in official]
        check_lesions(rebuilt)
        assert [Lesion.from_expert(x) for x in rebuilt] == [Lesion.from_expert(x) for x in official], path.name
        assert all(list(x) == list(rebuilt[0]) for x in rebuilt)


def test_drafters_fit_on_the_build_and_refuse_what_they_cannot_do(serve_build, tmp_path):
    from vipet.data.manifest import read_manifest
    from vipet.serve.drafting import Drafter

    catalog = Catalog(serve_build, tmp_path / "work")
    rows = read_manifest(serve_build)
    train_texts = {r["report_text"] for r in rows if r["split"] == "train" and r["region"] == "whole"}
    key = sorted(k for k, e in catalog.entries.items() if e.split == "test")[0]
    steps: list[tuple[float, str]] = []
    drafted = Drafter("retrieval", catalog).draft(key, lambda f, m: steps.append((f, m)))
    assert drafted in train_texts  # retrieval copies the nearest training report
    assert steps[-1] == (1.0, "done") and any("fitting" in m for _, m in steps)
    template = Drafter("template", catalog)
    assert template.draft(key) == template.draft(sorted(catalog.entries)[1]) in train_texts  # one report for all
    answer = Drafter("majority-vqa", catalog).answer(key, "Hình ảnh PET/CT này thể hiện vùng cơ thể nào?")
    assert answer.startswith("Hình ảnh thể hiện")
    with pytest.raises(VipetError, match="does not write reports"):
        Drafter("majority-vqa", catalog).draft(key)
    with pytest.raises(VipetError, match="API adapter"):
        Drafter("api:http://127.0.0.1:1/v1", catalog)
    with pytest.raises(VipetError, match="run folder"):
        Drafter(str(tmp_path / "no_run"), catalog)


def test_an_uploaded_nifti_study_opens_with_progress(serve_build, tmp_path):
    from vipet.synth import write_cohort

    source = write_cohort(tmp_path / "nifti", n=1, seed=3, format="nifti", size="small", progress=False)
    folder = next(p for p in source.iterdir() if p.is_dir())
    sidecar = json.loads((folder / "study.json").read_text(encoding="utf-8"))
    sidecar["key"] = "uploaded_study"
    (folder / "study.json").write_text(json.dumps(sidecar), encoding="utf-8")
    client = TestClient(__import__("vipet.serve.app", fromlist=["create_app"]).create_app(make_config(serve_build, tmp_path)))
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/studies").text).group(1)
    files = [("files", (p.name, p.read_bytes())) for p in sorted(folder.iterdir())]
    added = client.post("/upload", files=files, data={"name": "mine"}, headers={"X-CSRF-Token": csrf})
    assert added.status_code == 200, added.text
    assert added.json()["key"] == "uploaded_study" and added.json()["saved"] == len(files)
    assert "error" in client.get("/api/study/uploaded_study/info").json()  # not open yet
    job = client.post("/api/study/uploaded_study/open", headers={"X-CSRF-Token": csrf}).json()["job"]
    seen = []
    for _ in range(600):
        state = client.get(f"/api/jobs/{job}").json()
        seen.append(state["fraction"])
        if state["done"]:
            break
        time.sleep(0.05)
    assert state["error"] is None and state["fraction"] == 1.0 and seen == sorted(seen)
    info = client.get("/api/study/uploaded_study/info").json()
    import nibabel

    assert info["shape"][0] == nibabel.load(str(folder / "pet.nii.gz")).shape[2] and info["is_suv"]
    assert client.get("/api/study/uploaded_study/plane/axial/0.png").headers["content-type"] == "image/png"
    assert client.post("/upload", files=files, data={"name": "mine"}, headers={"X-CSRF-Token": csrf}).status_code == 409


def test_cli_binds_locally_unless_told_and_needs_a_set_password(monkeypatch):
    from typer.testing import CliRunner

    from vipet.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["serve", "--help"]).exit_code == 0
    wide = runner.invoke(app, ["serve", ".", "--host", "0.0.0.0"])
    assert wide.exit_code == 1 and "--allow-remote" in wide.output
    monkeypatch.delenv("VIPET_TEST_UNSET", raising=False)
    unset = runner.invoke(app, ["serve", ".", "--password-env", "VIPET_TEST_UNSET"])
    assert unset.exit_code == 1 and "VIPET_TEST_UNSET" in unset.output


def test_a_run_folder_drafts_what_vipet_generate_writes(serve_build, tmp_path):
    """A two-step tiny run: the workstation's draft of a test study equals its `vipet generate` record."""
    import torch

    torch.set_num_threads(1)
    from pathlib import Path

    from vipet.serve.drafting import Drafter
    from vipet.train.config import load_config
    from vipet.train.generate import read_jsonl
    from vipet.train.predict import predict
    from vipet.train.run import train

    tiny = {
        "model.small_lm": {"vocab_size": 400, "n_layer": 1, "n_embd": 32, "n_head": 2, "n_positions": 512, "dropout": 0.0},
        "model.encoder.channels": [4, 8, 8, 16], "model.encoder.out_dim": 32, "model.encoder.input_size": [16, 32, 32],
        "train.max_steps": 2, "train.eval_every": 0, "train.save_every": 2, "train.batch_size": 4,
        "data.max_val_samples": 2, "generation.max_new_tokens": 8, "data.build": str(serve_build),
    }
    repo = Path(__file__).resolve().parents[2]
    run = tmp_path / "run"
    train(load_config(repo / "vipet" / "configs" / "small_vlm.yaml", tiny), run)
    records = read_jsonl(predict(run, serve_build, "test", tmp_path / "preds.jsonl", progress=False, device="cpu"))
    catalog = Catalog(serve_build, tmp_path / "work")
    drafter = Drafter(str(run), catalog)
    assert drafter.region == "chest" and drafter.tasks == ("report",)
    for record in records:
        assert drafter.draft(record["study"]) == record["prediction"], record["id"]
