"""Baselines: the typical normal report, the nearest neighbour's report, the majority answer."""

from __future__ import annotations

import pytest
import torch

from vipet.errors import TrainError
from vipet.models.baselines import MajorityVQABaseline, RetrievalBaseline, TemplateBaseline, build_baseline, image_statistics

NORMAL_A = "Phổi hai bên sáng. Không thấy hạch trung thất. Tim không to."
NORMAL_B = "Phổi hai bên sáng. Không thấy hạch trung thất. Màng phổi bình thường."
NORMAL_C = "Phổi hai bên sáng. Không thấy tràn dịch."
LESION = "Nốt mờ phổi phải tăng chuyển hóa FDG (SUVmax: 5,2). Không thấy hạch trung thất."


def _split(text):
    return [s.strip() + "." for s in text.split(".") if s.strip()]


def test_template_picks_the_normal_report_made_of_the_most_common_sentences():
    items = [{"task": "report", "region": "chest", "text": t} for t in (NORMAL_A, NORMAL_B, NORMAL_C, LESION, LESION)]
    items.append({"task": "report", "region": "head_neck", "text": "Não bắt xạ sinh lý."})
    baseline = TemplateBaseline(is_normal=lambda t: "tăng chuyển hóa" not in t, sentences=_split).fit(items)
    # Sentence counts over normal reports: "Phổi hai bên sáng." 3, "Không thấy hạch trung thất." 2, others 1.
    # Mean frequency: A = (3+2+1)/3 = 2, B = 2, C = (3+1)/2 = 2 -> tie, shortest text wins: C.
    assert baseline.predict({"region": "chest"}) == NORMAL_C
    assert baseline.predict({"region": "head_neck"}) == "Não bắt xạ sinh lý."
    assert baseline.predict({"region": "abdomen_pelvis"}) == baseline.fallback
    with pytest.raises(TrainError, match="no training reports"):
        TemplateBaseline(is_normal=lambda t: True, sentences=_split).fit([{"task": "vqa", "text": "có"}])


def test_template_with_the_report_toolkit_skips_reports_with_lesions():
    items = [{"task": "report", "region": "chest", "text": t} for t in (LESION, LESION, LESION, NORMAL_A)]
    assert TemplateBaseline().fit(items).predict({"region": "chest"}) == NORMAL_A


def _volume(level: float, hot=None) -> torch.Tensor:
    volume = torch.full((2, 8, 16, 16), level)
    if hot is not None:
        volume[0][hot] = 1.0
    return volume


def test_retrieval_returns_the_report_of_the_nearest_training_image():
    train = [
        {"task": "report", "region": "chest", "image": _volume(0.1), "text": "bình thường"},
        {"task": "report", "region": "chest", "image": _volume(0.1, (4, 3, 3)), "text": "nốt phổi phải"},
        {"task": "report", "region": "chest", "image": _volume(0.1, (4, 12, 12)), "text": "nốt phổi trái"},
        {"task": "report", "region": "head_neck", "image": _volume(0.5), "text": "não"},
    ]
    baseline = RetrievalBaseline().fit(train)
    assert baseline.predict({"region": "chest", "image": _volume(0.1, (4, 13, 12))}) == "nốt phổi trái"
    assert baseline.predict({"region": "chest", "image": _volume(0.1, (5, 2, 3))}) == "nốt phổi phải"
    assert baseline.predict({"region": "chest", "image": _volume(0.12)}) == "bình thường"
    assert baseline.predict({"region": "head_neck", "image": _volume(0.1, (4, 3, 3))}) == "não"  # same region only
    with pytest.raises(TrainError, match=r"\(2, D, H, W\)"):
        image_statistics(torch.zeros(3, 4, 4, 4))


def test_retrieval_accepts_any_embedding():
    train = [{"task": "report", "region": "chest", "image": torch.tensor([float(i)]), "text": f"r{i}"} for i in range(5)]
    baseline = RetrievalBaseline(embed=lambda image: image.numpy().astype(float)).fit(train)
    assert baseline.predict({"region": "chest", "image": torch.tensor([3.2])}) == "r3"


def test_majority_vqa_per_question_with_deterministic_ties():
    def qa(q, a):
        return {"task": "vqa", "question": q, "text": a}

    items = [qa("Có hạch không?", "có"), qa("Có hạch  không?", "có"), qa("có hạch không?", "không"),
             qa("Có tràn dịch không?", "không"), qa("Có tràn dịch không?", "có"), {"task": "report", "text": "x"}]
    baseline = build_baseline("majority-vqa").fit(items)
    assert baseline.predict({"question": "CÓ HẠCH KHÔNG?"}) == "có"  # case and spacing folded
    assert baseline.predict({"question": "Có tràn dịch không?"}) == "có"  # 1-1 tie: alphabetical
    assert baseline.predict({"question": "Vùng nào?"}) == "có"  # unseen: overall majority (3 vs 2)
    assert isinstance(baseline, MajorityVQABaseline)
    with pytest.raises(TrainError, match="unknown baseline"):
        build_baseline("oracle")


def test_one_registry_names_each_baseline_with_its_tasks():
    from vipet.models.baselines import BASELINES, baseline_tasks
    from vipet.models.registry import baseline_names, describe, is_baseline

    assert baseline_names() == ["template", "retrieval", "majority-vqa"] == describe()["baselines"]
    assert {name: baseline_tasks(name) for name in BASELINES} == {
        "template": ("report",), "retrieval": ("report",), "majority-vqa": ("vqa",)}
    assert [name for name, cls in BASELINES.items() if cls.uses_images] == ["retrieval"]
    assert all(BASELINES[name].name == name and isinstance(build_baseline(name), BASELINES[name]) for name in BASELINES)
    assert is_baseline("template") and not is_baseline("oracle")
    with pytest.raises(TrainError, match=r"unknown baseline 'oracle'; known: \['template', 'retrieval', 'majority-vqa'\]"):
        baseline_tasks("oracle")
