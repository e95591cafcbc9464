"""The review store: revisions and edit history, worklists, validation of lesions and labels, failure modes."""

from __future__ import annotations

import copy
import json
import sqlite3

import pytest

from vipet.errors import VipetError
from vipet.review.store import (
    ERROR_CATEGORIES,
    LABELS,
    Review,
    ReviewError,
    ReviewStore,
    SentenceLabel,
    WorkItem,
)
from vipet.schema import FDG_KEY, INVASION_KEY, LOCATION_KEY, STAGE_KEY, SUVMAX_KEY, TYPE_KEY, UPTAKE_KEY

ITEMS = [WorkItem("i1", "2017_12_27_patient_399", "Câu một. Câu hai.", "Tham chiếu.", "template"),
         WorkItem("i2", "2018_11_02_patient_637", "Nốt mờ phổi phải.")]


def _labels(*labels: str) -> list[SentenceLabel]:
    return [SentenceLabel(i, f"câu {i}", label, None if label == "correct" else "false_finding")
            for i, label in enumerate(labels)]


def test_vocabulary_is_the_issue_s():
    assert LABELS == ("correct", "significant", "insignificant")
    assert ERROR_CATEGORIES == ("false_finding", "missed_finding", "wrong_location", "wrong_size_suv", "wrong_judgement")


def test_schema_is_wal_with_foreign_keys(store):
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    # foreign keys hold at the database level too, not only in the Python checks
    with pytest.raises(ReviewError, match="FOREIGN KEY"), store._connect() as conn:
        conn.execute("INSERT INTO reviews (item_id, reviewer, revision, saved_at, lesions) VALUES ('x', 'an', 1, '', '[]')")


def test_items_are_added_once_in_order(store):
    assert store.add_items(ITEMS) == 2
    assert store.add_items(ITEMS + [WorkItem("i3", "2019_12_03_patient_269", "x")]) == 1
    assert [i.item_id for i in store.items()] == ["i1", "i2", "i3"]
    assert store.items()[0] == ITEMS[0]
    with pytest.raises(ReviewError, match="item 'i2' already exists with another study, report"):
        store.add_items([WorkItem("i2", "2018_11_02_patient_637", "Another report.")])
    assert store.item("i2").report == "Nốt mờ phổi phải."


def test_revisions_keep_the_edit_history(store, make_lesions):
    store.add_items(ITEMS)
    lists = make_lesions(3, seed=1)
    saved = [store.save(Review("i1", "an", lists[k], _labels("correct", "significant")[: k + 1])) for k in range(3)]
    assert [r.revision for r in saved] == [1, 2, 3]
    assert saved[0].saved_at < saved[1].saved_at < saved[2].saved_at and saved[0].saved_at.endswith("+00:00")
    history = store.history("i1", "an")
    assert history == saved
    assert [r.lesions for r in history] == lists
    assert store.latest("i1", "an") == saved[2]
    assert store.latest("i1", "binh") is None and store.history("i2", "an") == []
    # the given revision and time are not trusted: the store numbers the revisions itself
    again = store.save(Review("i1", "an", [], [], revision=99, saved_at="1970-01-01"))
    assert again.revision == 4 and again.saved_at > saved[2].saved_at


def test_worklist_pairs_each_item_with_the_reviewer_s_latest(store):
    store.add_items(ITEMS)
    store.save(Review("i2", "an", [], _labels("correct")))
    latest = store.save(Review("i2", "an", [], _labels("insignificant")))
    store.save(Review("i1", "binh", [], _labels("correct")))
    worklist = store.worklist("an")
    assert [(item.item_id, review) for item, review in worklist] == [("i1", None), ("i2", latest)]
    assert worklist[1][1].sentences[0].category == "false_finding"
    assert [r.revision for _, r in store.worklist("binh") if r] == [1]
    assert [(i.item_id, r.reviewer, r.revision) for i, r in store.latest_reviews()] == [("i1", "binh", 1), ("i2", "an", 2)]


def test_official_lesions_are_stored_and_returned_unchanged(store, expert_dir):
    paths = sorted(expert_dir.glob("*.json"))
    store.add_items([WorkItem(p.stem, p.stem, "") for p in paths])
    for path in paths:
        lesions = json.loads(path.read_text(encoding="utf-8"))
        back = store.save(Review(path.stem, "an", copy.deepcopy(lesions), [])).lesions
        assert back == lesions and json.dumps(back, ensure_ascii=False) == json.dumps(lesions, ensure_ascii=False)
        assert [type(l[FDG_KEY][SUVMAX_KEY]) for l in back] == [type(l[FDG_KEY][SUVMAX_KEY]) for l in lesions]
    assert len(store.latest_reviews("an")) == 80


