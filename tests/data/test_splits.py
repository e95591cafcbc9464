"""Splits: the paper's temporal rule, person-level random and k-fold, leakage found and fixed."""

from __future__ import annotations

import pytest

from vipet.data.splits import (
    SplitStudy,
    find_leaks,
    fix_leaks,
    kfold_split,
    make_splits,
    person_ids,
    random_split,
    same_person,
    temporal_split,
)
from vipet.errors import BuildError


def _s(key, pid="p", sex="M", h=1.7, w=60.0, year=2018, month=1, day=1):
    return SplitStudy(key, pid, sex, h, w, year, month, day)


def test_temporal_rule_per_year():
    studies = [_s(f"{y}_{m}", pid=f"{y}_{m}", year=y, month=m) for y in (2017, 2018, 2019, 2023) for m in (9, 10, 11, 12)]
    got = temporal_split(studies)
    assert [got[f"2017_{m}"] for m in (9, 10, 11, 12)] == ["train", "train", "val", "test"]
    assert [got[f"2019_{m}"] for m in (9, 10, 11, 12)] == ["train", "train", "val", "test"]
    assert [got[f"2018_{m}"] for m in (9, 10, 11, 12)] == ["train", "val", "test", "test"]
    assert [got[f"2023_{m}"] for m in (9, 10, 11, 12)] == ["train", "val", "test", "test"]


def test_identity_rule_uses_id_sex_height_weight():
    a = _s("a", h=1.70, w=60.0)
    assert same_person(a, _s("b", h=1.72, w=55.0))  # repeat visit: 2 cm, 8 % lighter
    assert not same_person(a, _s("b", pid="q"))  # another id
    assert not same_person(a, _s("b", sex="F"))  # id reused for a woman
    assert not same_person(a, _s("b", h=1.60))
    assert not same_person(a, _s("b", w=80.0))
    assert same_person(a, _s("b", sex=None, h=None, w=None))  # unknowns never separate


def test_person_ids_number_people_behind_one_label_by_first_visit():
    studies = [_s("2017_x", year=2017), _s("2019_y", sex="F", year=2019), _s("2018_z", year=2018, w=62.0)]
    persons = person_ids(studies)
    assert persons["2017_x"] == persons["2018_z"] == "p#0"
    assert persons["2019_y"] == "p#1"


def test_leak_found_and_fixed_to_earliest_visit_or_train():
    studies = [_s("v1", month=10), _s("v2", month=12), _s("other", pid="q", month=3)]
    persons = person_ids(studies)
    assignment = temporal_split(studies)
    assert assignment == {"v1": "val", "v2": "test", "other": "train"}
    leaks = find_leaks(assignment, persons)
    assert leaks == [{"person": "p#0", "studies": {"v1": "val", "v2": "test"}}]
    fixed, moves = fix_leaks(assignment, persons, studies, "earliest")
    assert fixed["v1"] == fixed["v2"] == "val" and moves == [{"key": "v2", "person": "p#0", "from": "test", "to": "val"}]
    fixed, moves = fix_leaks(assignment, persons, studies, "train")
    assert fixed["v1"] == fixed["v2"] == "train" and len(moves) == 2
    result = make_splits(studies, "temporal")
    assert result.leaks_found and not result.leaks_after and result.report()["persons_with_repeat_visits"] == 1
    with pytest.raises(BuildError):
        fix_leaks(assignment, persons, studies, "nowhere")


def test_random_split_is_person_level_seeded_and_near_the_fractions():
    studies = [_s(f"k{i}", pid=f"p{i // 2}", month=i % 12 + 1) for i in range(200)]  # 100 persons x 2 visits
    persons = person_ids(studies)
    first = random_split(studies, persons, seed=3)
    assert first == random_split(studies, persons, seed=3)
    assert first != random_split(studies, persons, seed=4)
    assert not find_leaks(first, persons)
    counts = {s: list(first.values()).count(s) for s in ("train", "val", "test")}
    assert counts == {"train": 160, "val": 20, "test": 20}


def test_kfold_balances_persons_and_never_leaks():
    studies = [_s(f"k{i}", pid=f"p{i // 3}") for i in range(60)]
    persons = person_ids(studies)
    folds = kfold_split(studies, persons, k=4, seed=0)
    sizes = [list(folds.values()).count(f) for f in range(4)]
    assert sizes == [15, 15, 15, 15]
    assert all(len({folds[f"k{3 * p + j}"] for j in range(3)}) == 1 for p in range(20))
    result = make_splits(studies, "kfold", k=4)
    assert set(result.assignment.values()) == {"fold0", "fold1", "fold2", "fold3"} and not result.leaks_found
    with pytest.raises(BuildError):
        kfold_split(studies, persons, k=1, seed=0)


def test_real_metadata_temporal_split_leaks_are_fixed(real_data):
    from vipet.io.vimed_layout import iter_metadata

    studies = []
    for ref in iter_metadata(real_data):
        if hasattr(ref, "meta"):
            m = ref.meta
            studies.append(SplitStudy(ref.key, m["id"], m["sex"], m["height_m"], m["weight_kg"], m["year"], m["month"], m["day"]))
    assert len(studies) == 2757
    result = make_splits(studies, "temporal")
    report = result.report()
    assert report["persons"] < 2757 and report["persons_with_repeat_visits"] > 0
    assert result.leaks_found and not result.leaks_after
    # no person ever ends up in two splits, and every move is recorded
    moved = {m["key"] for m in result.moves}
    before = temporal_split(studies)
    assert moved == {k for k in before if before[k] != result.assignment[k]}
