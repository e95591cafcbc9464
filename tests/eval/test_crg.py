"""CRG score against hand-computed cases (the arithmetic is written beside each) and its edges."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from vipet.eval.bootstrap import bootstrap_block
from vipet.eval.crg import (
    CRG_METRICS,
    crg_block,
    crg_score,
    crg_value,
    label_space,
    label_space_size,
    study_counts,
)
from vipet.schema import Lesion


def L(type_: str, location: str, uptake: str = "Cao", suv: float | None = 5.0) -> Lesion:
    return Lesion(type=type_, location=location, uptake=uptake, suv_max=suv)


NODE_MED = L("Hình ảnh hạch", "dưới carina")  # (hạch, trung thất, có tăng)
MASS_LUNG = L("Hình ảnh khối mờ", "thùy trên phổi phải")  # (khối mờ, phổi, có tăng)
NODULE_LUNG = L("Hình ảnh nốt mờ", "thùy dưới phổi trái", "Không tăng", None)  # (nốt mờ, phổi, không tăng)
EFFUSION = L("Tràn dịch màng phổi", "màng phổi phải", "Không tăng", None)  # (tràn dịch, phổi, không tăng)


def paper_formula(tp: int, fn: int, fp: int, total: int) -> Fraction:
    """The paper's formula in exact arithmetic: w = (T-A)/2A, s = TP w - FN w - FP, CRG = A w / (2 A w - s)."""
    a = tp + fn
    w = Fraction(total - a, 2 * a)
    s = tp * w - fn * w - fp
    return (a * w) / (2 * a * w - s)


def test_label_spaces_leave_out_other():
    # 14 types minus "khác" = 13; 6 positions minus "khác" = 5; 2 FDG categories
    assert [label_space_size(f) for f in CRG_METRICS.values()] == [13, 65, 26, 130]
    assert len(label_space((0, 1, 2))) == 130 and all("khác" not in label for label in label_space((0, 1, 2)))


def test_case1_perfect_report_scores_100():
    # T = 13, A = 1, w = 12/2 = 6, s = 1*6 = 6, S_max = 6 -> CRG = 6 / (12 - 6) = 1
    scores = crg_score([[NODE_MED]], [[NODE_MED]])
    assert scores["CRG-T"] == {"value": 100.0, "tp": 1, "fn": 0, "fp": 0, "A": 1, "T": 13}
    assert all(scores[m]["value"] == 100.0 for m in CRG_METRICS)


def test_case2_empty_report_scores_one_third():
    # T = 13, A = 1, w = 6, s = -1*6 = -6 -> CRG = 6 / (12 + 6) = 1/3
    scores = crg_score([[]], [[NODE_MED]])
    assert scores["CRG-T"]["value"] == pytest.approx(100 / 3, abs=1e-12)
    # TPF: T = 130, A = 1, w = 129/2, S_max = 64.5, s = -64.5 -> 64.5 / 193.5 = 1/3 again
    assert scores["CRG-TPF"]["value"] == pytest.approx(100 / 3, abs=1e-12)


def test_case3_one_hallucination_costs_a_little():
    # T = 13, A = 1, w = 6; TP 1, FP 1: s = 6 - 1 = 5 -> CRG = 6 / (12 - 5) = 6/7
    scores = crg_score([[NODE_MED, MASS_LUNG]], [[NODE_MED]])
    assert (scores["CRG-T"]["tp"], scores["CRG-T"]["fp"]) == (1, 1)
    assert scores["CRG-T"]["value"] == pytest.approx(600 / 7, abs=1e-12)