def test_generated_lesions_round_trip_with_types_and_order(store, make_lesions):
    lists = make_lesions(40, seed=3)
    store.add_items([WorkItem(f"g{i}", "2023_12_01_patient_1", "") for i in range(40)])
    for i, lesions in enumerate(lists):
        store.save(Review(f"g{i}", "an", lesions, []))
    for i, lesions in enumerate(lists):
        back = store.latest(f"g{i}", "an").lesions
        assert json.dumps(back, ensure_ascii=False) == json.dumps(lesions, ensure_ascii=False)


def _lesion() -> dict:
    """A full six-field lesion (fresh each call)."""
    return {
        "Kích thước khối u, tổn thương, bất thường": "18 x 21 mm",
        TYPE_KEY: "Hình ảnh khối mờ",
        LOCATION_KEY: "thùy trên phổi phải",
        FDG_KEY: {SUVMAX_KEY: 5.2, UPTAKE_KEY: "Cao"},
        INVASION_KEY: "Không có",
        STAGE_KEY: "U nguyên phát",
    }


@pytest.mark.parametrize("change, message", [
    (lambda l: l.pop(LOCATION_KEY), "lesion 1: missing field 'Vị trí của khối u, tổn thương, bất thường' (location)"),
    (lambda l: l.pop(FDG_KEY), "lesion 1: missing field 'Mức độ FDG' (FDG)"),
    (lambda l: l[FDG_KEY].clear(), "lesion 1: missing field 'Mức độ FDG'.'SUVmax' (SUVmax)"),
    (lambda l: l.update({"Kích thước": "1 mm"}), "lesion 1: unknown field 'Kích thước'"),
    (lambda l: l.update({TYPE_KEY: 3}), "lesion 1: field 'Hình dạng của khối u, tổn thương, bất thường' (type) must be text, got int"),
    (lambda l: l[FDG_KEY].update({SUVMAX_KEY: -1.0}), "lesion 1: SUVmax must be a finite number >= 0, got -1.0"),
    (lambda l: l[FDG_KEY].update({SUVMAX_KEY: None}), "lesion 1: SUVmax must be a number or a text"),
    (lambda l: l[FDG_KEY].update({SUVMAX_KEY: True}), "lesion 1: SUVmax must be a number or a text"),
    (lambda l: l.update({FDG_KEY: "Cao"}), "lesion 1: field 'Mức độ FDG' must be an object"),
    (lambda l: l.update({"Giai đoạn chuyển hóa": "b"}), "field 'Giai đoạn chuyển hoá' (judgement) given twice"),
])
def test_bad_lesions_are_refused_with_one_line(store, change, message):
    store.add_items(ITEMS)
    lesion = _lesion()
    store.save(Review("i1", "an", [lesion], []))  # the unchanged lesion is fine
    change(lesion)
    with pytest.raises(ReviewError) as info:
        store.save(Review("i1", "an", [lesion], []))
    assert message in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, VipetError)
    assert len(store.history("i1", "an")) == 1  # nothing stored


def test_invasion_and_judgement_may_be_absent_as_in_one_official_file(store):
    store.add_items(ITEMS)
    lesion = _lesion()
    for key in (INVASION_KEY, STAGE_KEY):
        lesion.pop(key)
    lesion[FDG_KEY] = {SUVMAX_KEY: 7.4, UPTAKE_KEY.replace("hoá", "hóa"): "Cao"}
    assert store.save(Review("i1", "an", [lesion], [])).lesions == [lesion]
    with pytest.raises(ReviewError, match="lesions must be a list"):
        store.save(Review("i1", "an", {"a": 1}, []))  # type: ignore[arg-type]
    with pytest.raises(ReviewError, match="lesion 2 must be an object"):
        store.save(Review("i1", "an", [lesion, "hạch"], []))


