"""Deterministic Vietnamese question/answer pairs from a report's structured findings.

Every answer is built from what the extractor read (lesion kind, site, size, SUVmax, uptake,
judgement) or from a sentence of the report itself (physiological uptake, stated absences), never
from free generation, so an answer can only be as wrong as the extraction. The question types
follow the real set (`vqa.jsonl`): body region shown, physiological uptake, presence of a lesion
type in a site (closed có/không), size, SUVmax and uptake level, node stations, effusion,
malignancy judgement, and the whole-body "anything else" question.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from vipet.errors import ReportError
from vipet.reports.clauses import UPTAKE_KIND, Statement
from vipet.reports.extract import Finding, analyze_report
from vipet.reports.normalize import format_number
from vipet.schema import REGION_PHRASES, REGION_SECTIONS, WHOLE

QUESTION_TYPES: tuple[str, ...] = (
    "region", "physiological", "presence", "size", "suvmax", "uptake", "nodes", "effusion", "judgement", "other_sites",
)
REGION_NAMES: dict[str, str] = {WHOLE: "toàn thân (từ đầu - cổ đến khung chậu và hệ cơ - xương)", **REGION_PHRASES}
MALIGNANT_JUDGEMENTS = frozenset({
    "U nguyên phát", "Khả năng ác tính tái phát", "Chưa loại trừ khả năng di căn", "Chưa loại trừ ác tính",
    "Nhiều khả năng ác tính", "Khả năng di căn", "Khả năng ác tính",
})
_PHYSIOLOGICAL_SITE = re.compile(r"(?:ở|tại)\s+(.+?)(?:\s+(?:theo|có thể|khả năng)\b|[.]?$)")


def _subject(finding: Finding) -> str:
    """How a question names a finding: its kind and where it is ("khối mờ ở thùy dưới phổi trái")."""
    kind = "vùng tăng chuyển hóa FDG" if finding.kind == UPTAKE_KIND else finding.kind
    return f"{kind} ở {finding.location}" if finding.location else kind


def _uptake_phrase(finding: Finding) -> str:
    """The uptake as a sentence fragment with its SUVmax, e.g. "tăng chuyển hóa FDG (SUVmax: 5,2)"."""
    if finding.uptake is None:
        return "không mô tả mức độ chuyển hóa FDG"
    if finding.increased is False:
        return "giảm chuyển hóa FDG" if finding.uptake == "Giảm" else "không tăng chuyển hóa FDG"
    level = {"Tăng nhẹ": "tăng nhẹ", "Tăng nhẹ, không đều": "tăng nhẹ, không đều", "Không đều": "tăng không đều"}
    text = f"{level.get(finding.uptake, 'tăng')} chuyển hóa FDG"
    if finding.suv_max is not None:
        text += f" (SUVmax: {format_number(finding.suv_max)})"
    return text


def _describe(finding: Finding) -> str:
    """One answer sentence restating a finding from its fields."""
    parts = [f"{finding.type_text}" + (f" ở {finding.location}" if finding.location else "")]
    if finding.size_text:
        parts.append(f"kích thước {finding.size_text}" if finding.size_text[0].isdigit() else finding.size_text)
    parts.append(_uptake_phrase(finding))
    sentence = ", ".join(parts)
    if finding.judgement:
        sentence += f"; nhận định: {finding.judgement.lower()}"
    return sentence + "."


def _qa(question: str, answer: str, qtype: str, closed: bool) -> dict[str, Any]:
    return {"question": question, "answer": answer, "type": qtype, "closed": closed}


def _in_region(finding: Finding, region: str) -> bool:
    return region == "whole" or region in finding.regions


def _statement_in_region(statement: Statement, region: str) -> bool:
    if region == "whole":
        return True
    regions = {s.region for s in statement.sites}
    return region in regions if regions else statement.section == REGION_SECTIONS.get(region)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _finding_questions(findings: list[Finding]) -> Iterable[dict[str, Any]]:
    for f in findings:
        subject = _subject(f)
        if f.size_text:
            yield _qa(f"Kích thước của {subject} là bao nhiêu?", _capital(f.size_text) + ".", "size", False)
        if f.suv_max is not None:
            yield _qa(
                f"SUVmax của {subject} là bao nhiêu?", f"SUVmax của tổn thương là {format_number(f.suv_max)}.", "suvmax", False
            )
        if f.uptake is not None and f.kind != UPTAKE_KIND:
            answer = ("Có, " if f.increased else "Không, ") + _uptake_phrase(f) + "."
            yield _qa(f"{_capital(subject)} có tăng chuyển hóa FDG không?", answer, "uptake", True)
        if f.judgement:
            yield _qa(
                f"{_capital(subject)} được nhận định theo hướng nào?", f"{f.judgement}. {_describe(f)}", "judgement", False
            )


def _presence_questions(findings: list[Finding], statements: list[Statement]) -> Iterable[dict[str, Any]]:
    by_key: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        for site in f.sites[:1]:
            by_key.setdefault((f.kind, site.group), []).append(f)
    for (kind, group), group_findings in by_key.items():
        noun = "tổn thương tăng chuyển hóa FDG" if kind == UPTAKE_KIND else kind
        answer = "Có. " + " ".join(_describe(f) for f in group_findings)
        yield _qa(f"Có {noun} ở {group} không?", answer, "presence", True)
    for st in statements:
        if st.polarity != "negative" or not st.sites or not st.kinds:
            continue
        kind, group = st.kinds[0], st.sites[0].group
        if (kind, group) in by_key or kind == "tràn dịch":
            continue
        noun = "tổn thương tăng chuyển hóa FDG khu trú" if kind == UPTAKE_KIND else kind
        yield _qa(f"Có {noun} ở {group} không?", f"Không. {_capital(st.text)}", "presence", True)


def _node_questions(findings: list[Finding]) -> Iterable[dict[str, Any]]:
    nodes = [f for f in findings if f.kind == "hạch"]
    if not nodes:
        return
    places = "; ".join(f.location or "không rõ vị trí" for f in nodes)
    yield _qa("Các hạch được mô tả nằm ở những vị trí nào?", _capital(places) + ".", "nodes", False)
    active = [f for f in nodes if f.increased]
    if active:
        answer = "Có. " + " ".join(_describe(f) for f in active)
    else:
        answer = "Không. Các hạch được mô tả đều không tăng chuyển hóa FDG."
    yield _qa("Có hạch nào tăng chuyển hóa FDG không?", answer, "nodes", True)


def _effusion_questions(findings: list[Finding], statements: list[Statement]) -> Iterable[dict[str, Any]]:
    effusions = [f for f in findings if f.kind == "tràn dịch"]
    question = "Có tràn dịch màng phổi hoặc màng tim không?"
    if effusions:
        yield _qa(question, "Có. " + " ".join(_describe(f) for f in effusions), "effusion", True)
        return
    for st in statements:
        if st.polarity == "negative" and "tràn dịch" in st.kinds:
            yield _qa(question, f"Không. {_capital(st.text)}", "effusion", True)
            return


def _physiological_questions(statements: list[Statement]) -> Iterable[dict[str, Any]]:
    places: list[str] = []
    for st in statements:
        if st.polarity != "physiological":
            continue
        match = _PHYSIOLOGICAL_SITE.search(st.text)
        if match:
            places.append(match.group(1).strip(" ,."))
        for site in st.sites[:1]:
            organ = _capital(site.group)
            yield _qa(
                f"{organ} có tăng chuyển hóa FDG bất thường không?",
                f"Không. {_capital(st.text)}",
                "physiological",
                True,
            )
    if places:
        yield _qa(
            "Hình ảnh chuyển hóa FDG sinh lý được ghi nhận ở những đâu?",
            "Chuyển hóa sinh lý được ghi nhận ở " + "; ".join(dict.fromkeys(places)) + ".",
            "physiological",
            False,
        )


def _judgement_summary(findings: list[Finding]) -> Iterable[dict[str, Any]]:
    malignant = [f for f in findings if f.judgement in MALIGNANT_JUDGEMENTS]
    question = "Có tổn thương nào được nhận định nghi ngờ ác tính không?"
    if malignant:
        yield _qa(question, "Có. " + " ".join(_describe(f) for f in malignant), "judgement", True)
    elif findings:
        yield _qa(question, "Không. Không có tổn thương nào được nhận định ác tính.", "judgement", True)


def generate_vqa(report_or_text: Any, region: str = "whole") -> list[dict[str, Any]]:
    """Question/answer pairs (`question, answer, type, closed`) from a report, for one region.

    `region` is "whole" (the full study) or a region volume name ("head_neck", "chest",
    "abdomen_pelvis"): questions then only use findings and statements of that region.
    Deterministic: the same report always gives the same list in the same order.
    """
    if region not in REGION_NAMES:
        raise ReportError(f"unknown region {region!r}; expected one of {', '.join(REGION_NAMES)}")
    analysis = analyze_report(report_or_text)
    findings = [f for f in analysis.findings if _in_region(f, region)]
    statements = [s for s in analysis.statements if _statement_in_region(s, region)]
    pairs: list[dict[str, Any]] = [
        _qa("Hình ảnh PET/CT này thể hiện vùng cơ thể nào?", f"Hình ảnh thể hiện {REGION_NAMES[region]}.", "region", False)
    ]
    pairs += _physiological_questions(statements)
    pairs += _presence_questions(findings, statements)
    pairs += _finding_questions(findings)
    pairs += _node_questions(findings)
    pairs += _effusion_questions(findings, statements)
    pairs += _judgement_summary(findings)
    for st in statements:
        if st.polarity == "negative" and "toàn thân" in st.text.lower():
            pairs.append(
                _qa(
                    "Các vị trí khác trên PET/CT toàn thân có tổn thương tăng chuyển hóa FDG khu trú không?",
                    f"Không. {_capital(st.text)}",
                    "other_sites",
                    True,
                )
            )
            break
    unique: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        unique.setdefault(pair["question"], pair)
    return list(unique.values())


def to_llava(pairs: list[dict[str, Any]], image: str, sample_id: str) -> list[dict[str, Any]]:
    """LLaVA conversation records, one per question (`<image>` opens each human turn)."""
    return [
        {
            "id": f"{sample_id}_q{i:03d}",
            "image": image,
            "conversations": [
                {"from": "human", "value": f"<image>\n{p['question']}"},
                {"from": "gpt", "value": p["answer"]},
            ],
        }
        for i, p in enumerate(pairs)
    ]


def to_jsonl_records(pairs: list[dict[str, Any]], image: str, sample_id: str) -> list[dict[str, Any]]:
    """Flat records: `id, image, question, answer, type, closed`."""
    return [{"id": f"{sample_id}_q{i:03d}", "image": image, **p} for i, p in enumerate(pairs)]


def dumps_jsonl(records: list[dict[str, Any]]) -> str:
    """JSON Lines text (UTF-8, Vietnamese kept readable)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