def test_case4_two_studies_pooled_before_the_formula():
    # study 1: ref {hạch, khối mờ}, pred {hạch}; study 2: ref {nốt mờ}, pred {nốt mờ, tràn dịch}
    # CRG-T: T = 2*13 = 26, A = 3, TP 2, FN 1, FP 1; w = 23/6; S_max = 3*23/6 = 23/2;
    # s = 2*23/6 - 23/6 - 1 = 17/6; CRG = (23/2) / (23 - 17/6) = (23/2) / (121/6) = 69/121
    pred = [[NODE_MED], [NODULE_LUNG, EFFUSION]]
    ref = [[NODE_MED, MASS_LUNG], [NODULE_LUNG]]
    scores = crg_score(pred, ref)
    assert (scores["CRG-T"]["tp"], scores["CRG-T"]["fn"], scores["CRG-T"]["fp"], scores["CRG-T"]["T"]) == (2, 1, 1, 26)
    assert scores["CRG-T"]["value"] == pytest.approx(100 * 69 / 121, abs=1e-12)
    assert Fraction(69, 121) == paper_formula(2, 1, 1, 26)


def test_case5_position_and_fdg_levels_see_what_type_does_not():
    # ref (hạch, trung thất, có tăng); pred (hạch, phổi, không tăng): one node at the hilum, no uptake
    pred = [[L("Hình ảnh hạch", "rốn phổi phải", "Không tăng", None)]]
    scores = crg_score(pred, [[NODE_MED]])
    assert scores["CRG-T"]["value"] == 100.0  # type labels agree
    # CRG-TP: T = 65, A = 1, w = 32, TP 0, FN 1, FP 1: s = -32 - 1 = -33, S_max = 32 -> 32 / (64 + 33) = 32/97
    assert scores["CRG-TP"]["value"] == pytest.approx(100 * 32 / 97, abs=1e-12)
    # CRG-TF: T = 26, A = 1, w = 12.5, s = -13.5 -> 12.5 / 38.5 = 25/77
    assert scores["CRG-TF"]["value"] == pytest.approx(100 * 25 / 77, abs=1e-12)
    # CRG-TPF: T = 130, A = 1, w = 64.5, s = -65.5 -> 64.5 / 194.5 = 129/389
    assert scores["CRG-TPF"]["value"] == pytest.approx(100 * 129 / 389, abs=1e-12)


def test_case6_everything_positive_also_scores_one_third():
    # one study, pred lists all 13 types, ref one: TP 1, FP 12, T 13, A 1, w 6: s = 6 - 12 = -6 -> 1/3
    every_type = [L(t, "thùy trên phổi phải") for t in (
        "hạch", "nốt mờ", "kính mờ", "khối mờ", "dày màng phổi", "dày tổ chức kẽ", "dải mờ", "đông đặc",
        "tràn dịch", "mô mềm", "dày thành", "nốt vôi hoá", "tăng chuyển hoá FDG")]
    scores = crg_score([every_type], [[NODE_MED]])
    assert (scores["CRG-T"]["tp"], scores["CRG-T"]["fp"]) == (1, 12)
    assert scores["CRG-T"]["value"] == pytest.approx(100 / 3, abs=1e-12)


def test_duplicates_are_one_label_and_other_is_no_label():
    # two mediastinal nodes are one (hạch) label; a bone lesion (type khác) is no label at all
    bone = L("Tổn thương hủy xương", "đốt sống L2")
    assert study_counts([NODE_MED, NODE_MED], [NODE_MED], (0,)) == (1, 0, 0)
    assert study_counts([bone], [NODE_MED], (0,)) == (0, 1, 0)
    # a location listing two sites gives two position labels
    assert study_counts([L("Vài hạch", "dưới carina, rốn phổi phải")], [NODE_MED], (0, 1)) == (1, 0, 1)


def test_no_abnormality_in_the_references_is_undefined():
    scores = crg_score([[NODE_MED]], [[]])
    assert scores["CRG-T"]["value"] is None and scores["CRG-T"]["A"] == 0
    assert math.isnan(float(crg_value(0, 0, 3, 13)))


