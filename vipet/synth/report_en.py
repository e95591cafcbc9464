"""English reports written from the same planted findings as the Vietnamese synthetic report.

The released cohort ships an English version of every report (`reports_en/`), and a model can be
trained and scored on either language. The English text here is not a translation of the
Vietnamese sentences but a second rendering of the same findings (the study's truth lesions):
every finding is stated in the same section, with the same size (or "a few mm" where the
Vietnamese says `vài mm`), the same SUVmax (one decimal, decimal point) and the same side and
organ, so `vipet.reports.consistency` finds the two versions in agreement by construction.

It draws no random numbers (the synthetic RNG streams are untouched): one wording per finding,
in plain radiology English. Layout: `{"Findings": {"Head - neck", "Chest", "Abdomen - pelvis",
"Musculoskeletal"}, "Impression"}`, one of the forms `vipet.reports.consistency` reads.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Mapping, Sequence

from vipet.schema import SECTION_KEYS, SECTION_REGIONS
from vipet.synth.report_writer import _sort_key

FINDINGS = "Findings"
IMPRESSION = "Impression"
SECTION_TITLES_EN: dict[str, str] = {"head_neck": "Head - neck", "chest": "Chest",
                                     "abdomen_pelvis": "Abdomen - pelvis", "musculoskeletal": "Musculoskeletal"}
SIDE_EN = {"right": "right", "left": "left", "bilateral": "bilateral"}
LOBE_EN = {"upper": "upper", "middle": "middle", "lower": "lower"}
STATION_EN = {
    "cervical_II": "level II cervical", "cervical_III": "level III cervical", "supraclavicular": "supraclavicular",
    "axillary": "axillary", "prevascular": "prevascular mediastinal", "pretracheal": "pretracheal mediastinal",
    "right_paratracheal": "lower right paratracheal mediastinal", "aortopulmonary": "aortopulmonary window",
    "subaortic": "subaortic mediastinal", "subcarinal": "subcarinal", "hilar": "hilar",
    "para_aortic": "para-aortic", "inguinal": "inguinal",
}
INVASION_EN = {
    "dính vào màng phổi thành sau": "abutting the posterior parietal pleura",
    "dính vào rãnh liên thùy": "abutting the interlobar fissure",
    "xâm lấn rốn phổi": "invading the pulmonary hilum",
    "dính vào màng phổi trung thất": "abutting the mediastinal pleura",
    "dính vào màng phổi thành bên": "abutting the lateral parietal pleura",
    "xâm lấn vào thành ngực": "invading the chest wall",
}
AMOUNT_EN = {"ít": "small", "vừa": "moderate", "nhiều": "large"}
JUDGEMENT_EN = {
    "primary_malignant": "consistent with a primary malignancy", "likely_malignant": "likely malignant",
    "metastasis": "likely metastatic", "lymphoma": "consistent with lymphoma", "inflammatory": "likely inflammatory",
    "benign": "likely benign", "follow_up": "follow-up is advised", "none": "",
}
NORMAL_IMPRESSION = "No focal abnormal FDG uptake on whole-body PET/CT."
NO_OTHER = "No focal abnormal FDG uptake elsewhere on whole-body PET/CT."


def _get(lesion: Any, name: str) -> Any:
    return lesion.get(name) if isinstance(lesion, Mapping) else getattr(lesion, name, None)


def site_en(lesion: Any) -> str:
    """The English location of a finding, from its structured truth (kind, side, lobe, station)."""
    kind, side, site = _get(lesion, "kind"), _get(lesion, "side"), str(_get(lesion, "site") or "")
    if kind in ("lung_mass", "lung_nodule", "lung_ggo"):
        depth = "peripheral " if site.startswith("ngoại vi") else ("central " if site.startswith("trung tâm") else "")
        return f"the {depth}{LOBE_EN[_get(lesion, 'lobe')]} lobe of the {SIDE_EN[side]} lung"
    if kind == "lymph_node":
        station = _get(lesion, "station")
        if _get(lesion, "incidental") and station in ("cervical_II", "axillary", "inguinal"):
            return f"both {'sides of the neck' if station == 'cervical_II' else STATION_EN[station] + ' fossae'}"
        where = STATION_EN[station]
        return f"the {SIDE_EN[side]} {where} region" if side in ("right", "left", "bilateral") else f"the {where} region"
    if kind == "pleural_effusion":
        return f"the {SIDE_EN[side]} pleural space"
    if kind == "pleural_thickening":
        wall = "posterior" if "thành sau" in site else "lateral"
        return f"the {wall} {SIDE_EN[side]} pleura"
    if kind == "liver_lesion":
        if site == "gan trái":
            return "the left lobe of the liver"
        segment = site.split()[3] if site.startswith("hạ phân thùy") else ""
        return f"segment {segment} of the right lobe of the liver" if segment else "the liver"
    if kind == "bone_lesion":
        code = _get(lesion, "lobe")
        if site.startswith("cánh chậu"):
            return f"the {SIDE_EN[side] if side in SIDE_EN else ('right' if site.endswith('phải') else 'left')} iliac wing"
        if site == "xương cùng":
            return "the sacrum"
        if code:
            return f"the {vertebra_en(str(code))} vertebral body"
    return "an unspecified site"


def vertebra_en(code: str) -> str:
    """`D7` (Vietnamese dorsal) -> `T7`; C and L stay."""
    return ("T" + code[1:]) if code.startswith("D") else code


def size_en(size_mm: Sequence[int] | None) -> str | None:
    """`measuring 18 x 21 mm`, `9 mm in diameter` or `a few mm in size` (the Vietnamese rule of vài mm)."""
    if not size_mm:
        return None
    a, b = int(size_mm[0]), int(size_mm[1])
    if max(a, b) <= 5:
        return "a few mm in size"
    if a == b:
        return f"{a} mm in diameter"
    return f"measuring {a} x {b} mm"


def uptake_en(lesion: Any, with_value: bool = True) -> str:
    """`with increased FDG uptake (SUVmax 5.2)`, `with mildly increased FDG uptake`, `without increased FDG uptake`."""
    suv, uptake = _get(lesion, "suv_max"), _get(lesion, "uptake")
    if uptake == "none" or suv is None:
        return "without increased FDG uptake"
    core = "with mildly increased FDG uptake" if uptake == "mild" else "with increased FDG uptake"
    return f"{core} (SUVmax {float(suv):.1f})" if with_value else core


def object_en(lesion: Any) -> str:
    """The noun phrase of a finding ("a spiculated mass", "several nodes", "a hypodense lesion", ...)."""
    kind, texture, count = _get(lesion, "kind"), _get(lesion, "texture"), int(_get(lesion, "count") or 1)
    size = _get(lesion, "size_mm")
    if kind == "lung_mass":
        return {"spiculated": "a spiculated mass", "lobulated": "a lobulated mass"}.get(texture, "a mass")
    if kind == "lung_nodule":
        return {"spiculated": "a spiculated nodule", "calcified": "a calcified nodule"}.get(texture, "a nodule")
    if kind == "lung_ggo":
        return "a ground-glass nodule" if size and max(size) < 15 else "a ground-glass opacity"
    if kind == "lymph_node":
        return "a lymph node" if count == 1 else ("multiple lymph nodes" if count > 3 else "several lymph nodes")
    if kind == "liver_lesion":
        if texture == "cyst":
            return "a hepatic cyst"
        return "a hypodense mass" if size and max(size) >= 30 else "a hypodense nodule"
    if kind == "bone_lesion":
        return "a lytic lesion" if texture == "lytic" else (
            "a sclerotic focus" if _get(lesion, "judgement") == "benign" else "a sclerotic lesion")
    return "a lesion"


def finding_sentence_en(lesion: Any) -> str:
    """The findings-section sentence of one finding, SUVmax included (once, as in Vietnamese)."""
    kind = _get(lesion, "kind")
    site = site_en(lesion)
    if kind == "pleural_effusion":
        return f"{AMOUNT_EN.get(_get(lesion, 'amount'), 'small').capitalize()} pleural effusion in {site}, without increased FDG uptake."
    if kind == "pleural_thickening":
        return f"Thickening of {site} {uptake_en(lesion)}."
    size = size_en(_get(lesion, "size_mm"))
    if kind == "lymph_node" and _get(lesion, "incidental") and _get(lesion, "station") in ("cervical_II", "axillary", "inguinal"):
        d = int(_get(lesion, "size_mm")[0]) if _get(lesion, "size_mm") else 10
        return f"A few small lymph nodes of {d} mm in {site}, without increased FDG uptake."
    obj = object_en(lesion)
    if kind == "lymph_node" and int(_get(lesion, "count") or 1) > 1:
        size = f"the largest {size}" if size else None
    invasion = INVASION_EN.get(str(_get(lesion, "invasion") or ""), "")
    parts = [f"{obj[0].upper()}{obj[1:]} in {site}", size, invasion, uptake_en(lesion)]
    return ", ".join(p for p in parts[:-1] if p) + f", {parts[-1]}."


def impression_sentence_en(lesion: Any) -> str:
    """One finding restated without its SUVmax, closed by its judgement."""
    kind = _get(lesion, "kind")
    if kind == "pleural_effusion":
        return f"{AMOUNT_EN.get(_get(lesion, 'amount'), 'small').capitalize()} {SIDE_EN[_get(lesion, 'side')]} pleural effusion."
    obj = object_en(lesion)
    if kind == "pleural_thickening":
        core = f"Thickening of {site_en(lesion)} {uptake_en(lesion, with_value=False)}"
    else:
        size = size_en(_get(lesion, "size_mm"))
        if kind == "lymph_node" and int(_get(lesion, "count") or 1) > 1 and size:
            size = f"the largest {size}"
        core = ", ".join(p for p in (f"{obj[0].upper()}{obj[1:]} in {site_en(lesion)}", size) if p)
        core += f", {uptake_en(lesion, with_value=False)}"
    judgement = JUDGEMENT_EN.get(str(_get(lesion, "judgement")), "")
    if _get(lesion, "judgement") == "follow_up":
        return f"{core}; {judgement}."
    return f"{core}, {judgement}." if judgement else f"{core}."


def english_report(lesions: Sequence[Any]) -> dict[str, Any]:
    """The English report JSON of a study from its findings (truth lesion dicts or `Finding`s)."""
    by_section: dict[str, list[tuple[int, Any]]] = {k: [] for k in SECTION_KEYS}
    for i, lesion in enumerate(lesions):
        by_section[str(_get(lesion, "section"))].append((i, lesion))
    for items in by_section.values():
        items.sort(key=lambda item: _sort_key((item[0], SimpleNamespace(kind=_get(item[1], "kind"),
                                                                          station=_get(item[1], "station")))))
    text = {k: [finding_sentence_en(f) for _, f in items] for k, items in by_section.items()}
    head = ["Physiological FDG uptake in the brain.", *text[SECTION_REGIONS["head_neck"]]]
    chest_items = [f for _, f in by_section[SECTION_REGIONS["chest"]]]
    chest = ["Physiological FDG uptake in the heart.", *text[SECTION_REGIONS["chest"]]]
    if not any(_get(f, "kind") == "pleural_effusion" for f in chest_items):
        chest.append("No pleural or pericardial effusion.")
    if not any(_get(f, "organ") == "lung" and _get(f, "uptake") != "none" for f in chest_items):
        chest.append("No focal abnormal FDG uptake in the lung parenchyma.")
    abdomen = ["Physiological FDG uptake in the liver, spleen, adrenal glands and renal collecting systems.",
               *text[SECTION_REGIONS["abdomen_pelvis"]]]
    bones = list(text[SECTION_REGIONS["musculoskeletal"]])
    bones.append("No other abnormal FDG uptake in the musculoskeletal system." if bones
                 else "No abnormal FDG uptake in the musculoskeletal system.")
    sections = {"head_neck": head, "chest": chest, "abdomen_pelvis": abdomen, "musculoskeletal": bones}
    return {FINDINGS: {SECTION_TITLES_EN[r]: " ".join(v) for r, v in sections.items()},
            IMPRESSION: write_impression_en(lesions)}


def write_impression_en(lesions: Sequence[Any]) -> str:
    """Key (non-incidental) findings, most serious first, as the Vietnamese impression orders them."""
    key = [f for f in lesions if not _get(f, "incidental")]
    if not key:
        return NORMAL_IMPRESSION
    rank = {"primary_malignant": 0, "lymphoma": 1, "metastasis": 2, "likely_malignant": 3, "none": 4,
            "inflammatory": 5, "follow_up": 6, "benign": 7}
    order = {"lung_mass": 0, "lung_nodule": 1, "lung_ggo": 2, "lymph_node": 3, "pleural_thickening": 4,
             "liver_lesion": 5, "bone_lesion": 6, "pleural_effusion": 7}
    ordered = sorted(enumerate(key), key=lambda item: (rank[str(_get(item[1], "judgement"))],
                                                       order[str(_get(item[1], "kind"))], item[0]))
    return " ".join([*(impression_sentence_en(f) for _, f in ordered), NO_OTHER])
