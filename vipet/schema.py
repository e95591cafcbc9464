"""The vocabulary every layer speaks: report and lesion formats, section titles, region names.

This is the bottom of the package (only `vipet.errors` is below it), so the readers in `io/`,
the image code in `imaging/`, the report toolkit and the models all import one definition
instead of retyping it. `Report` mirrors the ViMed-PET JSON (four region sections plus the
impression). `Lesion` mirrors the six-field expert format of the clinical test set, so
extracted, synthetic and expert lesions are compared field for field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vipet.errors import ReportError

IMPRESSION_KEY = "Nhận định kết quả"
FINDINGS_KEY = "Mô tả hình ảnh"
HEAD_NECK = "Đầu - cổ"
CHEST = "Lồng ngực"
ABDOMEN_PELVIS = "Ổ bụng - khung chậu"
MUSCULOSKELETAL = "Hệ cơ - xương"
SECTION_KEYS: tuple[str, ...] = (HEAD_NECK, CHEST, ABDOMEN_PELVIS, MUSCULOSKELETAL)

# Region keys (English, used in file names, manifests and configs) of the four report sections.
SECTION_REGIONS: dict[str, str] = {
    "head_neck": HEAD_NECK,
    "chest": CHEST,
    "abdomen_pelvis": ABDOMEN_PELVIS,
    "musculoskeletal": MUSCULOSKELETAL,
}
# The region volumes a study is split into (head to feet), and the report section each one reads;
# the musculoskeletal section has no volume of its own (its sentences go to the region they name).
IMAGE_REGIONS: tuple[str, ...] = ("head_neck", "chest", "abdomen_pelvis")
REGION_SECTIONS: dict[str, str] = {region: SECTION_REGIONS[region] for region in IMAGE_REGIONS}
# A sample of the whole body, beside the region samples.
WHOLE = "whole"
SAMPLE_REGIONS: tuple[str, ...] = (WHOLE, *IMAGE_REGIONS)
# How prompts and answers name a region volume in Vietnamese.
REGION_PHRASES: dict[str, str] = {
    "head_neck": "vùng đầu - cổ",
    "chest": "vùng lồng ngực",
    "abdomen_pelvis": "vùng ổ bụng - khung chậu",
}

# The six keys of the expert lesion format, spelled exactly as in the expert files.
SIZE_KEY = "Kích thước khối u, tổn thương, bất thường"
TYPE_KEY = "Hình dạng của khối u, tổn thương, bất thường"
LOCATION_KEY = "Vị trí của khối u, tổn thương, bất thường"
FDG_KEY = "Mức độ FDG"
SUVMAX_KEY = "SUVmax"
UPTAKE_KEY = "Tăng chuyển hoá FDG"
INVASION_KEY = "Xâm lấn"
STAGE_KEY = "Giai đoạn chuyển hoá"
ABSENT = "Không có"


@dataclass
class Report:
    """A PET/CT report: findings per region section, then the impression."""

    sections: dict[str, str] = field(default_factory=lambda: {k: "" for k in SECTION_KEYS})
    impression: str = ""

    def findings_text(self) -> str:
        """All region sections joined head to feet, as the published texts do."""
        return " ".join(s.strip() for k in SECTION_KEYS if (s := self.sections.get(k, "")).strip())

    def full_text(self) -> str:
        """Findings then impression, the form of `reports.jsonl` and of model targets."""
        return " ".join(p for p in (self.findings_text(), self.impression.strip()) if p)

    def to_json(self) -> dict[str, Any]:
        """The ViMed-PET JSON layout."""
        return {IMPRESSION_KEY: self.impression, FINDINGS_KEY: {k: self.sections.get(k, "") for k in SECTION_KEYS}}

    @classmethod
    def from_json(cls, obj: Any, path: str | Path | None = None) -> "Report":
        """Read the ViMed-PET JSON layout; a wrong shape is a `ReportError` naming the file.

        Every section and the impression must be text, or null/absent (empty). Anything else (a
        list, an object, a number, true) is a one-line `ReportError` naming the file and the
        section: `str()` would turn a list into the text "['...', '...']" and train on it.
        """
        if not isinstance(obj, dict) or FINDINGS_KEY not in obj or not isinstance(obj[FINDINGS_KEY], dict):
            raise ReportError(f"not a ViMed-PET report: expected keys {IMPRESSION_KEY!r} and {FINDINGS_KEY!r}", path)
        findings = obj[FINDINGS_KEY]
        sections = {k: _text(findings.get(k), f"section {k!r}", path) for k in SECTION_KEYS}
        return cls(sections=sections, impression=_text(obj.get(IMPRESSION_KEY), f"impression {IMPRESSION_KEY!r}", path))

    @classmethod
    def load(cls, path: str | Path) -> "Report":
        """Load a ViMed-PET report JSON file."""
        path = Path(path)
        return cls.from_json(_read_json(path, "report"), path)


@dataclass
class Lesion:
    """One abnormal finding in the expert format (six fields; `suv_max` None means "Không có")."""

    size: str = ABSENT
    type: str = ABSENT
    location: str = ABSENT
    suv_max: float | None = None
    uptake: str = ABSENT
    invasion: str = ABSENT
    stage: str = ABSENT

    def to_expert(self) -> dict[str, Any]:
        """The expert JSON object, keys spelled as in the official test set."""
        suv: Any = ABSENT if self.suv_max is None else self.suv_max
        return {
            SIZE_KEY: self.size,
            TYPE_KEY: self.type,
            LOCATION_KEY: self.location,
            FDG_KEY: {SUVMAX_KEY: suv, UPTAKE_KEY: self.uptake},
            INVASION_KEY: self.invasion,
            STAGE_KEY: self.stage,
        }

    @classmethod
    def from_expert(cls, obj: Any, path: str | Path | None = None) -> "Lesion":
        """Read one expert object, tolerating the `hoá`/`hóa` spellings found in the real files."""
        if not isinstance(obj, dict):
            raise ReportError(f"lesion must be a JSON object, got {type(obj).__name__}", path)
        norm = {_fold_key(k): v for k, v in obj.items()}
        fdg = norm.get(_fold_key(FDG_KEY)) or {}
        if not isinstance(fdg, dict):
            fdg = {UPTAKE_KEY: str(fdg)}
        fdg = {_fold_key(k): v for k, v in fdg.items()}
        return cls(
            size=str(norm.get(_fold_key(SIZE_KEY), ABSENT)),
            type=str(norm.get(_fold_key(TYPE_KEY), ABSENT)),
            location=str(norm.get(_fold_key(LOCATION_KEY), ABSENT)),
            suv_max=_parse_suv(fdg.get(_fold_key(SUVMAX_KEY))),
            uptake=str(fdg.get(_fold_key(UPTAKE_KEY), ABSENT)),
            invasion=str(norm.get(_fold_key(INVASION_KEY), ABSENT)),
            stage=str(norm.get(_fold_key(STAGE_KEY), ABSENT)),
        )


def load_expert_lesions(path: str | Path) -> list[Lesion]:
    """Load an expert lesion file (a JSON list); loose spacing in the real files is fine for `json`."""
    path = Path(path)
    obj = _read_json(path, "lesion")
    if not isinstance(obj, list):
        raise ReportError("expected a JSON list of lesions", path)
    return [Lesion.from_expert(item, path) for item in obj]


def _read_json(path: Path, what: str) -> Any:
    """The JSON in a file; a missing file or bad UTF-8/JSON is a `ReportError` naming it.

    A leading UTF-8 byte-order mark (Windows editors write one) is valid UTF-8 and is accepted."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ReportError(f"{what} file not found", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"not valid UTF-8 JSON ({exc.__class__.__name__}: {exc})", path) from None


def _text(value: Any, what: str, path: str | Path | None) -> str:
    """A report field as text: a string as is, null or absent as ""; any other type is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReportError(f"{what} must be text or null, got {type(value).__name__}", path)
    return value


def _fold_key(key: str) -> str:
    """Compare keys without the two tone-mark placements (`hoá` vs `hóa`) or case."""
    import unicodedata

    return unicodedata.normalize("NFC", key).replace("hóa", "hoá").replace("Hóa", "Hoá").strip().lower()


def _parse_suv(value: Any) -> float | None:
    """SUVmax as a number; "Không có", empty or unparsable values mean no uptake value reported."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return None
