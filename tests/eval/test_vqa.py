"""VQA: yes/no normalisation, closed-question detection, accuracy and open-question scores."""

from __future__ import annotations

import json

import pytest

from vipet.eval.evaluate import vqa_sections
from vipet.eval.io import records_from_dicts
from vipet.eval.profiles import get_profile
from vipet.eval.vqa import closed_correct, is_closed, yes_no


@pytest.mark.parametrize(
    "answer,expected",
    [("Có", "yes"), ("Có,", "yes"), ("có.", "yes"), ("Có, có hạch bẹn trái", "yes"), ("  Không.", "no"),
     ("Không, không phát hiện tràn dịch", "no"), ("Chưa phát hiện hình ảnh tăng chuyển hóa", "no"),
     ("KHÔNG", "no"), ("- Có", "yes"), ("Hình ảnh bắt xạ sinh lý", None), ("", None), ("Cóa", None)],
)
def test_yes_no(answer, expected):
    assert yes_no(answer) == expected


def test_closed_detection():
    assert is_closed("Có tràn dịch màng phổi không?", "Không. Không phát hiện tràn dịch.")
    assert is_closed("Tổn thương đã di căn chưa ?", "Chưa.")
    assert not is_closed("Tổn thương nằm ở đâu?", "Có một khối ở thùy trên phổi phải.")
    assert not is_closed("Gan có bất thường không?", "Bắt xạ ở gan theo đặc điểm sinh lý.")  # answer is not yes/no
    assert is_closed(None, "Có.") and not is_closed(None, "Có một khối mờ ở phổi.")
    assert is_closed("Tổn thương nằm ở đâu?", "Thùy trên", closed=True)  # an explicit flag wins


def test_closed_correct():
    assert closed_correct("Không, chưa thấy bất thường.", ("Không.",))
    assert not closed_correct("Có.", ("Không.",))
    assert not closed_correct("Tôi không rõ.", ("Không.",))  # neither yes nor no is wrong
    assert not closed_correct("", ("Có.",))


def test_vqa_sections_accuracy_and_open_scores():
    records = records_from_dicts([
        {"id": "q1", "task": "vqa", "question": "Có hạch cổ không?", "prediction": "Có, vài hạch.", "reference": "Có.", "study": "s1"},
        {"id": "q2", "task": "vqa", "question": "Có tràn dịch không?", "prediction": "Có.", "reference": "Không.", "study": "s1"},
        {"id": "q3", "task": "vqa", "question": "Khối u ở đâu?", "prediction": "thùy trên phổi phải",
         "reference": "thùy trên phổi phải", "study": "s2"},
    ])
    sections = vqa_sections(records, get_profile("coco"))
    closed = sections["vqa/closed"]
    assert closed.info["n"] == 2 and closed.blocks[0].value() == {"accuracy": 50.0}
    assert sorted(closed.clusters) == ["s1", "s1"]
    opened = sections["vqa/open"].blocks
    assert opened[1].value()["rouge_l"] == pytest.approx(1.0)


def test_real_vqa_questions_are_mostly_closed(real_data):
    items = [json.loads(line) for line in (real_data / "vqa.jsonl").read_text(encoding="utf-8").splitlines()]
    closed = [is_closed(i["question"], i["answer"]) for i in items]
    assert len(items) == 337 and 240 <= sum(closed) <= 260
    # answering every closed question with its own reference is 100% accurate
    assert all(closed_correct(i["answer"], (i["answer"],)) for i, c in zip(items, closed) if c)
