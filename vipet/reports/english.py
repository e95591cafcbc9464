"""English reports: split by image region, and the lesion facts a translation must keep.

The English version of a report (`reports_en/`, any form `english_sections` below
accepts) is trained and scored per region like the Vietnamese one (`vipet.reports.regions`): each
image region reads its section, and each musculoskeletal sentence goes to the region its bone names
(cervical spine -> head_neck; thoracic spine, ribs, sternum -> chest; lumbar spine, sacrum, pelvis,
iliac bones -> abdomen_pelvis), or to every region when it names none.

`english_lesions` reads the facts the consistency check compares with the Vietnamese version: one
`LesionFacts` per findings sentence that states a size or an SUVmax, with the organ class and
side of the site (`site_key`), the size in mm (cm converted) and the SUVmax. The Vietnamese side
(`vietnamese_lesions`) reads the same facts from Vietnamese sentences, so the two lists compare
directly: the organ words of each language map to one shared class.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from vipet.reports.normalize import normalize_text
from vipet.reports.segment import split_sentences
from vipet.reports.spans import SIZE, SUV, dims_mm
from vipet.schema import FINDINGS_KEY, IMAGE_REGIONS, SECTION_REGIONS, WHOLE, Report

_BONE_REGIONS_EN = (
    ("head_neck", re.compile(r"\b(?:cervical (?:spine|vertebra\w*)|skull|mandible|C\d{1,2})\b", re.IGNORECASE)),
    ("chest", re.compile(r"\b(?:thoracic (?:spine|vertebra\w*)|ribs?|sternum|scapula\w*|clavicle\w*|T\d{1,2})\b",
                         re.IGNORECASE)),
    ("abdomen_pelvis", re.compile(r"\b(?:lumbar (?:spine|vertebra\w*)|sacrum|sacral|pelvis|pelvic|iliac|ilium|"
                                  r"femur|femoral|L\d)\b", re.IGNORECASE)),
)
_EN_SUV = re.compile(r"suv\s*max\s*(?:value\s*)?(?:of\s*)?[:;=]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_EN_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?(?:\s*[x×]\s*\d+(?:\.\d+)?)*)\s*(mm|cm)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Organ classes: (class, English words, Vietnamese words); a sentence is of the class it names first.
ORGAN_CLASSES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("node", ("lymph node", "node"), ("hạch",)),
    ("pleura", ("pleura", "pleural"), ("màng phổi",)),
    ("lung", ("lung",), ("phổi",)),
    ("liver", ("liver", "hepatic"), ("gan",)),
    ("bone", ("vertebra", "vertebral", "iliac", "sacrum", "bone", "rib", "sternum"), ("xương", "đốt sống", "cánh chậu", "xương cùng")),
)
_SIDES = (("bilateral", ("bilateral", "both"), ("hai bên", "2 bên")), ("right", ("right",), ("phải",)),
          ("left", ("left",), ("trái",)))


@dataclass(frozen=True)
class LesionFacts:
    """What one findings sentence states about a lesion, in a form both languages share."""

    region: str  # section region key (head_neck, chest, abdomen_pelvis, musculoskeletal)
    organ: str | None  # ORGAN_CLASSES class
    side: str | None  # right | left | bilateral | None
    size_mm: tuple[float, ...] | None  # sorted dimensions, one decimal
    suv_max: float | None
    sentence: str

    @property
    def site_key(self) -> tuple[str | None, str | None]:
        return self.organ, self.side

    def key(self) -> tuple[Any, ...]:
        """What must be equal across languages: site class, side, size and SUVmax."""
        return self.organ, self.side, self.size_mm, self.suv_max


_REGION_WORDS = (("head_neck", ("head", "neck")), ("chest", ("chest", "thorax", "thoracic", "lung")),
                 ("abdomen_pelvis", ("abdomen", "pelvis", "abdominal")),
                 ("musculoskeletal", ("musculoskeletal", "bone", "muscle", "skeletal")))


def english_sections(obj: Any) -> tuple[dict[str, str], str]:
    """(region key -> text, whole text) of an English report in any accepted form (module docstring)."""
    if isinstance(obj, Report):
        sections = {region: obj.sections.get(title, "") for region, title in SECTION_REGIONS.items()}
        return sections, obj.full_text()
    if not isinstance(obj, dict):
        return {}, str(obj or "")
    if FINDINGS_KEY in obj:
        return english_sections(Report.from_json(obj))
    folded = {str(k).strip().lower(): v for k, v in obj.items()}
    findings = next((folded[k] for k in ("findings", "description", "image description") if k in folded), None)
    impression = next((folded[k] for k in ("impression", "conclusion") if k in folded), "")
    sections: dict[str, str] = {}
    if isinstance(findings, dict):
        for name, text in findings.items():
            region = _region_of(str(name))
            if region is not None and isinstance(text, str):
                sections[region] = (sections.get(region, "") + " " + text).strip()
    elif isinstance(findings, str):
        return {}, " ".join(p for p in (findings, impression if isinstance(impression, str) else "") if p)
    if not sections and isinstance(folded.get("text"), str):
        return {}, folded["text"]
    whole = " ".join([*sections.values(), impression if isinstance(impression, str) else ""]).strip()
    return sections, whole


def _region_of(name: str) -> str | None:
    low = name.lower()
    for region, words in _REGION_WORDS:
        if any(word in low for word in words):
            return region
    return None


def _round(value: float) -> float:
    return round(float(value) + 0.0, 1)


def english_region_sections(obj: Any) -> tuple[dict[str, str], str]:
    """(section region -> text, impression) of an English report in any accepted form."""
    sections, _ = english_sections(obj)
    if isinstance(obj, dict) and FINDINGS_KEY in obj:  # the Vietnamese layout, English text
        obj = Report.from_json(obj)
    if isinstance(obj, Report):
        return sections, obj.impression.strip()
    impression = ""
    if isinstance(obj, dict):
        folded = {str(k).strip().lower(): v for k, v in obj.items()}
        value = next((folded[k] for k in ("impression", "conclusion") if k in folded), "")
        impression = value if isinstance(value, str) else ""
    return sections, impression.strip()


def bone_regions_en(sentence: str) -> set[str]:
    """Image regions an English musculoskeletal sentence names; empty when it names no bone of a region."""
    return {region for region, pattern in _BONE_REGIONS_EN if pattern.search(sentence)}


def split_english_report(obj: Any) -> dict[str, str]:
    """Region -> training text of an English report: `whole` (findings then impression), the image
    regions (their section plus their musculoskeletal sentences), and `impression`.

    A report without region sections (`{"text": ...}`) gives its text as `whole` and empty regions:
    a region sample is never trained on another region's findings.
    """
    sections, impression = english_region_sections(obj)
    if not sections:
        whole = english_sections(obj)[1].strip()
        return {WHOLE: whole, "impression": impression, **{r: "" for r in IMAGE_REGIONS}}
    bones: dict[str, list[str]] = {region: [] for region in IMAGE_REGIONS}
    for sentence in split_sentences(sections.get("musculoskeletal", "").strip()):
        named = bone_regions_en(sentence) or set(IMAGE_REGIONS)
        for region in IMAGE_REGIONS:
            if region in named:
                bones[region].append(sentence)
    out = {WHOLE: " ".join(p for p in [*(sections.get(r, "").strip() for r in SECTION_REGIONS), impression] if p),
           "impression": impression}
    for region in IMAGE_REGIONS:
        out[region] = " ".join(p for p in [sections.get(region, "").strip(), *bones[region]] if p)
    return out


def _classify(low: str, column: int) -> str | None:
    """The organ class named first in the sentence (a longer word wins at one place: `màng phổi` over
    `phổi`), so a lung mass "abutting the pleura" stays a lung lesion and a pleural thickening a pleural one."""
    best: tuple[int, int, str] | None = None
    for name, en_words, vi_words in ORGAN_CLASSES:
        for word in en_words if column == 0 else vi_words:
            if m := re.search(rf"(?<!\w){re.escape(word)}s?(?!\w)", low):
                candidate = (m.start(), -len(word), name)
                best = candidate if best is None or candidate < best else best
    return best[2] if best else None


def _side(low: str, column: int) -> str | None:
    for name, en_words, vi_words in _SIDES:
        words = en_words if column == 0 else vi_words
        if any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", low) for w in words):
            return name
    return None


def english_sentence_facts(sentence: str, region: str) -> LesionFacts | None:
    """The facts of one English findings sentence, None when it states neither a size nor an SUVmax."""
    suvs = [_round(float(m.group(1))) for m in _EN_SUV.finditer(sentence)]
    sizes = []
    for m in _EN_SIZE.finditer(sentence):
        scale = 10.0 if m.group(2).lower() == "cm" else 1.0
        sizes.append(tuple(sorted(_round(float(n) * scale) for n in _NUMBER.findall(m.group(1)))))
    if not suvs and not sizes:
        return None
    low = sentence.lower()
    return LesionFacts(region, _classify(low, 0), _side(low, 0), sizes[0] if sizes else None,
                       suvs[0] if suvs else None, sentence)


def vietnamese_sentence_facts(sentence: str, region: str) -> LesionFacts | None:
    """The same facts of one Vietnamese findings sentence (decimal comma, `kích thước 18 x 21 mm`)."""
    low = normalize_text(unicodedata.normalize("NFC", sentence)).lower()
    suvs = [_round(float(m.group(1).replace(",", "."))) for m in SUV.finditer(low)]
    sizes = [tuple(sorted(_round(d) for d in dims)) for m in SIZE.finditer(low) if (dims := dims_mm(m.group("value")))]
    if not suvs and not sizes:
        return None
    return LesionFacts(region, _classify(low, 1), _side(low, 1), sizes[0] if sizes else None,
                       suvs[0] if suvs else None, sentence)


def english_lesions(obj: Any) -> list[LesionFacts]:
    """Lesion facts of every findings sentence of an English report (impression left out: it restates)."""
    sections, _ = english_region_sections(obj)
    facts = []
    for region in SECTION_REGIONS:
        for sentence in split_sentences(sections.get(region, "").strip()):
            if (fact := english_sentence_facts(sentence, region)) is not None:
                facts.append(fact)
    return facts


def vietnamese_lesions(report: Report) -> list[LesionFacts]:
    """Lesion facts of every findings sentence of a Vietnamese report."""
    facts = []
    for region, title in SECTION_REGIONS.items():
        for sentence in split_sentences(unicodedata.normalize("NFC", report.sections.get(title, "")).strip()):
            if (fact := vietnamese_sentence_facts(sentence, region)) is not None:
                facts.append(fact)
    return facts
