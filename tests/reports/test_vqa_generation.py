"""VQA pairs: answers agree with the findings they come from; LLaVA and flat exports."""

from __future__ import annotations

import json

import pytest

from vipet.errors import ReportError
from vipet.schema import ABDOMEN_PELVIS, CHEST, HEAD_NECK, MUSCULOSKELETAL, Report
from vipet.reports.vqa import QUESTION_TYPES, dumps_jsonl, generate_vqa, to_jsonl_records, to_llava

REPORT = Report(
    sections={
        HEAD_NECK: "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não.",
        CHEST: (
            "Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim. "
            "Không phát hiện hình ảnh tràn dịch màng phổi hai bên và tràn dịch màng tim. "
            "Hình ảnh khối mờ, bờ tua gai, kích thước 46 x 29 mm, tăng chuyển hóa FDG (SUVmax: 12,4) ở thùy dưới phổi phải. "
            "Hình ảnh hạch dưới carina, kích thước 12 x 15 mm, tăng chuyển hóa FDG (SUVmax: 7,4). "
            "Hình ảnh nốt mờ có đường kính 4 mm ở thùy trên phổi trái, không tăng chuyển hóa FDG."
        ),
        ABDOMEN_PELVIS: "Hình ảnh bắt xạ theo đặc điểm sinh lý ở gan, lách, thượng thận và đài bể thận 2 bên.",
        MUSCULOSKELETAL: "Chưa phát hiện hình ảnh tăng chuyển hóa FDG bất thường ở hệ thống cơ xương.",
    },
    impression=(
        "Hình ảnh khối mờ, bờ tua gai, kích thước 46 x 29 mm, tăng chuyển hóa FDG ở thùy dưới phổi phải tương ứng với "
        "tổn thương ác tính nguyên phát. Hình ảnh hạch dưới carina, kích thước 12 x 15 mm, tăng chuyển hóa FDG khả năng "
        "do metastases. Chưa phát hiện hình ảnh tăng chuyển hóa FDG khu trú, bất thường tại các vị trí khác trên xạ "
        "hình PET/CT toàn thân."
    ),
)


def by_question(pairs: list[dict]) -> dict[str, dict]:
    return {p["question"]: p for p in pairs}


def test_sizes_suvmax_and_uptake_answers_equal_the_lesions() -> None:
    qa = by_question(generate_vqa(REPORT))
    assert qa["Kích thước của khối mờ ở thùy dưới phổi phải là bao nhiêu?"]["answer"] == "46 x 29 mm."
    assert qa["SUVmax của khối mờ ở thùy dưới phổi phải là bao nhiêu?"]["answer"] == "SUVmax của tổn thương là 12,4."
    assert qa["Kích thước của hạch ở dưới carina là bao nhiêu?"]["answer"] == "12 x 15 mm."
    assert qa["SUVmax của hạch ở dưới carina là bao nhiêu?"]["answer"].endswith("7,4.")
    assert qa["Nốt mờ ở thùy trên phổi trái có tăng chuyển hóa FDG không?"]["answer"] == "Không, không tăng chuyển hóa FDG."
    assert qa["Khối mờ ở thùy dưới phổi phải có tăng chuyển hóa FDG không?"]["answer"] == (
        "Có, tăng chuyển hóa FDG (SUVmax: 12,4)."
    )
    assert qa["Kích thước của nốt mờ ở thùy trên phổi trái là bao nhiêu?"]["answer"] == "Đường kính 4 mm."


def test_presence_judgement_nodes_effusion_and_absences() -> None:
    qa = by_question(generate_vqa(REPORT))
    assert qa["Có khối mờ ở phổi không?"]["answer"].startswith("Có. Hình ảnh khối mờ, bờ tua gai ở thùy dưới phổi phải")
    assert qa["Có hạch ở trung thất không?"]["closed"] is True
    assert qa["Khối mờ ở thùy dưới phổi phải được nhận định theo hướng nào?"]["answer"].startswith("U nguyên phát.")
    assert qa["Hạch ở dưới carina được nhận định theo hướng nào?"]["answer"].startswith("Khả năng di căn.")
    assert qa["Có tổn thương nào được nhận định nghi ngờ ác tính không?"]["answer"].startswith("Có.")
    assert qa["Các hạch được mô tả nằm ở những vị trí nào?"]["answer"] == "Dưới carina."
    assert qa["Có tràn dịch màng phổi hoặc màng tim không?"]["answer"].startswith("Không. Không phát hiện")
    assert qa["Có tổn thương tăng chuyển hóa FDG khu trú ở xương không?"]["answer"].startswith("Không.")
    assert qa["Não có tăng chuyển hóa FDG bất thường không?"]["answer"] == (
        "Không. Hình ảnh bắt xạ theo đặc điểm sinh lý ở não."
    )
    assert "toàn thân" in qa["Hình ảnh PET/CT này thể hiện vùng cơ thể nào?"]["answer"]


def test_every_closed_answer_opens_with_co_or_khong_and_types_are_known() -> None:
    for pair in generate_vqa(REPORT):
        assert pair["type"] in QUESTION_TYPES
        if pair["closed"]:
            assert pair["answer"].startswith(("Có", "Không")), pair
        assert pair["question"].endswith("?") and pair["answer"]


def test_generation_is_deterministic_and_questions_unique() -> None:
    first, second = generate_vqa(REPORT), generate_vqa(REPORT.to_json())
    assert first == second
    assert len({p["question"] for p in first}) == len(first)


def test_a_region_sees_only_its_own_findings() -> None:
    chest = generate_vqa(REPORT, region="chest")
    abdomen = generate_vqa(REPORT, region="abdomen_pelvis")
    assert any("khối mờ" in p["question"] for p in chest)
    assert not any("khối mờ" in p["question"] or "hạch" in p["question"] for p in abdomen)
    assert by_question(chest)["Hình ảnh PET/CT này thể hiện vùng cơ thể nào?"]["answer"] == "Hình ảnh thể hiện vùng lồng ngực."
    with pytest.raises(ReportError, match="unknown region"):
        generate_vqa(REPORT, region="legs")


def test_llava_and_flat_exports() -> None:
    pairs = generate_vqa(REPORT)[:2]
    llava = to_llava(pairs, "img/s1.png", "s1")
    assert llava[0] == {
        "id": "s1_q000",
        "image": "img/s1.png",
        "conversations": [
            {"from": "human", "value": "<image>\n" + pairs[0]["question"]},
            {"from": "gpt", "value": pairs[0]["answer"]},
        ],
    }
    lines = dumps_jsonl(to_jsonl_records(pairs, "img/s1.png", "s1")).splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["s1_q000", "s1_q001"]
    assert json.loads(lines[1])["closed"] == pairs[1]["closed"] and "ả" in lines[0]


def test_real_reports_cover_every_question_type(real_reports: list[dict]) -> None:
    seen: set[str] = set()
    for record in real_reports:
        pairs = generate_vqa(record)
        assert pairs, record["patient_id"]
        seen |= {p["type"] for p in pairs}
    assert seen == set(QUESTION_TYPES)
