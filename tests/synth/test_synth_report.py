"""Findings, reports, expert records and VQA facts of generated studies agree with the planted truth."""

from __future__ import annotations

import json
import re

import pytest

from vipet.schema import FINDINGS_KEY, IMPRESSION_KEY, SECTION_KEYS, Lesion
from vipet.synth import generate_study
from vipet.synth.anatomy import LIVER, LUNG
from vipet.synth.phrasing import JUDGEMENT_PHRASES

N_STUDIES = 24
SIZE_RE = re.compile(r"(\d+) x (\d+) mm|(?:đường kính|kích thước(?: nhỏ)?) (\d+) ?mm|\( (\d+) mm\)|(vài) mm")
SUV_RE = re.compile(r"\(SUVmax ?[:;] ?(\d+(?:[,.]\d)?)\)")


@pytest.fixture(scope="module")
def studies():
    return [generate_study(i, 7, "small") for i in range(N_STUDIES)]


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=\.)\s+", text) if s]


def test_report_has_the_five_section_keys_and_real_routine_sentences(studies):
    for study, truth in studies:
        obj = truth["report"]
        assert set(obj) == {IMPRESSION_KEY, FINDINGS_KEY}
        assert list(obj[FINDINGS_KEY]) == list(SECTION_KEYS)
        assert all(obj[FINDINGS_KEY][k].strip() for k in SECTION_KEYS) and obj[IMPRESSION_KEY].strip()
        assert obj[FINDINGS_KEY]["Đầu - cổ"].startswith("Hình ảnh bắt xạ theo đặc điểm sinh lý ở não.")
        chest = obj[FINDINGS_KEY]["Lồng ngực"]
        assert chest.startswith("Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim.")
        effusion = any(l["kind"] == "pleural_effusion" for l in truth["lesions"])
        assert ("Không phát hiện hình ảnh tràn dịch màng phổi hai bên" in chest) != effusion
        assert re.search(r"hệ thống cơ xương\.$", obj[FINDINGS_KEY]["Hệ cơ - xương"])
        assert study.report is not None and study.report.to_json() == obj


def test_sizes_and_suvmax_in_the_report_are_the_planted_ones(studies):
    checked = 0
    for _, truth in studies:
        findings_text = " ".join(truth["report"][FINDINGS_KEY].values())
        for lesion in truth["lesions"]:
            sentence = lesion["report_sentence"]
            assert sentence in findings_text
            size = lesion["size_mm"]
            if size is not None:
                match = SIZE_RE.search(sentence)
                assert match, sentence
                if match.group(1):
                    assert [int(match.group(1)), int(match.group(2))] == size, sentence
                elif match.group(5):
                    assert max(size) <= 5, sentence
                else:
                    value = int(match.group(3) or match.group(4))
                    assert size == [value, value], sentence
                checked += 1
            suv = SUV_RE.search(sentence)
            if lesion["suv_max"] is None:
                assert suv is None, sentence
                if lesion["kind"] != "pleural_effusion":
                    assert "không tăng chuyển h" in sentence, sentence
            else:
                assert float(suv.group(1).replace(",", ".")) == pytest.approx(lesion["suv_max"], abs=0.051), sentence
    assert checked > 40


def test_impression_restates_key_findings_with_their_judgement(studies):
    for _, truth in studies:
        impression = truth["report"][IMPRESSION_KEY]
        key = [l for l in truth["lesions"] if not l["incidental"]]
        if not key:
            assert "Chưa phát hiện hình ảnh tăng chuyển h" in impression
        for lesion in key:
            phrases = JUDGEMENT_PHRASES[lesion["judgement"]][0]
            assert lesion["site"] in impression
            if phrases:
                assert any(p.lower() in impression.lower() for p in phrases), (lesion["judgement"], impression)
        for lesion in truth["lesions"]:
            if lesion["incidental"]:
                continue
            assert "SUVmax" not in impression


def test_diagnosis_drives_the_findings(studies):
    seen = set()
    for _, truth in studies:
        diagnosis, lesions = truth["diagnosis"], truth["lesions"]
        seen.add(diagnosis)
        judgements = {l["judgement"] for l in lesions}
        if diagnosis == "normal":
            assert all(l["incidental"] for l in lesions)
        if diagnosis == "benign":
            assert not judgements & {"primary_malignant", "metastasis", "lymphoma", "likely_malignant"}
        if diagnosis == "lung_cancer":
            primaries = [l for l in lesions if l["judgement"] == "primary_malignant"]
            assert len(primaries) == 1 and primaries[0]["organ"] == "lung"
        if diagnosis == "lymphoma":
            assert all(l["kind"] == "lymph_node" for l in lesions)
            assert any(l["judgement"] == "lymphoma" and l["avid"] for l in lesions)
    assert {"normal", "lung_cancer", "lymphoma"} <= seen


