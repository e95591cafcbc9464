"""Inter-reader agreement: Cohen's kappa against hand-computed cases and scikit-learn, lesion F1 on hand-made lists."""

from __future__ import annotations

import random

import pytest

from vipet.reports.categories import lesion_categories
from vipet.review.agreement import agreement, cohen_kappa, lesion_agreement
from vipet.review.store import ERROR_CATEGORIES, LABELS, Review, SentenceLabel, WorkItem
from vipet.schema import Lesion


def _lesion(type_: str, location: str, uptake: str, suv: float | str = 5.0) -> dict:
    return {
        "Kích thước khối u, tổn thương, bất thường": "10 x 12 mm",
        "Hình dạng của khối u, tổn thương, bất thường": type_,
        "Vị trí của khối u, tổn thương, bất thường": location,
        "Mức độ FDG": {"SUVmax": suv, "Tăng chuyển hoá FDG": uptake},
        "Xâm lấn": "Không có",
        "Giai đoạn chuyển hoá": "Khả năng di căn",
    }


NODE = _lesion("Hình ảnh hạch", "cạnh phải khí quản", "Cao")  # hạch / trung thất / có tăng
NODE_HILUM = _lesion("Hình ảnh hạch", "rốn phổi phải", "Cao")  # hạch / phổi / có tăng
NODE_COLD = _lesion("Hình ảnh hạch", "cạnh phải khí quản", "Không tăng", "Không có")  # hạch / trung thất / không tăng
NODULE = _lesion("Hình ảnh nốt mờ", "thùy dưới phổi trái", "Không tăng", "Không có")  # nốt mờ / phổi / không tăng
NODES_TWO_SITES = _lesion("Hình ảnh hạch", "rốn phổi phải và cạnh phải khí quản", "Cao")  # two units


def test_the_hand_made_lesions_have_the_categories_the_cases_assume():
    assert lesion_categories(Lesion.from_expert(NODE)) == [("hạch", "trung thất", "có tăng")]
    assert lesion_categories(Lesion.from_expert(NODE_HILUM)) == [("hạch", "phổi", "có tăng")]
    assert lesion_categories(Lesion.from_expert(NODE_COLD)) == [("hạch", "trung thất", "không tăng")]
    assert lesion_categories(Lesion.from_expert(NODULE)) == [("nốt mờ", "phổi", "không tăng")]
    assert lesion_categories(Lesion.from_expert(NODES_TWO_SITES)) == [("hạch", "phổi", "có tăng"), ("hạch", "trung thất", "có tăng")]


def test_kappa_perfect_agreement():
    assert cohen_kappa(["correct", "significant", "insignificant", "correct"],
                       ["correct", "significant", "insignificant", "correct"]) == (1.0, 1.0)


def test_kappa_chance_agreement_is_zero():
    # p_o = 2/4; each reader says correct half the time, so p_e = .5*.5 + .5*.5 = .5; kappa = 0
    assert cohen_kappa(["correct", "correct", "significant", "significant"],
                       ["correct", "significant", "correct", "significant"]) == (0.0, 0.5)


def test_kappa_worked_case():
    # p_o = 4/6; counts A c3 s2 i1, B c2 s2 i2: p_e = (6 + 4 + 2) / 36 = 1/3; kappa = (2/3 - 1/3) / (2/3) = 1/2
    kappa, observed = cohen_kappa(["correct", "correct", "correct", "significant", "significant", "insignificant"],
                                  ["correct", "correct", "significant", "significant", "insignificant", "insignificant"])
    assert kappa == pytest.approx(0.5, abs=1e-12) and observed == pytest.approx(4 / 6, abs=1e-12)


def test_kappa_systematic_disagreement_is_negative():
    # p_o = 0; p_e = .5; kappa = -1
    assert cohen_kappa(["correct", "significant"], ["significant", "correct"]) == (-1.0, 0.0)


def test_kappa_undefined_cases():
    assert cohen_kappa([], []) == (None, None)
    assert cohen_kappa(["correct"] * 5, ["correct"] * 5) == (None, 1.0)  # p_e = 1
    with pytest.raises(ValueError, match="2 labels against 1"):
        cohen_kappa(["correct", "correct"], ["correct"])


def test_kappa_equals_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn not installed (hand-computed cases above still run)")
    rng = random.Random(4)
    for n in (3, 10, 57, 400):
        skew = rng.random()
        a = [rng.choice(LABELS) for _ in range(n)]
        b = [x if rng.random() < skew else rng.choice(LABELS) for x in a]
        if len(set(a) | set(b)) < 2:
            continue
        assert cohen_kappa(a, b)[0] == pytest.approx(sklearn_metrics.cohen_kappa_score(a, b), abs=1e-12)