@pytest.mark.parametrize("args, message", [
    ((0, "x", "wrong"), "sentence 0: unknown label 'wrong' (expected one of correct, significant, insignificant)"),
    ((1, "x", "significant"), "sentence 1: a 'significant' error needs an error category"),
    ((2, "x", "insignificant", "typo"), "sentence 2: a 'insignificant' error has unknown error category 'typo'"),
    ((3, "x", "correct", "false_finding"), "sentence 3: a correct sentence takes no error category"),
    ((-1, "x", "correct"), "sentence index must be an integer >= 0"),
    ((True, "x", "correct"), "sentence index must be an integer >= 0"),
    ((0, None, "correct"), "sentence 0: text must be text, got NoneType"),
])
def test_bad_sentence_labels_are_refused(args, message):
    with pytest.raises(ReviewError) as info:
        SentenceLabel(*args)
    assert message in str(info.value)


def test_every_label_and_category_is_accepted(store):
    store.add_items(ITEMS)
    labels = [SentenceLabel(0, "a", "correct")]
    labels += [SentenceLabel(1 + i, c, "significant" if i % 2 else "insignificant", c) for i, c in enumerate(ERROR_CATEGORIES)]
    assert store.save(Review("i1", "an", [], labels[::-1])).sentences == labels  # stored in index order
    with pytest.raises(ReviewError, match="sentence 0 labelled twice"):
        store.save(Review("i1", "an", [], labels + labels[:1]))
    with pytest.raises(ReviewError, match="sentences must be SentenceLabel objects, got dict"):
        store.save(Review("i1", "an", [], [{"index": 0, "label": "correct"}]))  # type: ignore[list-item]


def test_unknown_reviewer_and_item(store):
    store.add_items(ITEMS)
    with pytest.raises(ReviewError, match="unknown reviewer 'chi'"):
        store.save(Review("i1", "chi", [], []))
    with pytest.raises(ReviewError, match="unknown item 'nope'"):
        store.save(Review("nope", "an", [], []))
    for call in (lambda: store.worklist("chi"), lambda: store.latest("i1", "chi"), lambda: store.history("i1", "chi")):
        with pytest.raises(ReviewError, match="unknown reviewer 'chi'"):
            call()
    with pytest.raises(ReviewError, match="unknown item 'nope'"):
        store.latest("nope", "an")
    assert store.reviewer("chi") is None
    assert store.latest_reviews() == []


def test_reviewers_and_passwords(store):
    assert store.reviewer("binh") == {"name": "binh", "password_hash": "pbkdf2_sha256$1$salt$hash"}
    assert store.add_reviewer("binh") == {"name": "binh", "password_hash": "pbkdf2_sha256$1$salt$hash"}  # no-op
    assert store.add_reviewer("binh", "pbkdf2_sha256$1$salt$hash")["name"] == "binh"
    with pytest.raises(ReviewError, match="reviewer 'binh' already exists with another password"):
        store.add_reviewer("binh", "other")
    with pytest.raises(ReviewError, match="reviewer 'an' already exists with another password"):
        store.add_reviewer("an", "set-later")
    assert store.reviewer("binh")["password_hash"] == "pbkdf2_sha256$1$salt$hash"
    for bad in ("", "   ", "a\nb", "x" * 101):
        with pytest.raises(ReviewError, match="reviewer name"):
            store.add_reviewer(bad)
    assert store.reviewers() == ["an", "binh"]


def test_stale_edit_is_refused_when_the_base_revision_is_given(store):
    store.add_items(ITEMS)
    first = store.save(Review("i1", "an", [], []), expect_revision=0)
    store.save(Review("i1", "an", [], _labels("correct")), expect_revision=first.revision)
    with pytest.raises(ReviewError, match="saved revision 2 meanwhile .this edit started from revision 1."):
        store.save(Review("i1", "an", [], []), expect_revision=1)
    assert len(store.history("i1", "an")) == 2


def test_store_reopens_and_refuses_what_is_not_a_review_database(tmp_path, store):
    store.add_items(ITEMS)
    store.save(Review("i1", "an", [], _labels("correct")))
    assert ReviewStore(store.path).latest("i1", "an").revision == 1  # a second store on the same file
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(ReviewError, match="junk.sqlite: review database error .file is not a database."):
        ReviewStore(junk)
    with pytest.raises(ReviewError, match="review database path is a folder"):
        ReviewStore(tmp_path)
    newer = tmp_path / "newer.sqlite"
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    with pytest.raises(ReviewError, match="schema version 7; this vipet reads 1"):
        ReviewStore(newer)
