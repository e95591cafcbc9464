"""Vietnamese PET/CT reports written from planted findings, in the real cohort's style.

Findings are described head to feet in the four region sections, between the routine
physiological sentences every real report carries (`Hình ảnh bắt xạ theo đặc điểm sinh lý ở
não.`), then the impression restates the key findings with a judgement. Templates are the real
ones (see `data/real/reports.jsonl`); the seed picks among their variants so a lexicon-based
extractor trained on real text recovers every fact, and a model cannot win by memorising one form.
"""

from __future__ import annotations

import numpy as np

from vipet.schema import ABDOMEN_PELVIS, CHEST, HEAD_NECK, MUSCULOSKELETAL, SECTION_KEYS, Lesion, Report
from vipet.synth.lesions import ROUTINE_SITES, Finding
from vipet.synth.phrasing import (
    Style, expert_size, expert_stage, expert_type, expert_uptake, judgement_phrase, object_phrase,
    size_phrase, uptake_phrase,
)
from vipet.synth.sites import MEDIASTINAL

NO_OTHER = "Chưa phát hiện hình ảnh tăng chuyển hóa FDG khu trú, bất thường tại các vị trí khác trên xạ hình PET/CT toàn thân."
NORMAL_IMPRESSION = "Chưa phát hiện hình ảnh tăng chuyển hóa FDG khu trú, bất thường trên xạ hình PET/CT toàn thân."


def _pick(rng: np.random.Generator, options: list[str] | tuple[str, ...]) -> str:
    return str(options[int(rng.integers(0, len(options)))])


def routine_sentence(finding: Finding, rng: np.random.Generator) -> str:
    """The fixed sentences real reports use for small bilateral reactive nodes."""
    d = finding.size_mm[0] if finding.size_mm else 10
    if finding.station == "cervical_II":
        return (f"Hình ảnh vài hạch ở góc hàm và phía trong cơ ức đòn chũm (nhóm IIB) hai bên, kích thước nhỏ {d} mm, "
                "không tăng chuyển hóa FDG khả năng do viêm hoặc quá sản.")
    if finding.station == "axillary":
        return _pick(rng, [f"Hình ảnh vài hạch nách nhỏ ( {d} mm) ở hố nách hai bên, không tăng chuyển hóa FDG.",
                           f"Hình ảnh vài hạch nách, kích thước {d} mm, không tăng chuyển hóa FDG ở hố nách hai bên."])
    return _pick(rng, [f"Hình ảnh vài hạch bẹn, kích thước {d} mm, không tăng chuyển hóa FDG ở hố bẹn hai bên.",
                       f"Hình ảnh vài hạch bẹn, kích thước {d}mm, không tăng chuyển hóa FDG ở hố bẹn hai bên."])


def finding_sentence(finding: Finding, style: Style, rng: np.random.Generator) -> str:
    """The findings-section sentence of one finding, SUVmax included."""
    if finding.incidental and finding.station in ROUTINE_SITES:
        return routine_sentence(finding, rng)
    kind = finding.kind
    obj = object_phrase(finding)
    size = size_phrase(finding.size_mm, int(rng.integers(0, 6)))
    uptake = uptake_phrase(finding, style, with_value=True, irregular=kind == "lung_mass" and rng.random() < 0.4)
    inv = f", {finding.invasion}" if finding.invasion else ""
    site = finding.site
    soft = ""
    if finding.judgement in ("inflammatory", "benign") and rng.random() < 0.5:
        soft = " " + judgement_phrase(finding, rng)
    if kind in ("lung_mass", "lung_nodule", "lung_ggo"):
        return _pick(rng, [f"Hình ảnh {obj}, {size}, {uptake} ở {site}{inv}{soft}.",
                           f"Hình ảnh {obj} có {size} ở {site}{inv}, {uptake}{soft}.",
                           f"Hình ảnh {obj} ở {site}, {size}{inv}, {uptake}{soft}."])
    if kind == "lymph_node":
        if finding.count == 1:
            return _pick(rng, [f"Hình ảnh hạch {site}, {size}, {uptake}{soft}.",
                               f"Hình ảnh hạch {site} có {size}, {uptake}{soft}.",
                               f"Hình ảnh hạch có {size}, {uptake} ở {site}{soft}."])
        where = f"trung thất ở {site}" if finding.station in MEDIASTINAL and rng.random() < 0.4 else f"ở {site}"
        return _pick(rng, [f"Hình ảnh {obj} {where}, hạch lớn nhất có {size}, {uptake}{soft}.",
                           f"Hình ảnh {obj} {where} (hạch lớn nhất có {size}), {uptake}{soft}."])
    if kind == "pleural_effusion":
        side = finding.site.split()[-1]
        return _pick(rng, [f"Tràn dịch màng phổi bên {side} số lượng {finding.amount}.",
                           f"Hình ảnh tràn dịch màng phổi {side} mức độ {finding.amount}, không tăng chuyển hóa FDG."])
    if kind == "pleural_thickening":
        return f"Hình ảnh dày {site}, {uptake}{soft}."
    if kind == "liver_lesion":
        return _pick(rng, [f"Hình ảnh {obj} có {size} ở {site}, {uptake}{soft}.",
                           f"Hình ảnh {obj}, {size}, {uptake} ở {site}{soft}."])
    return _pick(rng, [f"Hình ảnh {obj} ở {site}, {size}, {uptake}{soft}.",
                       f"Hình ảnh {obj}, {size}, {uptake} ở {site}{soft}."])