def test_vectorised_value_equals_exact_formula_on_random_counts():
    rng = np.random.default_rng(0)
    for _ in range(200):
        tp, fn = int(rng.integers(0, 20)), int(rng.integers(1, 20))
        fp = int(rng.integers(0, 30))
        total = tp + fn + fp + int(rng.integers(1, 100))
        assert float(crg_value(tp, fn, fp, total)) == pytest.approx(float(paper_formula(tp, fn, fp, total)), rel=1e-12)
        assert 0.2 - 1e-12 <= float(crg_value(tp, fn, fp, total)) <= 1.0


def test_block_value_and_bootstrap_match_crg_score():
    pred = [[NODE_MED], [NODULE_LUNG, EFFUSION], [MASS_LUNG]]
    ref = [[NODE_MED, MASS_LUNG], [NODULE_LUNG], [MASS_LUNG]]
    block = crg_block(pred, ref)
    direct = crg_score(pred, ref)
    assert block.value() == pytest.approx({m: direct[m]["value"] for m in CRG_METRICS})
    boot = bootstrap_block(block, ["a", "b", "c"], 50, 0)
    assert set(boot) == set(CRG_METRICS)
    with pytest.raises(ValueError):
        crg_block(pred, ref[:2])


REFERENCE = (
    "Hình ảnh khối mờ ở thùy trên phổi phải, kích thước 30 x 25 mm, tăng chuyển hóa FDG (SUVmax: 8,5). "
    "Hình ảnh hạch trung thất nhóm 4R, kích thước 12 x 10 mm, tăng chuyển hóa FDG (SUVmax: 4,1)."
)
PARTIAL = "Hình ảnh khối mờ ở thùy trên phổi phải, kích thước 30 x 25 mm, tăng chuyển hóa FDG (SUVmax: 8,5)."


def _records() -> list[dict]:
    return [{"id": f"s{i}", "task": "report", "prediction": text, "reference": REFERENCE, "model": model}
            for i in range(3) for model, text in (("perfect", REFERENCE), ("partial", PARTIAL))]


def test_evaluate_adds_crg_to_the_clinical_section_only_on_request():
    from vipet.eval import evaluate_predictions
    from vipet.eval.leaderboard import leaderboard_markdown, measured_table

    plain = evaluate_predictions(_records(), clinical=True, n_resamples=20)
    assert not any(k.startswith("CRG") for k in plain["results"]["partial"]["report"]["clinical"]["scores"])
    assert "CRG-TPF" not in leaderboard_markdown(plain)
    with_crg = evaluate_predictions(_records(), clinical=True, n_resamples=20, crg=True)
    clinical = with_crg["results"]["partial"]["report"]["clinical"]
    # partial, per study: ref labels {khối mờ, hạch} (2 of 13 types), pred {khối mờ}: over 3 studies
    # T = 39, A = 6, TP 3, FN 3, FP 0; w = 33/12; S_max = 16.5; s = 0 -> CRG-T = 16.5 / 33 = 1/2
    assert clinical["crg_counts"]["CRG-T"] == {"tp": 3, "fn": 3, "fp": 0, "A": 6, "T": 39}
    assert clinical["scores"]["CRG-T"]["value"] == pytest.approx(50.0)
    assert with_crg["results"]["perfect"]["report"]["clinical"]["scores"]["CRG-TPF"]["value"] == pytest.approx(100.0)
    rows = {r["model"]: r for r in measured_table(with_crg, "report")}
    # TPF: T = 3*130 = 390, A = 6, w = 384/12 = 32, S_max = 192, s = 3*32 - 3*32 = 0 -> 1/2
    assert rows["partial"]["CRG-TPF"].value == pytest.approx(50.0)
    assert "| CRG-TPF |" in leaderboard_markdown(with_crg)
    # the F1 scores are the same with and without CRG
    assert clinical["scores"]["F1-T"] == plain["results"]["partial"]["report"]["clinical"]["scores"]["F1-T"]