def test_lesions_are_planted_where_the_truth_says(studies):
    from vipet.synth.anatomy import sample_body
    from vipet.synth.phantom import label_volume
    from vipet.synth.population import STREAM_ANATOMY, plan_study, study_rng
    from vipet.synth.scanner import SIZES, grids

    checked = 0
    for study, truth in studies[:10]:
        plan = plan_study(7, truth["index"])
        body = sample_body(study_rng(7, truth["index"], STREAM_ANATOMY), plan.person.sex, plan.person.height_m,
                           plan.person.weight_kg)
        ct_grid, _ = grids(body, SIZES["small"])
        labels = label_volume(body, ct_grid)
        if not truth["head_first"]:
            labels = labels[::-1]
        ct = study.ct.array
        for lesion in truth["lesions"]:
            z, y, x = lesion["center_ct_index"]
            if lesion["kind"] == "liver_lesion":
                assert labels[z, y, x] == LIVER
            if lesion["kind"] in ("lung_nodule", "lung_ggo") and max(lesion["size_mm"]) >= 8:
                assert labels[z, y, x] == LUNG
                assert ct[z, y, x] > -800  # the nodule, not air-filled lung, is at its centre
                checked += 1
    assert checked >= 1


def test_expert_records_have_the_six_keys_and_match_the_truth(studies):
    keys = list(Lesion().to_expert())
    for _, truth in studies:
        for lesion in truth["lesions"]:
            expert = lesion["expert"]
            assert list(expert) == keys
            parsed = Lesion.from_expert(json.loads(json.dumps(expert, ensure_ascii=False)))
            assert parsed.suv_max == lesion["suv_max"]
            assert parsed.location == lesion["site"]
            if lesion["size_mm"] and max(lesion["size_mm"]) > 5:
                assert str(lesion["size_mm"][0]) in parsed.size


def test_vqa_facts_cover_the_question_types_and_agree_with_truth(studies):
    types = set()
    for _, truth in studies:
        for qa in truth["vqa"]:
            assert set(qa) == {"question", "answer", "type", "closed", "region"}
            types.add(qa["type"])
            if qa["closed"]:
                assert qa["answer"].startswith(("Có", "Không")), qa
        effusion = next(qa for qa in truth["vqa"] if qa["type"] == "effusion")
        has_effusion = any(l["kind"] == "pleural_effusion" for l in truth["lesions"])
        assert effusion["answer"].startswith("Có") == has_effusion
        for qa in truth["vqa"]:
            if qa["type"] == "suv":
                assert any(f"{l['suv_max']:.1f}".replace(".", ",") == qa["answer"] for l in truth["lesions"]
                           if l["suv_max"] is not None)
    assert types >= {"region", "physiological", "presence", "effusion", "size", "suv", "uptake", "judgement",
                     "node_station", "malignancy"}


def test_phrasing_varies_with_the_seed_but_keeps_the_real_formats(studies):
    texts = [t["report_text"] for _, t in studies]
    joined = " ".join(texts)
    assert "hóa" in joined and any("hoá" in t and "hóa" not in t for t in texts)  # both spellings, one per report
    assert re.search(r"SUVmax: \d+,\d\)", joined)
    assert re.search(r"\d+ x \d+ mm", joined) and "đường kính" in joined
    mass_or_nodule = [l["report_sentence"] for _, t in studies for l in t["lesions"] if l["organ"] == "lung"]
    assert len({re.sub(r"[\d,.]+", "#", s.split(" ở ")[0])[:25] for s in mass_or_nodule}) > 1


def test_routine_sentences_are_verbatim_real_ones(studies, real_data):
    real = set()
    for line in (real_data / "reports.jsonl").read_text(encoding="utf-8").splitlines():
        real.update(_sentences(json.loads(line)["text"]))
    routine = [
        "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não.",
        "Tăng nhẹ chuyển hóa FDG ở amydal, rìa lưỡi hai bên theo đặc điểm sinh lý.",
        "Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim.",
        "Không phát hiện hình ảnh tràn dịch màng phổi hai bên và tràn dịch màng tim.",
        "Hình ảnh tăng chuyển hóa FDG ở khung đại tràng theo đặc điểm sinh lý.",
        "Chưa phát hiện hình ảnh tăng chuyển hóa FDG bất thường ở hệ thống cơ xương.",
        "Chưa phát hiện hình ảnh tăng chuyển hóa FDG khu trú, bất thường tại các vị trí khác trên xạ hình PET/CT toàn thân.",
    ]
    assert set(routine) <= real
    used = {s for _, t in studies for s in _sentences(t["report_text"].replace("hoá", "hóa"))}
    assert set(routine) & used == set(routine)


def test_report_extractor_recovers_the_planted_findings(studies):
    from vipet.reports.extract import extract_lesions

    total = recovered = 0
    for _, truth in studies:
        extracted = extract_lesions(truth["report"], scope="all")
        values = [e.suv_max for e in extracted if e.suv_max is not None]
        for lesion in truth["lesions"]:
            if lesion["suv_max"] is None:
                continue
            total += 1
            recovered += any(abs(v - lesion["suv_max"]) < 0.051 for v in values)
    assert total > 20 and recovered / total >= 0.9
