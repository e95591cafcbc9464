"""Phrase pieces shared by the report writer, the expert lesion list and the VQA facts.

Kept apart so the three always describe a finding with the same words: the size phrase of the
report is the size of the expert record, the judgement phrase of the impression is the answer of
the judgement question. Wording follows the real ViMed-PET reports (`data/real/reports.jsonl`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vipet.synth.lesions import Finding
from vipet.synth.sites import MEDIASTINAL

# Judgement code -> (impression phrases, expert "Giai đoạn chuyển hoá" value).
JUDGEMENT_PHRASES: dict[str, tuple[tuple[str, ...], str]] = {
    "primary_malignant": (("tương ứng với tổn thương ác tính nguyên phát", "nhiều khả năng ác tính",
                           "khả năng tổn thương ác tính nguyên phát"), "U nguyên phát"),
    "likely_malignant": (("nhiều khả năng ác tính", "khả năng ác tính"), "Khả năng ác tính"),
    "metastasis": (("khả năng di căn", "khả năng do metastases", "chưa loại trừ khả năng di căn"), "Khả năng di căn"),
    "lymphoma": (("tương ứng với bệnh u lympho ác tính", "nhiều khả năng ác tính (u lympho)"), "Khả năng ác tính"),
    "inflammatory": (("khả năng do viêm", "có thể do viêm"), "Khả năng do viêm"),
    "benign": (("khả năng lành tính", "lành tính"), "Lành tính"),
    "follow_up": (("cần lưu ý theo dõi", "nên lưu ý theo dõi"), "Cần lưu ý theo dõi"),
    "none": ((), "Không có"),
}
MALIGNANT = ("primary_malignant", "likely_malignant", "metastasis", "lymphoma")
UPTAKE_EXPERT = {"none": "Không tăng", "mild": "Tăng nhẹ", "high": "Cao"}


@dataclass(frozen=True)
class Style:
    """Per-report writing habits, drawn once per report so a report is internally consistent."""

    hoa: str  # "hóa" or "hoá"
    ti: str  # "tỉ" or "tỷ" (tỉ trọng)
    decimal: str  # "," or "."
    suv_label: str  # "SUVmax: ", "SUVmax:", "SUVmax; ", "SUVmax : "
    drop_zero: bool  # print 14 rather than 14,0

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "Style":
        labels = ("SUVmax: ", "SUVmax:", "SUVmax; ", "SUVmax : ")
        return cls(
            hoa="hoá" if rng.random() < 0.25 else "hóa",
            ti="tỷ" if rng.random() < 0.35 else "tỉ",
            decimal="." if rng.random() < 0.07 else ",",
            suv_label=labels[int(rng.choice(4, p=[0.85, 0.08, 0.04, 0.03]))],
            drop_zero=bool(rng.random() < 0.5),
        )

    def apply(self, text: str) -> str:
        """Spelling habits applied to a finished text (both spellings exist in the real cohort)."""
        text = text.replace("hóa", self.hoa)
        return text.replace("tỉ trọng", f"{self.ti} trọng")


def format_suv(value: float, style: Style) -> str:
    """`5,2` / `14` / `6,0` as the reports write SUVmax values."""
    text = f"{value:.1f}"
    if style.drop_zero and text.endswith(".0"):
        text = text[:-2]
    return text.replace(".", style.decimal)


def suv_parenthesis(value: float, style: Style) -> str:
    return f"({style.suv_label}{format_suv(value, style)})"


def size_phrase(size: tuple[int, int] | None, variant: int = 0) -> str | None:
    """`kích thước 18 x 21 mm`, `đường kính 9 mm` or `kích thước vài mm` (None when not measured)."""
    if size is None:
        return None
    a, b = size
    if max(a, b) <= 5:
        return "kích thước vài mm" if variant % 2 == 0 else "đường kính vài mm"
    if a == b:
        return f"đường kính {a} mm" if variant % 3 != 2 else f"kích thước {a} mm"
    return f"kích thước {a} x {b} mm"


def expert_size(finding: Finding) -> str:
    """Size field of the expert record, with the real records' spellings."""
    if finding.size_mm is None:
        return "Không có"
    a, b = finding.size_mm
    if max(a, b) <= 5:
        return "Vài mm"
    core = f"{a} mm" if a == b else f"{a} x {b} mm"
    if finding.kind == "lymph_node" and finding.count > 1:
        return f"hạch lớn nhất có kích thước {core}"
    return core if a != b else f"đường kính {a} mm"


def object_phrase(finding: Finding) -> str:
    """The noun phrase of a finding ("khối mờ, bờ tua gai", "vài hạch", "nốt giảm tỉ trọng", ...)."""
    kind, texture = finding.kind, finding.texture
    if kind == "lung_mass":
        return {"spiculated": "khối mờ, bờ tua gai", "lobulated": "khối mờ bờ đa cung"}.get(texture, "khối mờ")
    if kind == "lung_nodule":
        return {"spiculated": "nốt mờ, bờ tua gai", "calcified": "nốt vôi hóa"}.get(texture, "nốt mờ")
    if kind == "lung_ggo":
        return "nốt kính mờ" if finding.size_mm and max(finding.size_mm) < 15 else "đám kính mờ"
    if kind == "lymph_node":
        if finding.count == 1:
            return "hạch"
        return "nhiều hạch" if finding.count > 3 else "vài hạch"
    if kind == "pleural_thickening":
        return "dày màng phổi"
    if kind == "pleural_effusion":
        return "tràn dịch màng phổi"
    if kind == "liver_lesion":
        if texture == "cyst":
            return "nang gan"
        return "khối giảm tỉ trọng" if finding.size_mm and max(finding.size_mm) >= 30 else "nốt giảm tỉ trọng"
    if kind == "bone_lesion":
        return "tổn thương tiêu xương" if texture == "lytic" else ("nốt đặc xương" if finding.judgement == "benign" else "tổn thương đặc xương")
    return "tổn thương"


def expert_type(finding: Finding) -> str:
    obj = object_phrase(finding)
    if finding.kind == "pleural_effusion":
        return "Tràn dịch màng phổi"
    if finding.kind == "lymph_node" and finding.count > 1 and finding.station in MEDIASTINAL:
        obj += " trung thất"
    return f"Hình ảnh {obj}"


def uptake_phrase(finding: Finding, style: Style, with_value: bool, irregular: bool = False) -> str:
    """`tăng chuyển hóa FDG (SUVmax: 5,2)`, `tăng nhẹ chuyển hóa FDG`, `không tăng chuyển hóa FDG`."""
    if finding.uptake == "none" or finding.suv_max is None:
        return "không tăng chuyển hóa FDG"
    core = "tăng nhẹ chuyển hóa FDG" if finding.uptake == "mild" else "tăng chuyển hóa FDG"
    if irregular and finding.uptake == "high":
        core += " không đều"
    return f"{core} {suv_parenthesis(finding.suv_max, style)}" if with_value else core


def judgement_phrase(finding: Finding, rng: np.random.Generator) -> str:
    phrases = JUDGEMENT_PHRASES[finding.judgement][0]
    return str(phrases[int(rng.integers(0, len(phrases)))]) if phrases else ""


def expert_stage(finding: Finding) -> str:
    return JUDGEMENT_PHRASES[finding.judgement][1]


def expert_uptake(finding: Finding) -> str:
    return UPTAKE_EXPERT[finding.uptake]
