"""Leaderboard tables and the HTML report from a metrics JSON of the evaluation suite."""

from __future__ import annotations

import csv
import io

import pytest

from vipet.eval import evaluate_predictions
from vipet.eval.html_report import CaseStudy, highlighted_sentences, render_html_report
from vipet.eval.leaderboard import PUBLISHED_REPORT_ROWS, leaderboard_csv, leaderboard_markdown, measured_table

REFERENCE = (
    "Hình ảnh khối mờ ở thùy trên phổi phải, kích thước 30 x 25 mm, tăng chuyển hóa FDG (SUVmax: 8,5). "
    "Hình ảnh hạch trung thất nhóm 4R, kích thước 12 x 10 mm, tăng chuyển hóa FDG (SUVmax: 4,1)."
)
PERFECT = REFERENCE
PARTIAL = "Hình ảnh khối mờ ở thùy trên phổi phải, kích thước 30 x 25 mm, tăng chuyển hóa FDG (SUVmax: 8,5)."
WRONG = "Hình ảnh tràn dịch màng phổi trái, không tăng chuyển hóa FDG."


@pytest.fixture(scope="module")
def metrics() -> dict:
    records = []
    for i in range(4):
        for model, text in (("perfect", PERFECT), ("partial", PARTIAL), ("wrong", WRONG)):
            records.append({"id": f"s{i}", "task": "report", "prediction": text, "reference": REFERENCE, "model": model})
        records.append({"id": f"s{i}-q", "task": "vqa", "question": "Có tràn dịch màng phổi không?",
                        "prediction": "Không." if i % 2 else "Có.", "reference": "Không.", "model": "perfect"})
    return evaluate_predictions(records, profile="default", clinical=True, n_resamples=50)


def test_measured_rows_sorted_by_clinical_f1_with_exact_values(metrics):
    rows = measured_table(metrics, "report")
    assert [r["model"] for r in rows] == ["perfect", "partial", "wrong"]
    assert rows[0]["F1-T"].value == pytest.approx(100.0)
    # partial: 1 of 1 predicted units matches, 1 of 2 reference units recalled -> F1 = 2/3
    assert rows[1]["F1-T"].value == pytest.approx(200 / 3)
    assert rows[2]["F1-T"].value == pytest.approx(0.0)
    assert rows[0]["BLEU-4"].value == pytest.approx(100.0)


def test_metrics_without_bootstrap_give_values_without_intervals():
    """`vipet evaluate --bootstrap 0` writes ci95 [None, None]; the leaderboard once crashed on it."""
    records = [{"id": f"s{i}", "task": "report", "prediction": PARTIAL, "reference": REFERENCE, "model": "partial"}
               for i in range(3)]
    rows = measured_table(evaluate_predictions(records, profile="default", clinical=True, n_resamples=0), "report")
    assert rows[0]["F1-T"].value == pytest.approx(200 / 3) and rows[0]["F1-T"].ci95 is None
    assert rows[0]["F1-T"].text() == "66.67"
    assert "| partial |" in leaderboard_markdown(evaluate_predictions(records, profile="default", clinical=True,
                                                                      n_resamples=0))


def test_published_rows_are_a_separate_table(metrics):
    text = leaderboard_markdown(metrics)
    measured, published = text.split("### Published reference rows", 1)
    assert "GPT-4o" not in measured and "GPT-4o few-shot (paper)" in published
    assert "| perfect |" in measured and "| perfect |" not in published.split("### Visual")[0]
    assert "24.21" in published and "### Visual question answering" in text


def test_csv_marks_source_of_every_row(metrics):
    rows = list(csv.DictReader(io.StringIO(leaderboard_csv(metrics))))
    sources = {(r["source"], r["model"]) for r in rows}
    assert ("measured", "perfect") in sources
    assert all(src == "published" for src, model in sources if "(paper" in model)
    assert len([r for r in rows if r["source"] == "published"]) == sum(len(r) - 1 for r in PUBLISHED_REPORT_ROWS)
    vqa = [r for r in rows if r["task"] == "vqa" and r["metric"] == "closed acc."]
    assert float(vqa[0]["value"]) == pytest.approx(50.0)


def test_highlighting_marks_missed_and_hallucinated_sentences():
    missed = highlighted_sentences(REFERENCE, PARTIAL, "missed")
    assert missed.count('class="matched"') == 1 and missed.count('class="missed"') == 1
    hallucinated = highlighted_sentences(WRONG, REFERENCE, "hallucinated")
    assert 'class="hallucinated"' in hallucinated


def test_html_report_is_self_contained(metrics, tmp_path):
    from PIL import Image

    png = tmp_path / "mip.png"
    Image.new("L", (8, 16), 128).save(png)
    page = render_html_report(metrics, "vipet bench", cases=[CaseStudy("s0", REFERENCE, {"partial": PARTIAL}, {"MIP": png})])
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.count("<table") == 3  # report, published, vqa
