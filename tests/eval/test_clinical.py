"""Clinical F1 on hand-made lesion lists (one test per rule) and on the expert files."""

from __future__ import annotations

import pytest

from vipet.eval.clinical import calls_primary_malignancy, clinical_f1, compare_patient
from vipet.reports.categories import lesion_categories
from vipet.schema import Lesion, load_expert_lesions

METRICS = ("F1-T", "F1-TP", "F1-TF", "F1-TPF")


def L(type_: str, location: str, uptake: str = "Cao", suv: float | None = 5.0, stage: str = "Không có") -> Lesion:
    return Lesion(type=type_, location=location, uptake=uptake, suv_max=suv, stage=stage)


NODULE_RUL = L("Hình ảnh nốt mờ", "thùy trên phổi phải")
NODE_MED = L("Hình ảnh vài hạch", "dưới carina")


def correct(pred, ref) -> dict[str, int]:
    return compare_patient(pred, ref).correct


def test_identical_lists_score_100():
    result = clinical_f1([[NODULE_RUL, NODE_MED]], [[NODULE_RUL, NODE_MED]])
    assert all(result[m]["f1"] == 100.0 for m in METRICS)


def test_each_metric_compares_its_fields():
    pred = [L("Hình ảnh nốt mờ", "dưới carina", "Không tăng", None)]  # right type, wrong position and FDG
    assert correct(pred, [NODULE_RUL]) == {"F1-T": 1, "F1-TP": 0, "F1-TF": 0, "F1-TPF": 0}
    pred = [L("Nốt mờ", "ngoại vi thùy trên phổi phải", "Tăng nhẹ")]  # wording differs, categories equal
    assert correct(pred, [NODULE_RUL]) == {"F1-T": 1, "F1-TP": 1, "F1-TF": 1, "F1-TPF": 1}
    pred = [L("Hình ảnh nốt mờ", "thùy dưới phổi trái", "Không tăng", None)]  # same position category, FDG differs
    assert correct(pred, [NODULE_RUL]) == {"F1-T": 1, "F1-TP": 1, "F1-TF": 0, "F1-TPF": 0}


def test_other_category_never_matches_but_counts():
    bone = L("Tổn thương hủy xương", "đốt sống C3")
    result = clinical_f1([[bone]], [[bone]])
    assert result["F1-T"]["correct"] == 0 and result["F1-T"]["n_pred"] == 1 and result["F1-T"]["n_ref"] == 1
    # a known type at an unknown position matches on type only
    odd = L("Hình ảnh nốt mờ", "bên trái")
    assert correct([odd], [odd]) == {"F1-T": 1, "F1-TP": 0, "F1-TF": 1, "F1-TPF": 0}


def test_multi_site_location_counts_once_per_site():
    ref = [L("Hình ảnh nốt mờ", "thùy trên và thùy dưới phổi phải")]
    result = clinical_f1([[NODULE_RUL]], [ref])
    assert result["F1-T"]["n_ref"] == 2 and result["F1-T"]["correct"] == 1
    assert result["F1-T"]["precision"] == 100.0 and result["F1-T"]["recall"] == 50.0
    assert result["F1-T"]["f1"] == pytest.approx(200 / 3)


def test_matching_is_one_to_one():
    result = clinical_f1([[NODULE_RUL, NODULE_RUL]], [[NODULE_RUL]])
    assert result["F1-T"]["correct"] == 1
    assert result["F1-T"]["precision"] == 50.0 and result["F1-T"]["recall"] == 100.0


def test_greedy_matching_in_prediction_order():
    hilar_node = L("Hạch", "rốn phổi phải")
    # type matching pairs the first node with the first node; type+position still finds both pairs
    assert correct([NODE_MED, hilar_node], [hilar_node, NODE_MED]) == {"F1-T": 2, "F1-TP": 2, "F1-TF": 2, "F1-TPF": 2}


def test_micro_average_over_patients():
    # patient 1: 1 of 1 matched; patient 2: 3 predictions, 1 reference, none matched
    pred = [[NODULE_RUL], [NODE_MED, NODE_MED, NODE_MED]]
    ref = [[NODULE_RUL], [L("Dải mờ", "thùy dưới phổi trái")]]
    result = clinical_f1(pred, ref, ["p1", "p2"])
    p, r = 1 / 4, 1 / 2
    assert result["F1-T"]["f1"] == pytest.approx(100 * 2 * p * r / (p + r))
    assert [row["correct"]["F1-T"] for row in result["per_patient"]] == [1, 0]
    assert [row["id"] for row in result["per_patient"]] == ["p1", "p2"]


def test_empty_lists_score_zero():
    result = clinical_f1([[]], [[NODULE_RUL]])
    assert result["F1-T"]["f1"] == 0.0 and result["F1-T"]["recall"] == 0.0
    assert clinical_f1([[]], [[]])["F1-TPF"]["f1"] == 0.0
    with pytest.raises(ValueError):
        clinical_f1([[]], [])