_ORDER = {"lung_mass": 0, "lung_nodule": 1, "lung_ggo": 2, "lymph_node": 3, "pleural_thickening": 4,
          "liver_lesion": 5, "bone_lesion": 6, "pleural_effusion": 7}
_STATION_ORDER = ("cervical_II", "cervical_III", "supraclavicular", "hilar", "prevascular", "pretracheal",
                  "right_paratracheal", "aortopulmonary", "subaortic", "subcarinal", "axillary", "para_aortic", "inguinal")


def _sort_key(item: tuple[int, Finding]) -> tuple[int, int, int]:
    index, f = item
    station = _STATION_ORDER.index(f.station) if f.station in _STATION_ORDER else 0
    return (_ORDER[f.kind], station, index)


def write_report(findings: list[Finding], rng: np.random.Generator) -> tuple[Report, dict[int, str], Style]:
    """(report, findings-section sentence of each finding by index, style used)."""
    style = Style.draw(rng)
    sentences = {i: finding_sentence(f, style, rng) for i, f in enumerate(findings)}
    by_section: dict[str, list[tuple[int, Finding]]] = {k: [] for k in SECTION_KEYS}
    for i, f in enumerate(findings):
        by_section[f.section].append((i, f))
    for items in by_section.values():
        items.sort(key=_sort_key)
    text = {k: [sentences[i] for i, _ in by_section[k]] for k in SECTION_KEYS}

    head = ["Hình ảnh bắt xạ theo đặc điểm sinh lý ở não."]
    if rng.random() < 0.95:
        head.append("Tăng nhẹ chuyển hóa FDG ở amydal, rìa lưỡi hai bên theo đặc điểm sinh lý.")
    head += text[HEAD_NECK]

    chest_items = by_section[CHEST]
    effusions = [sentences[i] for i, f in chest_items if f.kind == "pleural_effusion"]
    chest = ["Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim."]
    if effusions:
        chest += effusions + ["Không phát hiện hình ảnh tràn dịch màng tim."]
    else:
        chest.append("Không phát hiện hình ảnh tràn dịch màng phổi hai bên và tràn dịch màng tim.")
    axillary = [sentences[i] for i, f in chest_items if f.station == "axillary"]
    chest += [sentences[i] for i, f in chest_items if f.kind != "pleural_effusion" and f.station != "axillary"]
    lung_avid = any(f.organ == "lung" and f.uptake != "none" for _, f in chest_items)
    lung_any = any(f.organ == "lung" for _, f in chest_items)
    if not lung_avid and (not lung_any or rng.random() < 0.7):
        chest.append(_pick(rng, [
            "Chưa phát hiện hình ảnh tăng chuyển hóa FDG khu trú, bất thường tại nhu mô hai phổi.",
            "Không phát hiện hình ảnh tăng chuyển hóa FDG khu trú, bất thường ở nhu mô phổi hai bên.",
            "Không phát hiện hình ảnh tăng chuyển hóa FDG khu trú, bất thường ở nhu mô phổi 2 bên."]))
    chest += axillary

    abd_items = by_section[ABDOMEN_PELVIS]
    liver_avid = any(f.kind == "liver_lesion" and f.uptake != "none" for _, f in abd_items)
    organs = "lách" if liver_avid else "gan, lách"
    abdomen = [f"Hình ảnh bắt xạ theo đặc điểm sinh lý ở {organs}, thượng thận và đài bể thận 2 bên."]
    abdomen += [sentences[i] for i, f in abd_items if f.station != "inguinal"]
    if rng.random() < 0.9:
        abdomen.append("Hình ảnh tăng chuyển hóa FDG ở khung đại tràng theo đặc điểm sinh lý.")
    abdomen += [sentences[i] for i, f in abd_items if f.station == "inguinal"]

    bones = list(text[MUSCULOSKELETAL])
    bones.append("Chưa phát hiện hình ảnh tăng chuyển hóa FDG bất thường khác ở hệ thống cơ xương." if bones
                 else "Chưa phát hiện hình ảnh tăng chuyển hóa FDG bất thường ở hệ thống cơ xương.")

    sections = {HEAD_NECK: head, CHEST: chest, ABDOMEN_PELVIS: abdomen, MUSCULOSKELETAL: bones}
    report = Report(
        sections={k: style.apply(" ".join(v)) for k, v in sections.items()},
        impression=style.apply(write_impression(findings, rng)),
    )
    return report, {i: style.apply(s) for i, s in sentences.items()}, style


