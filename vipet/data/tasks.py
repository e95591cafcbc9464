"""The text side of each sample: report prompts per region and question/answer pairs.

Shared by the torch datasets and the exports so a model trained with vipet and one trained with
another framework from the exported files see the same prompts and the same questions.
"""

from __future__ import annotations

from typing import Any

from vipet.reports.vqa import generate_vqa
from vipet.schema import REGION_PHRASES, WHOLE

REGION_NAMES_VI: dict[str, str] = {WHOLE: "toàn thân", **REGION_PHRASES}
REPORT_INSTRUCTION = "Hãy mô tả hình ảnh PET/CT {region} và nêu nhận định."


def report_prompt(region: str) -> str:
    """The instruction for report generation on a region (Vietnamese, as the targets are).

    The one wording used everywhere: vipet's own models (which add the image marker) and the
    exports read it from here, so a model trained elsewhere on the exports sees the same text.
    Unknown regions read as whole body.
    """
    name = REGION_NAMES_VI.get(region or WHOLE, REGION_NAMES_VI[WHOLE])
    return REPORT_INSTRUCTION.format(region=name)


def qa_pairs(full_text: str, region: str = WHOLE, *, max_pairs: int | None = None) -> list[dict[str, Any]]:
    """Question/answer pairs (`question, answer, type, closed`) the report toolkit writes for one region.

    `full_text` is the whole report: the toolkit finds the region's findings itself, which is more
    faithful than questioning a region's section out of context.
    """
    if not full_text.strip():
        return []
    pairs = [dict(p) for p in generate_vqa(full_text, region=region)]
    return pairs[:max_pairs] if max_pairs else pairs

