"""Review over HTTP: two readers saving 100 reviews each at once lose nothing; export and agreement follow."""

from __future__ import annotations

import csv
import re
import threading

from fastapi.testclient import TestClient

from serve_support import make_config
from vipet.serve.app import create_app
from vipet.review.store import WorkItem

N_ITEMS = 100
REPORT = "Hình ảnh nốt mờ thùy trên phổi phải, kích thước 12 mm. Hình ảnh bắt xạ sinh lý ở não."


def signed_in(app, name: str) -> tuple[TestClient, str]:
    client = TestClient(app)
    page = client.get("/login")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    assert client.post("/login", data={"csrf": csrf, "name": name}, follow_redirects=False).status_code == 303
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/review").text).group(1)
    return client, csrf


def label_of(reader: int, n: int) -> str:
    """Reader 0 calls every third item's first sentence a significant error; reader 1 agrees except on n % 10 == 1."""
    base = "significant" if n % 3 == 0 else "correct"
    if reader == 1 and n % 10 == 1:
        return "insignificant"
    return base


def test_two_readers_save_100_reviews_each_at_once(serve_build, tmp_path):
    app = create_app(make_config(serve_build, tmp_path))
    store = app.state.serve.store
    items = [WorkItem(f"item-{n}", f"2018_01_{n % 28 + 1:02d}_patient_{n}", REPORT, REPORT, "m") for n in range(N_ITEMS)]
    assert store.add_items(items) == N_ITEMS
    failures: list[str] = []
    barrier = threading.Barrier(2)

    def reader(number: int, name: str) -> None:
        client, csrf = signed_in(app, name)
        barrier.wait()
        for n in range(N_ITEMS):
            label = label_of(number, n)
            body = {"lesions": [["12 mm", "Hình ảnh nốt mờ", "thùy trên phổi phải", str(n % 7), "Tăng", "Không có", "Khả năng ác tính"]],
                    "sentences": [{"index": 0, "label": label, "category": None if label == "correct" else "false_finding"}],
                    "expect_revision": 0}
            response = client.post(f"/api/review/item-{n}", json=body, headers={"X-CSRF-Token": csrf})
            if response.status_code != 200 or response.json()["revision"] != 1:
                failures.append(f"{name} item-{n}: {response.status_code} {response.text}")

    threads = [threading.Thread(target=reader, args=(i, name)) for i, name in enumerate(("Dr A", "Dr B"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures[:3]
    latest = store.latest_reviews()
    assert len(latest) == 2 * N_ITEMS
    assert {(item.item_id, review.reviewer) for item, review in latest} == {
        (f"item-{n}", name) for n in range(N_ITEMS) for name in ("Dr A", "Dr B")}

    # Export (as Dr A, then Dr B): one official file per study each, and every label in the CSV.
    for name in ("Dr A", "Dr B"):
        client, csrf = signed_in(app, name)
        result = client.post("/api/review-export", headers={"X-CSRF-Token": csrf}).json()
        expert = [f for f in result["files"] if f.endswith(".json")]
        assert len(expert) == N_ITEMS and not result["problems"]
        assert all(f.startswith(name.replace(" ", "_") + "/expert/PETCT_2018_THANG 1_") for f in expert)
        assert client.get("/review/exports/" + expert[0]).json()[0]["Mức độ FDG"]["SUVmax"] in range(7)
    with open(app.state.serve.export_dir / "sentence_labels.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * N_ITEMS

    # Agreement page: Cohen's kappa from the textbook formula over the 100 shared first sentences.
    a = [label_of(0, n) for n in range(N_ITEMS)]
    b = [label_of(1, n) for n in range(N_ITEMS)]
    observed = sum(x == y for x, y in zip(a, b)) / N_ITEMS
    expected = sum(a.count(k) * b.count(k) for k in set(a) | set(b)) / N_ITEMS**2
    kappa = (observed - expected) / (1 - expected)
    page = client.get("/review/agreement").text
    row = re.search(r"<tr><td>Dr A</td><td>Dr B</td><td>(\d+)</td>.*?</tr>", page, re.S).group(0)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[2] == str(N_ITEMS) and cells[3] == "100.0" and cells[4] == "100.0"  # identical lesion lists
    assert cells[6] == f"{kappa:.3f}" and cells[7] == f"{observed:.3f}"