def impression_sentence(finding: Finding, rng: np.random.Generator) -> str:
    """One finding restated without its SUVmax, closed by its judgement."""
    obj = object_phrase(finding)
    if finding.kind == "pleural_effusion":
        return f"Tràn dịch màng phổi {finding.site.split()[-1]} số lượng {finding.amount}."
    size = size_phrase(finding.size_mm, 0)
    uptake = uptake_phrase(finding, Style("hóa", "tỉ", ",", "SUVmax: ", False), with_value=False)
    if finding.kind == "pleural_thickening":
        core = f"Hình ảnh dày {finding.site}, {uptake}"
    elif finding.kind == "lymph_node" and finding.count > 1:
        core = f"Hình ảnh {obj} ở {finding.site}, hạch lớn nhất có {size}, {uptake}"
    elif finding.kind == "lymph_node":
        core = f"Hình ảnh hạch {finding.site}, {size}, {uptake}"
    else:
        core = f"Hình ảnh {obj}, {size} ở {finding.site}" + (f", {finding.invasion}" if finding.invasion else "")
        core += f", {uptake}"
    phrase = judgement_phrase(finding, rng)
    if finding.judgement == "follow_up":
        return f"{core}. {phrase[0].upper()}{phrase[1:]}."
    return f"{core} {phrase}." if phrase else f"{core}."


def write_impression(findings: list[Finding], rng: np.random.Generator) -> str:
    key = [f for f in findings if not f.incidental]
    if not key:
        return NORMAL_IMPRESSION
    rank = {"primary_malignant": 0, "lymphoma": 1, "metastasis": 2, "likely_malignant": 3, "none": 4,
            "inflammatory": 5, "follow_up": 6, "benign": 7}
    ordered = sorted(enumerate(key), key=lambda item: (rank[item[1].judgement], _ORDER[item[1].kind], item[0]))
    parts: list[str] = []
    for _, finding in ordered:
        parts.append(impression_sentence(finding, rng))
        if finding.judgement == "primary_malignant" and rng.random() < 0.6:
            parts.append(_pick(rng, ["Cần đối chiếu với kết quả mô bệnh học.", "Đối chiếu với kết quả mô bệnh học."]))
    if rng.random() < 0.85:
        parts.append(NO_OTHER)
    return " ".join(parts)


def expert_lesion(finding: Finding) -> dict:
    """The six-key expert record of a finding (`vipet.schema.Lesion.to_expert`)."""
    invasion = finding.invasion[0].upper() + finding.invasion[1:] if finding.invasion else "Không có"
    return Lesion(
        size=expert_size(finding),
        type=expert_type(finding),
        location=finding.site,
        suv_max=finding.suv_max,
        uptake=expert_uptake(finding),
        invasion=invasion,
        stage=expert_stage(finding),
    ).to_expert()

