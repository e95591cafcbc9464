"""Stress curves against hand-counted cases, the seed spread against hand arithmetic, and the bench's
`seeds` option on the tiniest bench (one model, one baseline)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from vipet.eval.io import PredictionRecord
from vipet.trust.seeds import seed_spread, spread_table
from vipet.trust.stress import identical_share, lesion_bins, ngram_diversity, stress_model, stress_pngs

LUNG = {"kind": "lung_nodule", "region": "chest", "size_mm": [24, 29], "suv_max": 9.4,
        "expert": {"Kích thước khối u, tổn thương, bất thường": "24 x 29 mm",
                   "Hình dạng của khối u, tổn thương, bất thường": "Nốt mờ",
                   "Vị trí của khối u, tổn thương, bất thường": "Thùy trên phổi phải",
                   "Mức độ FDG": {"SUVmax": 9.4, "Tăng chuyển hóa FDG": "Cao"},
                   "Xâm lấn": "Không có", "Giai đoạn chuyển hóa": "Không có"}}
NODE = {"kind": "lymph_node", "region": "chest", "size_mm": [8, 8], "suv_max": None,
        "expert": {"Kích thước khối u, tổn thương, bất thường": "8 mm",
                   "Hình dạng của khối u, tổn thương, bất thường": "Hạch",
                   "Vị trí của khối u, tổn thương, bất thường": "Hố nách hai bên",
                   "Mức độ FDG": {"SUVmax": None, "Tăng chuyển hóa FDG": "Không tăng"},
                   "Xâm lấn": "Không có", "Giai đoạn chuyển hóa": "Không có"}}
LIVER = {"kind": "liver_lesion", "region": "abdomen_pelvis", "size_mm": [18, 17], "suv_max": None, "expert": {}}
FOUND_LUNG = "Hình ảnh nốt mờ ở thùy trên phổi phải, kích thước 24 x 29 mm, tăng chuyển hóa FDG (SUVmax: 9,4)."
HALLUCINATED = "Hình ảnh hạch trung thất ở dưới carina, kích thước 15 mm, tăng chuyển hóa FDG (SUVmax: 6,0)."


def record(study: str, text: str, model: str = "m") -> PredictionRecord:
    return PredictionRecord(id=f"{study}:chest", task="report", prediction=text, references=("",), model=model, study=study)


def test_bins_by_hand():
    assert lesion_bins(LUNG) == {"size": "20-30 mm", "suv_max": "6-10",  # largest diameter 29 mm, SUVmax 9.4
                                 "region": "chest", "kind": "lung_nodule"}
    assert lesion_bins(NODE)["size"] == "<10 mm" and lesion_bins(NODE)["suv_max"] == "non-avid"


def test_sensitivity_and_hallucination_by_hand():
    truth = {"a": [LUNG, NODE, LIVER], "b": [LUNG]}
    records = [record("a", FOUND_LUNG + " " + HALLUCINATED), record("b", "Không phát hiện bất thường."),
               record("unknown", FOUND_LUNG)]  # a study without truth is left out
    result = stress_model(records, truth)
    assert result["samples"] == 2
    # Planted chest lesions: a's nodule (found) and node (missed), b's nodule (missed); the liver lesion is
    # outside the chest sample.
    assert result["sensitivity"]["kind"] == {"lung_nodule": {"found": 1, "planted": 2, "sensitivity": 0.5},
                                             "lymph_node": {"found": 0, "planted": 1, "sensitivity": 0.0}}
    assert result["sensitivity"]["region"] == {"chest": {"found": 1, "planted": 3, "sensitivity": round(1 / 3, 4)}}
    assert result["sensitivity"]["size"]["20-30 mm"] == {"found": 1, "planted": 2, "sensitivity": 0.5}
    # Two predicted lesions in the chest (one matches the planted nodule, the mediastinal node none).
    assert result["hallucination"] == {"chest": {"hallucinated": 1, "predicted": 2, "rate": 0.5}}


def test_diversity_by_hand():
    texts = ["a b a", "a b c"]
    assert ngram_diversity(texts, 1) == round(3 / 6, 4)  # {a, b, c} over 6 words
    assert ngram_diversity(texts, 2) == round(3 / 4, 4)  # (a b), (b a), (b c) over 4 bigrams
    assert identical_share({"s1": "x  y", "s2": "x y", "s3": "z"}) == round(2 / 3, 4)
    assert ngram_diversity([], 2) is None and identical_share({}) is None


def test_stress_pngs_are_png_images():
    truth = {"a": [LUNG, NODE]}
    curves = {"m": stress_model([record("a", FOUND_LUNG)], truth), "t": stress_model([record("a", "")], truth)}
    pngs = stress_pngs(curves)
    assert len(pngs) == 2 and all(png.startswith(b"\x89PNG\r\n\x1a\n") for _, png in pngs)
    assert stress_pngs({}) == []


def _metrics(model: str, bleu: float, f1: float) -> dict:
    return {"results": {model: {"report": {
        "nlg": {"scores": {"bleu_4": {"value": bleu, "ci95": [bleu - 1, bleu + 1]}}},
        "clinical": {"scores": {"F1-T": {"value": f1, "ci95": [f1 - 5, f1 + 5]}, "recall[hạch]": {"value": 1.0}}}}}}}


def test_seed_spread_by_hand():
    main = _metrics("vlm", 10.0, 40.0)
    by_seed = {1: _metrics("vlm.seed1", 12.0, 30.0), 2: _metrics("vlm.seed2", 14.0, 35.0)}
    spread = seed_spread(main, 0, by_seed, ["vlm"])
    bleu = spread["vlm"]["report/nlg/bleu_4"]
    assert bleu == {"values": {"0": 10.0, "1": 12.0, "2": 14.0}, "mean": 12.0, "min": 10.0, "max": 14.0, "ci95": [9.0, 11.0]}
    assert spread["vlm"]["report/clinical/F1-T"]["mean"] == 35.0
    assert "report/clinical/recall[hạch]" not in spread["vlm"]  # per-type scores stay out
    rows = spread_table(spread)
    assert rows[1] == ["vlm", "report/clinical/F1-T", "3", "35.00", "30.00 - 40.00", "35.00 - 45.00"]


@pytest.fixture(scope="module")
def seeded_run(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
    from test_bench import tiny_config  # the tiniest bench config of the bench tests

    from vipet.bench import run_bench

    config = tiny_config()
    config.models, config.baselines, config.tasks, config.seeds = config.models[:1], ["template"], ["report"], [0, 1]
    out = tmp_path_factory.mktemp("seeded") / "run"
    lines: list[str] = []
    run_bench(config, out, log=lines.append)
    return config, out, lines


def test_seeds_train_each_model_again_and_report_the_spread(seeded_run):
    config, out, lines = seeded_run
    names = [line.split()[1].rstrip(":") for line in lines if line.endswith("...")]
    assert "train-tiny-vlm.seed1" in names and "predict-tiny-vlm.seed1" in names and "evaluate-seeds" in names
    assert "train-tiny-vlm.seed0" not in names  # seed 0 is the main run's own training
    stamp = json.loads((out / "steps" / "train-tiny-vlm.seed1.json").read_text(encoding="utf-8"))
    assert stamp["inputs"]["config"]["seed"] == 1
    main = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    other = json.loads((out / "seeds" / "metrics.seed1.json").read_text(encoding="utf-8"))
    assert set(main["results"]) == {"tiny-vlm", "template"} and set(other["results"]) == {"tiny-vlm.seed1"}
    spread = json.loads((out / "seed_spread.json").read_text(encoding="utf-8"))
    row = spread["tiny-vlm"]["report/clinical/F1-T"]
    first = main["results"]["tiny-vlm"]["report"]["clinical"]["scores"]["F1-T"]
    second = other["results"]["tiny-vlm.seed1"]["report"]["clinical"]["scores"]["F1-T"]["value"]
    assert row["values"] == {"0": first["value"], "1": second}
    assert row["mean"] == pytest.approx((first["value"] + second) / 2) and row["ci95"] == first["ci95"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Training seeds: spread of each metric" in page and "Stress curves" in page and "Grounding" in page
    assert json.loads((out / "grounding.json").read_text(encoding="utf-8"))["tiny-vlm.jsonl"]["samples"]
    assert "tiny-vlm" in json.loads((out / "stress.json").read_text(encoding="utf-8"))


def test_without_seeds_the_run_and_its_metrics_are_untouched(seeded_run):
    config, out, _ = seeded_run
    from vipet.bench import run_bench

    before = (out / "metrics.json").read_bytes()
    config.seeds = []
    lines: list[str] = []
    run_bench(config, out, log=lines.append)
    # Every step of the main run is cached: the seeds only ever added steps of their own; the report
    # is redone because it no longer shows the spread.
    assert [line.split()[1].rstrip(":") for line in lines if line.endswith("...")] == ["report"]
    assert (out / "metrics.json").read_bytes() == before
    assert "Training seeds" not in (out / "report.html").read_text(encoding="utf-8")
