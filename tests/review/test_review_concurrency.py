"""Two sessions saving at once lose nothing: separate processes, each with its own store on one file."""

from __future__ import annotations

import json
import multiprocessing
import time
import traceback

from vipet.review.export import export_expert, export_sentence_labels
from vipet.review.store import Review, ReviewStore, SentenceLabel, WorkItem
from vipet.schema import FDG_KEY, SUVMAX_KEY

N = 100


def _context():
    """fork where the platform has it (no pickling of the test module); spawn elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _lesions(reviewer: str, i: int, k: int = 0) -> list[dict]:
    """A lesion list that names who saved it and when, so every save is told apart afterwards."""
    return [{
        "Kích thước khối u, tổn thương, bất thường": f"{i} x {k} mm",
        "Hình dạng của khối u, tổn thương, bất thường": "Hình ảnh hạch",
        "Vị trí của khối u, tổn thương, bất thường": f"trung thất ({reviewer})",
        "Mức độ FDG": {"SUVmax": i + k / 10, "Tăng chuyển hoá FDG": "Cao"},
        "Xâm lấn": "Không có",
        "Giai đoạn chuyển hoá": "Khả năng di căn",
    }]


def _session(db_path: str, reviewer: str, item_ids: list[str], start, errors) -> None:
    """One reviewer session: its own store, `len(item_ids)` saves as fast as it can."""
    try:
        store = ReviewStore(db_path)
        start.wait(timeout=60)
        for k, item_id in enumerate(item_ids):
            i = int(item_id.split("_")[1])
            label = SentenceLabel(0, f"câu {i}", "significant" if (i + k) % 2 else "correct",
                                  "wrong_size_suv" if (i + k) % 2 else None)
            store.save(Review(item_id, reviewer, _lesions(reviewer, i, k), [label]))
            store.latest(item_id, reviewer)  # the page reloads the review it saved (a read beside the other writer)
            time.sleep(0.002)  # a person's pause between saves, so the two sessions' writes interleave
    except BaseException:
        errors.put(f"{reviewer}: {traceback.format_exc()}")
        raise


def _run(db_path, sessions) -> None:
    ctx = _context()
    start, errors = ctx.Barrier(len(sessions)), ctx.Queue()
    procs = [ctx.Process(target=_session, args=(str(db_path), reviewer, items, start, errors)) for reviewer, items in sessions]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=240)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert not problems, "\n".join(problems)
    assert [p.exitcode for p in procs] == [0] * len(procs)


def _setup(tmp_path) -> ReviewStore:
    store = ReviewStore(tmp_path / "reviews.sqlite")
    store.add_reviewer("an")
    store.add_reviewer("binh")
    store.add_items([WorkItem(f"item_{i}", f"2023_11_{1 + i % 28:02d}_patient_{5000 + i}", f"Câu {i}.") for i in range(N)])
    return store


def test_two_reviewers_save_100_each_at_once_and_nothing_is_lost(tmp_path):
    store = _setup(tmp_path)
    items = [f"item_{i}" for i in range(N)]
    _run(store.path, [("an", items), ("binh", items[::-1])])  # opposite orders: both write the same items
    for reviewer in ("an", "binh"):
        latest = store.latest_reviews(reviewer)
        assert len(latest) == N
        for item, review in latest:
            i = int(item.item_id.split("_")[1])
            assert review.revision == 1 and review.lesions == _lesions(reviewer, i, i if reviewer == "an" else N - 1 - i)
            assert len(store.history(item.item_id, reviewer)) == 1
    with store._connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM reviews").fetchone()[0] == 2 * N
        assert conn.execute("SELECT COUNT(*) FROM sentence_labels").fetchone()[0] == 2 * N
    written = {r: export_expert(store, tmp_path / f"expert_{r}", r) for r in ("an", "binh")}
    assert [len(paths) for paths in written.values()] == [N, N]
    for reviewer, paths in written.items():
        locations = {json.loads(p.read_text(encoding="utf-8"))[0]["Vị trí của khối u, tổn thương, bất thường"] for p in paths}
        assert locations == {f"trung thất ({reviewer})"}
        suvs = sorted(json.loads(p.read_text(encoding="utf-8"))[0][FDG_KEY][SUVMAX_KEY] for p in paths)
        assert len(set(suvs)) == N
    csv_rows = export_sentence_labels(store, tmp_path / "labels.csv").read_text(encoding="utf-8").splitlines()
    assert len(csv_rows) == 1 + 2 * N


def test_one_reviewer_in_two_sessions_gets_distinct_revisions(tmp_path):
    """Two tabs of one reviewer saving one item at once: revisions 1..100, none lost or doubled."""
    store = _setup(tmp_path)
    half = N // 2
    _run(store.path, [("an", ["item_7"] * half), ("an", ["item_7"] * half)])
    history = store.history("item_7", "an")
    assert [r.revision for r in history] == list(range(1, N + 1))
    sizes = sorted(r.lesions[0]["Kích thước khối u, tổn thương, bất thường"] for r in history)
    assert sizes == sorted(f"7 x {k} mm" for k in range(half) for _ in range(2))


def _open_new(db_path: str, name: str, start, errors) -> None:
    try:
        start.wait(timeout=60)
        ReviewStore(db_path).add_reviewer(name)
    except BaseException:
        errors.put(f"{name}: {traceback.format_exc()}")
        raise


def test_sessions_creating_one_new_database_at_once_all_succeed(tmp_path):
    """The first sessions of a fresh file race to switch it to WAL and create the tables."""
    ctx = _context()
    for round_ in range(8):
        path = str(tmp_path / f"new{round_}.sqlite")
        start, errors = ctx.Barrier(3), ctx.Queue()
        procs = [ctx.Process(target=_open_new, args=(path, f"r{k}", start, errors)) for k in range(3)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=120)
        assert errors.empty(), errors.get()
        assert [p.exitcode for p in procs] == [0, 0, 0]
        assert ReviewStore(path).reviewers() == ["r0", "r1", "r2"]
