"""Extraction on the real reports: the 12 expert pairs pinned, and sanity on all 189."""

from __future__ import annotations

from vipet.eval.clinical import clinical_f1
from vipet.reports.categories import lesion_categories, type_category
from vipet.reports.extract import extract_findings, extract_lesions
from vipet.schema import Lesion

METRICS = ("F1-T", "F1-TP", "F1-TF", "F1-TPF")


def test_thorax_extraction_matches_the_expert_lesions_on_the_12_pairs(real_pairs: list[tuple[str, str, list[Lesion]]]) -> None:
    assert len(real_pairs) == 12
    predicted = [extract_lesions(text, scope="thorax") for _, text, _ in real_pairs]
    experts = [expert for _, _, expert in real_pairs]
    ids = [pid for pid, _, _ in real_pairs]
    scores = clinical_f1(predicted, experts, ids)
    ceiling = clinical_f1(experts, experts, ids)
    for name in METRICS:
        assert (scores[name]["correct"], scores[name]["n_pred"], scores[name]["n_ref"]) == (60, 60, 60), name
        assert scores[name]["f1"] == ceiling[name]["f1"] == 100.0, name
    assert scores["suvmax_mae"] == {"value": 0.0, "n_pairs": 30}


def test_per_patient_lesion_counts_and_suvmax_values_equal_the_experts(real_pairs: list[tuple[str, str, list[Lesion]]]) -> None:
    # independent of the category mapping: same number of lesions, same SUVmax values per patient
    for pid, text, expert in real_pairs:
        predicted = extract_lesions(text, scope="thorax")
        assert len(predicted) == len(expert), pid
        expert_suv = sorted(l.suv_max for l in expert if l.suv_max)
        assert sorted(l.suv_max for l in predicted if l.suv_max) == expert_suv, pid
        assert sorted(l.uptake == "Không tăng" for l in predicted) == sorted(
            l.uptake.lower() == "không tăng" for l in expert
        ), pid


def test_extraction_on_every_real_report_is_consistent(real_reports: list[dict]) -> None:
    typed = total = 0
    for record in real_reports:
        everything = extract_findings(record, scope="all")
        thorax = extract_findings(record, scope="thorax")
        all_lesions = [f.to_lesion() for f in everything]
        assert all(f.to_lesion() in all_lesions for f in thorax), record["patient_id"]
        for finding in everything:
            lesion = finding.to_lesion()
            assert lesion.type and lesion.type != "Không có", record["patient_id"]
            assert not lesion.type.lower().startswith(("không phát hiện", "chưa phát hiện")), lesion.type
            assert "sinh lý" not in lesion.type + lesion.location, lesion
            total += 1
            typed += type_category(lesion) != "khác"
        for finding in thorax:
            assert finding.in_thorax() and all(c for c in lesion_categories(finding.to_lesion()))
    assert total > 1000
    assert typed / total > 0.85  # most findings fall in a named clinical type category