def test_lesion_f1_hand_made_cases():
    # identical lists: every unit matches
    scores, units = lesion_agreement([[NODE, NODULE]], [[NODE, NODULE]])
    assert scores == {"F1-T": 100.0, "F1-TP": 100.0, "F1-TF": 100.0, "F1-TPF": 100.0} and units == (2, 2)
    # one extra lesion in A: P = 1/2, R = 1, F1 = 2/3
    scores, _ = lesion_agreement([[NODE, NODULE]], [[NODE]])
    assert scores["F1-TPF"] == pytest.approx(200 / 3)
    # same type, other position: T matches, TP and TPF do not
    scores, _ = lesion_agreement([[NODE]], [[NODE_HILUM]])
    assert scores == {"F1-T": 100.0, "F1-TP": 0.0, "F1-TF": 100.0, "F1-TPF": 0.0}
    # same type and position, other FDG
    scores, _ = lesion_agreement([[NODE]], [[NODE_COLD]])
    assert scores == {"F1-T": 100.0, "F1-TP": 100.0, "F1-TF": 0.0, "F1-TPF": 0.0}
    # a two-site location is two units: against one node there, P = 1, R = 1/2
    scores, units = lesion_agreement([[NODE]], [[NODES_TWO_SITES]])
    assert units == (1, 2) and scores["F1-TPF"] == pytest.approx(200 / 3)
    # micro average over items: item 1 matches 1 of (1, 1), item 2 matches 0 of (1, 2) -> P 1/2, R 1/3, F1 = 0.4
    scores, units = lesion_agreement([[NODE], [NODULE]], [[NODE], [NODE_HILUM, NODE_COLD]])
    assert units == (2, 3) and scores["F1-TPF"] == pytest.approx(40.0)
    # neither reader lists a lesion: undefined
    assert lesion_agreement([[], []], [[], []]) == ({}, (0, 0))


def _labels(labels: list[str]) -> list[SentenceLabel]:
    return [SentenceLabel(i, f"câu {i}", label, None if label == "correct" else ERROR_CATEGORIES[i % 5])
            for i, label in enumerate(labels)]


def test_agreement_over_a_store(store):
    store.add_reviewer("chi")
    store.add_items([WorkItem(f"i{k}", f"2018_12_{10 + k}_patient_{700 + k}", "x") for k in range(4)])
    # an and binh share i0 and i1; chi only reviewed i3, which nobody else did
    store.save(Review("i0", "an", [NODE], _labels(["correct", "significant", "correct"])))
    store.save(Review("i0", "an", [NODE, NODULE], _labels(["correct", "correct", "correct"])))  # latest counts
    store.save(Review("i0", "binh", [NODE], _labels(["correct", "significant", "correct"])))
    store.save(Review("i1", "an", [NODE_HILUM], _labels(["insignificant", "correct"])))
    store.save(Review("i1", "binh", [NODE_HILUM], _labels(["insignificant", "correct", "significant"])))
    store.save(Review("i2", "an", [NODULE], _labels(["correct"])))
    store.save(Review("i3", "chi", [NODULE], _labels(["correct"])))
    result = agreement(store)
    assert result.readers == ["an", "binh", "chi"]
    (pair,) = result.pairs
    assert (pair.reader_a, pair.reader_b, pair.n_items) == ("an", "binh", 2)
    # units: an 3 (node, nodule, hilum node), binh 2; matched 2 -> P 2/3, R 1, F1 = 80
    assert pair.lesion_f1 == pytest.approx(80.0) and pair.n_lesion_units == (3, 2)
    # shared sentences (i0: 0,1,2; i1: 0,1): an c c c i c, binh c s c i c -> p_o 4/5;
    # counts an c4 i1, binh c3 s1 i1: p_e = (12 + 0 + 1) / 25 = 13/25; kappa = (20/25 - 13/25) / (12/25) = 7/12
    assert pair.n_sentences == 5 and pair.observed_agreement == pytest.approx(0.8)
    assert pair.kappa == pytest.approx(7 / 12)
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    assert pair.kappa == pytest.approx(sklearn_metrics.cohen_kappa_score(
        ["correct", "correct", "correct", "insignificant", "correct"],
        ["correct", "significant", "correct", "insignificant", "correct"]))
    as_json = result.to_json()
    assert as_json["pairs"][0]["kappa"] == pair.kappa and as_json["readers"] == ["an", "binh", "chi"]


def test_agreement_is_symmetric_and_empty_without_shared_items(store, make_lesions):
    lists = make_lesions(12, seed=9)
    store.add_items([WorkItem(f"g{k}", f"2023_11_{1 + k:02d}_patient_{1400 + k}", "x") for k in range(6)])
    rng = random.Random(2)
    for k in range(6):
        store.save(Review(f"g{k}", "an", lists[k], _labels([rng.choice(LABELS) for _ in range(4)])))
        store.save(Review(f"g{k}", "binh", lists[6 + k], _labels([rng.choice(LABELS) for _ in range(4)])))
    scores_ab, units_ab = lesion_agreement(lists[:6], lists[6:])
    scores_ba, units_ba = lesion_agreement(lists[6:], lists[:6])
    assert scores_ab == pytest.approx(scores_ba) and units_ab == units_ba[::-1]
    (pair,) = agreement(store).pairs
    assert pair.lesion_f1 == pytest.approx(scores_ab["F1-TPF"]) and pair.n_sentences == 24
    store.add_reviewer("chi")
    assert [(p.reader_a, p.reader_b) for p in agreement(store).pairs] == [("an", "binh")]