def test_type_recall_suv_error_and_primary_call():
    pred = [L("Hình ảnh khối mờ", "thùy trên phổi phải", suv=10.0, stage="U nguyên phát"), L("Hạch", "dưới carina", suv=3.0)]
    ref = [L("Hình ảnh khối mờ bờ tua gai", "thùy trên phổi phải", suv=12.5, stage="U nguyên phát"),
           L("Hạch", "rốn phổi trái", suv=4.0), L("Hình ảnh nốt mờ", "thùy dưới phổi trái", suv=None)]
    result = clinical_f1([pred], [ref])
    assert result["type_recall"]["khối mờ"]["recall"] == 100.0
    assert result["type_recall"]["hạch"]["recall"] == 100.0
    assert result["type_recall"]["nốt mờ"]["recall"] == 0.0
    # only the mass matches on type + position: |10 - 12.5|
    assert result["suvmax_mae"] == {"value": 2.5, "n_pairs": 1}
    assert result["primary_malignancy"]["tp"] == 1 and result["primary_malignancy"]["sensitivity"] == 100.0


@pytest.mark.parametrize(
    "lesion,called",
    [
        (L("Hình ảnh khối mờ", "thùy trên phổi phải", stage="U nguyên phát"), True),
        (L("Hình ảnh nốt mờ", "thùy dưới phổi trái", stage="Khả năng ác tính"), True),
        (L("Hình ảnh khối mờ", "phần còn lại của phổi phải", stage="Khả năng ác tính tái phát"), True),
        (L("Hình ảnh nốt mờ", "thùy dưới phổi trái", stage="Chưa loại trừ tổn thương ác tính"), False),
        (L("Hình ảnh hạch", "dưới carina", stage="Khả năng di căn"), False),
        (L("Hình ảnh hạch", "dưới carina", stage="Khả năng ác tính"), False),  # a malignant node is not a primary
        (L("Tổn thương dày", "Hố Rosenmuller bên trái", stage="Khả năng ác tính"), False),  # not thoracic
        (L("Hình ảnh nốt mờ", "thùy trên phổi trái", stage="Khả năng viêm"), False),
    ],
)
def test_primary_malignancy_rule(lesion, called):
    assert calls_primary_malignancy([lesion]) is called


def _expert(real_data, name: str) -> list[Lesion]:
    return load_expert_lesions(next((real_data / "expert").glob(f"*_{name}_REPORT_*.json")))


def test_expert_against_itself(real_data):
    files = sorted((real_data / "expert").glob("*.json"))
    lists = [load_expert_lesions(f) for f in files]
    result = clinical_f1(lists, lists)
    units = [u for lesions in lists for lesion in lesions for u in lesion_categories(lesion)]
    other_type = sum(u[0] == "khác" for u in units)
    other_type_or_position = sum("khác" in u[:2] for u in units)
    assert result["F1-T"]["n_ref"] == len(units) == 461
    # everything matches itself except the units in category "khác", which never match
    assert result["F1-T"]["correct"] == result["F1-TF"]["correct"] == len(units) - other_type
    assert result["F1-TP"]["correct"] == result["F1-TPF"]["correct"] == len(units) - other_type_or_position
    # files without a "khác" unit score exactly 100
    clean = [lesions for lesions in lists if all("khác" not in u[:2] for l in lesions for u in lesion_categories(l))]
    assert len(clean) >= 70
    assert all(clinical_f1(clean, clean)[m]["f1"] == 100.0 for m in METRICS)
    assert result["primary_malignancy"]["accuracy"] == 100.0


def test_expert_against_a_perturbed_copy_by_hand(real_data):
    ref = _expert(real_data, "patient_399")
    # units: mass RUL (1), mass "thùy trên và thùy dưới phổi phải" (2), nodes "trước khí quản và carina" (2),
    # node right hilum (1), pleural thickening (1), supraclavicular node (1) = 8, all with uptake
    assert len(ref) == 6 and sum(len(lesion_categories(x)) for x in ref) == 8
    pred = [
        ref[0],
        Lesion(**{**ref[1].__dict__, "location": "thùy trên phổi phải"}),  # one site instead of two
        ref[2],
        Lesion(**{**ref[3].__dict__, "location": "cửa sổ chủ phổi"}),  # hilum -> mediastinum
        Lesion(**{**ref[4].__dict__, "uptake": "Không tăng"}),  # uptake denied
        Lesion(type="Tổn thương hủy xương", location="xương sườn 4 bên phải", uptake="Cao", suv_max=6.0),  # "khác"
    ]  # and the supraclavicular node is missed
    result = clinical_f1([pred], [ref])
    # pred units: mass x2, node(TT) x3, pleura(no uptake), other = 7
    # T:   mass 2 + node 3 + pleura 1 = 6     TP:  mass-lung 2 + node-TT 2 + pleura-lung 1 = 5
    # TF:  mass 2 + node 3 + 0 = 5            TPF: 2 + 2 + 0 = 4
    assert {m: result[m]["correct"] for m in METRICS} == {"F1-T": 6, "F1-TP": 5, "F1-TF": 5, "F1-TPF": 4}
    for metric, hits in zip(METRICS, (6, 5, 5, 4)):
        p, r = hits / 7, hits / 8
        assert result[metric]["f1"] == pytest.approx(100 * 2 * p * r / (p + r))


def test_primary_calls_on_expert_files(real_data):
    assert calls_primary_malignancy(_expert(real_data, "patient_399"))  # "U nguyên phát"
    assert calls_primary_malignancy(_expert(real_data, "patient_655"))  # "Khả năng ác tính tái phát"
    assert not calls_primary_malignancy(_expert(real_data, "patient_766"))  # "Cần phân biệt ... với tổn thương ác tính"
    assert not calls_primary_malignancy(_expert(real_data, "patient_1694"))  # "Chưa loại trừ tổn thương ác tính"
