"""VQA regenerated from synthetic ground truth: every stated size and SUVmax comes back unchanged."""

from __future__ import annotations

import re

from vipet.reports.normalize import format_number
from vipet.schema import Lesion
from vipet.reports.vqa import generate_vqa
from vipet.synth import generate_study

_NUMBER = re.compile(r"\d+(?:,\d+)?")


def about(question: str, site: str) -> bool:
    """Does a question name the site (all its words, in any order: "dày màng phổi ở thành sau …")?"""
    return set(site.lower().split()) <= set(question.lower().rstrip("?").split())


def test_answers_carry_the_truth_sizes_and_suvmax_of_synthetic_studies() -> None:
    checked_suv = checked_size = 0
    for index in range(12):
        _, truth = generate_study(index, seed=11, size="small")
        pairs = generate_vqa(truth["report"])
        suv_answers = {p["question"]: p["answer"] for p in pairs if p["type"] == "suvmax"}
        size_answers = {p["question"]: p["answer"] for p in pairs if p["type"] == "size"}
        for lesion in truth["lesions"]:
            expert = Lesion.from_expert(lesion["expert"])
            site = lesion["site"]
            if expert.suv_max is not None:
                answers = [a for q, a in suv_answers.items() if about(q, site)]
                assert f"là {format_number(expert.suv_max)}." in " ".join(answers), (index, site, answers)
                checked_suv += 1
            if lesion["size_mm"] and not lesion["size_few_mm"]:
                answers = [a for q, a in size_answers.items() if about(q, site)]
                assert answers, (index, site)
                numbers = {int(n) for a in answers for n in _NUMBER.findall(a) if "," not in n}
                assert numbers & set(lesion["size_mm"]), (index, site, answers, lesion["size_mm"])
                checked_size += 1
    assert checked_suv >= 10 and checked_size >= 20
