"""Ground-truth question/answer pairs of a synthetic study, derived from the planted findings.

Unlike VQA generated from report text, these answers come from the truth itself, so they can
check both a VQA model and the text-based VQA generator. Closed questions are answered with
"Có"/"Không" first (then the detail), as in the real VQA set; each pair names the region a
region-level model would need to see to answer it.
"""

from __future__ import annotations

import numpy as np

from vipet.schema import REGION_SECTIONS
from vipet.synth.lesions import Finding
from vipet.synth.phrasing import MALIGNANT, Style, format_suv, judgement_phrase, object_phrase, size_phrase
from vipet.synth.sites import MEDIASTINAL

_PLAIN = Style("hóa", "tỉ", ",", "SUVmax: ", False)
_PRESENCE = (
    ("Có tổn thương ở nhu mô phổi không?", "chest", lambda f: f.organ == "lung"),
    ("Có hạch trung thất tăng chuyển hóa FDG không?", "chest",
     lambda f: f.station in MEDIASTINAL and f.uptake != "none"),
    ("Có hạch rốn phổi tăng chuyển hóa FDG không?", "chest", lambda f: f.station == "hilar" and f.uptake != "none"),
    ("Có hạch thượng đòn không?", "head_neck", lambda f: f.station == "supraclavicular"),
    ("Có hạch nách tăng chuyển hóa FDG không?", "chest", lambda f: f.station == "axillary" and f.uptake != "none"),
    ("Có tổn thương ở gan không?", "abdomen_pelvis", lambda f: f.kind == "liver_lesion"),
    ("Có tổn thương xương tăng chuyển hóa FDG không?", "abdomen_pelvis",
     lambda f: f.kind == "bone_lesion" and f.uptake != "none"),
    ("Có dày màng phổi không?", "chest", lambda f: f.kind == "pleural_thickening"),
)


def _qa(question: str, answer: str, kind: str, closed: bool, region: str) -> dict:
    return {"question": question, "answer": answer, "type": kind, "closed": closed, "region": region}


def _describe(finding: Finding) -> str:
    return f"{object_phrase(finding)} ở {finding.site}"


def vqa_facts(findings: list[Finding], rng: np.random.Generator) -> list[dict]:
    """Question/answer pairs: region shown, physiological uptake, presence per site, effusion,
    and for each key finding its size, SUVmax, uptake and judgement; node stations; malignancy."""
    out: list[dict] = []
    for region in REGION_SECTIONS:
        out.append(_qa("Hình ảnh này thuộc vùng nào của cơ thể?", REGION_SECTIONS[region], "region", False, region))
    out.append(_qa("Não có bất thường chuyển hóa FDG không?", "Không. Hình ảnh bắt xạ ở não theo đặc điểm sinh lý.",
                   "physiological", True, "head_neck"))
    out.append(_qa("Tim có bắt xạ theo đặc điểm sinh lý không?", "Có. Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim.",
                   "physiological", True, "chest"))
    liver_avid = any(f.kind == "liver_lesion" and f.uptake != "none" for f in findings)
    out.append(_qa("Gan có bắt xạ theo đặc điểm sinh lý không?",
                   "Không, có tổn thương tăng chuyển hóa FDG ở gan." if liver_avid
                   else "Có. Hình ảnh bắt xạ theo đặc điểm sinh lý ở gan.", "physiological", True, "abdomen_pelvis"))
    for question, region, test in _PRESENCE:
        hits = [f for f in findings if test(f)]
        answer = "Có, " + "; ".join(_describe(f) for f in hits) + "." if hits else "Không."
        out.append(_qa(question, answer, "presence", True, region))
    effusions = [f for f in findings if f.kind == "pleural_effusion"]
    if effusions:
        sides = ", ".join(f"{f.site.split()[-1]} số lượng {f.amount}" for f in effusions)
        answer = f"Có, tràn dịch màng phổi {sides}."
    else:
        answer = "Không. Không phát hiện tràn dịch màng phổi hai bên."
    out.append(_qa("Có tràn dịch màng phổi không?", answer, "effusion", True, "chest"))
    for finding in findings:
        if finding.incidental or finding.kind == "pleural_effusion":
            continue
        what = _describe(finding)
        size = size_phrase(finding.size_mm, 0)
        if size:
            out.append(_qa(f"Kích thước của {what} là bao nhiêu?", size.replace("kích thước ", ""), "size", False,
                           finding.region))
        if finding.suv_max is not None:
            out.append(_qa(f"SUVmax của {what} là bao nhiêu?", format_suv(finding.suv_max, _PLAIN), "suv", False,
                           finding.region))
            level = "tăng nhẹ" if finding.uptake == "mild" else "tăng"
            out.append(_qa(f"{what[0].upper()}{what[1:]} có tăng chuyển hóa FDG không?",
                           f"Có, {level} chuyển hóa FDG (SUVmax: {format_suv(finding.suv_max, _PLAIN)}).", "uptake",
                           True, finding.region))
        else:
            out.append(_qa(f"{what[0].upper()}{what[1:]} có tăng chuyển hóa FDG không?",
                           "Không tăng chuyển hóa FDG.", "uptake", True, finding.region))
        phrase = judgement_phrase(finding, rng)
        if phrase:
            out.append(_qa(f"{what[0].upper()}{what[1:]} được nhận định như thế nào?", phrase[0].upper() + phrase[1:] + ".",
                           "judgement", False, finding.region))
    avid_nodes = [f for f in findings if f.kind == "lymph_node" and f.uptake != "none"]
    out.append(_qa("Những hạch tăng chuyển hóa FDG nằm ở đâu?",
                   ", ".join(f.site for f in avid_nodes) + "." if avid_nodes else "Không có hạch tăng chuyển hóa FDG.",
                   "node_station", False, "chest"))
    malignant = [f for f in findings if f.judgement in MALIGNANT]
    out.append(_qa("Có tổn thương nghi ngờ ác tính không?",
                   "Có, " + "; ".join(_describe(f) for f in malignant) + "." if malignant else "Không.",
                   "malignancy", True, "chest"))
    return out
