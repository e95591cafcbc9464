"""The grounding check on hand-built phantoms (a hot sphere of known SUV, size and side) and on a
built synthetic study whose planted lesions are known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vipet.trust.grounding import (CONTRADICTED, NOT_CHECKABLE, SUPPORTED, ground_report, ground_sentence, size_band,
                                   stated_sides)
from vipet.trust.grounding_image import StudyImage, left_step_of

CHEST = "Lồng ngực"
SPACING = (4.0, 2.0, 2.0)  # (z, y, x) mm
SHAPE = (40, 100, 100)
BOUNDS = {"head_neck": (0, 8), "chest": (8, 24), "abdomen_pelvis": (24, 40)}


def phantom(centre_x: int = 70, suv: float = 8.0, radius_mm: float = 10.0, left_step: int | None = 1,
            second: tuple[int, int, int] | None = None) -> StudyImage:
    """A body (CT 0 HU, PET SUV 1.0) in air, with a hot sphere peaking at `suv` in its centre
    (16, 50, centre_x) and falling to 0.9 x `suv` at its rim (one peak voxel, all of it above half
    maximum); the body's midline is column 49.5, so column 70 lies 41 mm towards the patient's left."""
    ct = np.full(SHAPE, -1000.0, np.float32)
    pet = np.zeros(SHAPE, np.float32)
    zz, yy, xx = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    body = ((yy - 49.5) / 40.0) ** 2 + ((xx - 49.5) / 45.0) ** 2 <= 1.0
    ct[body], pet[body] = 0.0, 1.0
    for z, y, x in [(16, 50, centre_x)] + ([second] if second else []):
        r2 = ((zz - z) * SPACING[0]) ** 2 + ((yy - y) * SPACING[1]) ** 2 + ((xx - x) * SPACING[2]) ** 2
        sphere = r2 <= radius_mm ** 2
        pet[sphere] = suv * (1.0 - 0.1 * r2[sphere] / radius_mm ** 2)
    return StudyImage("phantom", pet, ct, SPACING, dict(BOUNDS), left_step, "test")


def sentence(suv: str = "8,0", size: str = "20 mm", side: str = "trái", site: str = "thùy trên phổi") -> str:
    return f"Hình ảnh nốt mờ ở {site} {side}, kích thước {size}, tăng chuyển hóa FDG (SUVmax: {suv})."


def check(image: StudyImage, text: str):
    result = ground_sentence(image, CHEST, text)
    assert result is not None and len(result.checks) == 1
    return result.checks[0]


def test_the_true_sentence_is_supported_with_its_evidence():
    image = phantom()
    found = check(image, sentence())
    assert found.status == SUPPORTED and found.failed == ()
    spot = found.evidence["hot_spot"]
    assert spot["suv_max"] == 8.0 and spot["side"] == "left"
    assert spot["index"] == [16, 50, 70] and spot["position_mm"] == [64.0, 100.0, 140.0]
    # A 20 mm sphere on a 2 mm grid: 11 voxels across the centre row and column (|d| <= 10 mm).
    assert spot["size_mm"] == [22.0, 22.0]
    assert spot["offset_mm"] == pytest.approx((70 - 49.5) * 2.0)


@pytest.mark.parametrize("suv, failed", [("16,0", "suv_max"), ("4,0", "suv_max"), ("10,8", "suv_max")])  # 8.0 is 25.9% below 10.8
def test_a_wrong_suvmax_is_contradicted(suv, failed):
    found = check(phantom(), sentence(suv=suv))
    assert found.status == CONTRADICTED and found.failed == (failed,)
    assert found.evidence["hot_spot"]["suv_max"] == 8.0


def test_suvmax_within_the_tolerance_is_supported():
    assert check(phantom(), sentence(suv="9,8")).status == SUPPORTED  # 8.0 is 18% below 9.8 (< 25%)


def test_a_doubled_size_and_a_swapped_side_are_contradicted():
    image = phantom()
    assert check(image, sentence(size="40 mm")).failed == ("size",)
    assert check(image, sentence(size="40 x 38 mm")).failed == ("size",)
    assert check(image, sentence(side="phải")).failed == ("side",)
    assert check(image, sentence(size="18 x 22 mm")).status == SUPPORTED


def test_the_side_follows_the_recorded_column_direction():
    mirrored = phantom(left_step=-1)  # columns run towards the patient's right: column 70 is on the right
    assert check(mirrored, sentence(side="phải")).status == SUPPORTED
    assert check(mirrored, sentence(side="trái")).failed == ("side",)
    unknown = phantom(left_step=None)  # no side can be read: the side is not held against the sentence
    assert check(unknown, sentence(side="phải")).status == SUPPORTED


def test_a_lesion_moved_to_another_region_is_contradicted():
    found = check(phantom(), sentence(site="gan", side="trái"))
    assert found.status == CONTRADICTED and found.failed == ("location",)
    assert found.stated.regions == ("abdomen_pelvis",)


def test_non_avid_and_midline_statements_are_not_held_to_what_pet_cannot_show():
    image = phantom()
    text = "Hình ảnh nốt mờ ở thùy trên phổi trái, kích thước 20 mm, không tăng chuyển hóa FDG."
    assert check(image, text).status == NOT_CHECKABLE
    # A mediastinal station's side word is not a body half: a hot spot 41 mm left is not held against "phải".
    station = "Hình ảnh hạch ở cạnh phải khí quản, kích thước 20 mm, tăng chuyển hóa FDG (SUVmax: 8,0)."
    assert check(image, station).status == SUPPORTED


def test_one_hot_spot_supports_one_lesion_of_the_description():
    image = phantom()
    report = {"Nhận định kết quả": "Nốt mờ phổi trái tăng chuyển hóa FDG (SUVmax: 8,0).",
              "Mô tả hình ảnh": {"Đầu - cổ": "", "Lồng ngực": sentence() + " " + sentence(size="18 mm"),
                                 "Ổ bụng - khung chậu": "", "Hệ cơ - xương": ""}}
    checked = ground_report(image, report)
    statuses = [(c.section, c.status) for c in checked]
    assert statuses == [(CHEST, SUPPORTED), (CHEST, CONTRADICTED), ("impression", SUPPORTED)]
    assert checked[1].checks[0].failed == ("location",)  # the agreeing spot is the first sentence's lesion
    two = phantom(second=(16, 50, 78 - 50))  # a second sphere at column 28: on the patient's right
    report["Mô tả hình ảnh"]["Lồng ngực"] = sentence() + " " + sentence(side="phải")
    assert [c.status for c in ground_report(two, report)][:2] == [SUPPORTED, SUPPORTED]


def test_contradicted_numbers_name_the_phrase_to_highlight():
    checked = ground_sentence(phantom(), CHEST, sentence(suv="16,0", size="40 mm"))
    texts = dict(checked.contradicted_texts())
    assert "SUVmax: 16,0" in texts and "40 mm" in texts
    assert "measured SUVmax 8.0" in texts["SUVmax: 16,0"]


def test_size_band_and_sides_by_hand():
    assert size_band(20.0, 2.0) == (14.0, 27.0)  # 0.8*20 - 2, 1.25*20 + 2
    assert size_band(6.0, 7.8125) == (0.8 * 6 - 7.8125, 2 * 7.8125 * 1.25 + 7.8125)
    assert stated_sides("thùy trên phổi phải") == {"right"}
    assert stated_sides("hố nách hai bên") == {"right", "left"}
    assert stated_sides("trung thất") == frozenset()


def test_left_step_from_the_sidecar():
    assert left_step_of({"grids": {"whole": {"affine": None}}})[0] == 1
    lps = [[0, 0, -2.0, 0], [0, 2.0, 0, 0], [-4.0, 0, 0, 0], [0, 0, 0, 1]]
    assert left_step_of({"grids": {"whole": {"affine": lps}}})[0] == -1
    oblique = [[0, 2.0, 0, 0], [0, 0, 2.0, 0], [-4.0, 0, 0, 0], [0, 0, 0, 1]]
    assert left_step_of({"grids": {"whole": {"affine": oblique}}})[0] is None


@pytest.fixture(scope="module")
def synth_build(tmp_path_factory) -> tuple[Path, Path]:
    from vipet.data.build import build_dataset
    from vipet.data.config import BuildConfig
    from vipet.synth.writer import write_cohort

    root = tmp_path_factory.mktemp("ground")
    write_cohort(root / "cohort", n=6, seed=1, format="vimed", size="small", workers=1)
    build_dataset(root / "cohort", root / "build", BuildConfig(target_shape=(8, 16, 16), renders=False), workers=1,
                  exports=(), progress=False)
    return root / "cohort", root / "build"


def test_planted_lesions_are_found_where_truth_puts_them(synth_build):
    """Orientation and loading: each avid planted lesion is a hot spot at its planted voxel (the
    feet-first studies flipped by the build included) with the SUVmax the report states."""
    from vipet.data.cache import read_meta, study_dir
    from vipet.trust.grounding_image import load_study_image

    cohort, build = synth_build
    found = 0
    for line in (cohort / "truth.jsonl").read_text(encoding="utf-8").splitlines():
        truth = json.loads(line)
        image = load_study_image(build, truth["key"])
        flipped = read_meta(study_dir(build, truth["key"]))["orientation"]["flipped"]
        spots = {s.index: s for s in image.hot_spots()}
        for lesion in truth["lesions"]:
            if not lesion["avid"] or len(lesion["members"]) > 1:
                continue
            z, y, x = lesion["center_pet_index"]
            z = image.pet_suv.shape[0] - 1 - z if flipped else z
            near = [s for (a, b, c), s in spots.items() if abs(a - z) <= 1 and abs(b - y) <= 1 and abs(c - x) <= 1]
            assert any(abs(s.peak_suv - lesion["suv_max"]) <= 0.051 + 0.001 * lesion["suv_max"] for s in near), lesion
            if lesion["side"] in ("left", "right") and lesion["organ"] == "lung":
                assert {s.side for s in near} & {lesion["side"]}, lesion
            found += 1
    assert found >= 3


def test_cli_grounds_a_predictions_file_and_skips_an_unknown_study(synth_build, tmp_path):
    from vipet.cli import app

    cohort, build = synth_build
    rows = [json.loads(line) for line in (cohort / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    records = [{"id": f"{r['key']}:whole", "study": r["key"], "task": "report", "prediction": r["report_text"],
                "reference": r["report_text"], "model": "truth"} for r in rows]
    records.append({"id": "absent:whole", "study": "absent", "task": "report", "prediction": "x", "reference": "x"})
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "ground.json"
    result = CliRunner().invoke(app, ["ground", str(preds), str(build), "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert len(saved["samples"]) == len(rows) and [s["study"] for s in saved["skipped"]] == ["absent"]
    total = saved["summary"]
    assert total["sentences"] == total["supported"] + total["contradicted"] + total["not checkable"] > 0
    assert f"{total['supported']} supported" in result.output
    missing = CliRunner().invoke(app, ["ground", str(preds), str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and "not a build folder" in missing.output


def test_contradicted_numbers_are_marked_in_the_html_case_with_their_evidence():
    from vipet.eval.html_report import CaseStudy, case_html

    text = sentence(suv="16.0")  # a decimal point: the grounding reads "16,0" after normalising
    checked = ground_sentence(phantom(), CHEST, text)
    flags = [(checked.text, phrase, line) for phrase, line in checked.contradicted_texts()]
    page = case_html(CaseStudy("s:chest", text, {"m": text + " " + sentence()}, contradicted={"m": flags}))
    marked = page.split('<span class="contradicted" title="')
    assert len(marked) == 2  # the model's wrong SUVmax once; the reference and the true sentence are not marked
    title, rest = marked[1].split('">', 1)
    assert "measured SUVmax 8.0" in title and rest.startswith("SUVmax: 16.0</span>")
