"""A generated report as one structured JSON document, the form every other hospital output derives from.

The document (`report_document`) holds the study it describes (key, StudyInstanceUID and source
series when known), the model, the text, its sections as `vipet.reports` recovers them, and every
lesion `vipet.reports.extract` reads in it (scope "all"): location and coded sites, size, SUVmax,
type, uptake, invasion and judgement. `report.schema.json` beside this module is its published
JSON Schema (draft 2020-12); `validate_document` checks a document against it.

Numbers are the extractor's: SUVmax as written ("8,5" -> 8.5), sizes in millimetres ("2,5 x 3 cm"
-> [25, 30]), rounded to 1e-6 mm so the binary-float noise of a cm -> mm product never reaches a
hospital record. The SR and FHIR writers read the same document, so the three outputs agree.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from vipet import __version__
from vipet.errors import InteropError
from vipet.interop.codes import REGION_CODES, SITE_CODES
from vipet.interop.source import SourceStudy
from vipet.reports.extract import Finding, analyze_report
from vipet.reports.sections import IMPRESSION, SECTION_TO_REGION
from vipet.schema import SECTION_REGIONS

FORMAT = "vipet.report/1"
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
SIZE_DECIMALS = 6  # mm: 1 nm, far below any stated size, far above float noise


def report_document(prediction: dict[str, Any], source: SourceStudy | None = None) -> dict[str, Any]:
    """The structured document of one prediction record (`{"prediction", "study", "model", "id"}`)."""
    text = prediction.get("prediction")
    if not isinstance(text, str):
        raise InteropError(f"prediction {prediction.get('id')!r} has no report text (field 'prediction')")
    study_key = str(prediction.get("study") or str(prediction.get("id", "")).split(":", 1)[0])
    if not study_key:
        raise InteropError("prediction record names no study (fields 'study' or 'id')")
    analysis = analyze_report(text)
    report = analysis.report
    source = source or SourceStudy()
    return {
        "format": FORMAT,
        "status": "preliminary",  # a machine draft until a physician signs it
        "study": {"key": study_key, **source.to_json()},
        "sample_id": str(prediction.get("id") or study_key),
        "model": str(prediction.get("model") or ""),
        "generator": {"name": "vipet", "version": __version__},
        "language": "vi",
        "text": text,
        "sections": {region: report.sections.get(title, "") for region, title in SECTION_REGIONS.items()},
        "impression": report.impression,
        "lesions": [lesion_json(i, f) for i, f in enumerate(analysis.findings, 1)],
    }


def lesion_json(index: int, finding: Finding) -> dict[str, Any]:
    """One extracted finding in the document's lesion form (see the schema's `lesion`)."""
    if finding.sites:
        sites = [{"group": s.group, "region": s.region, "code": _code(SITE_CODES.get(s.group))} for s in finding.sites]
        site_source = "text"
    else:
        region = finding.regions[0] if finding.regions else None
        sites = [] if region is None else [{"group": None, "region": region, "code": _code(REGION_CODES.get(region))}]
        site_source = "section"
    sizes = [[round(float(d), SIZE_DECIMALS) for d in dims] for dims in finding.sizes_mm]
    return {
        "index": index,
        "kind": finding.kind,
        "type": finding.type_text or None,
        "location": finding.location or None,
        "sites": sites,
        "site_source": site_source,
        "size_text": finding.size_text or None,
        "size_mm": sizes[0] if sizes else [],
        "sizes_mm": sizes,
        "suv_max": finding.suv_max,
        "uptake": finding.uptake,
        "increased": finding.increased,
        "invasion": finding.invasion or None,
        "judgement": finding.judgement,
        "section": IMPRESSION if finding.section == IMPRESSION else SECTION_TO_REGION.get(finding.section, finding.section),
        "expert": finding.to_lesion().to_expert(),
    }


def _code(concept) -> dict[str, str] | None:
    return None if concept is None else concept.to_json()


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The published JSON Schema of the document."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_document(document: dict[str, Any]) -> None:
    """`InteropError` naming the first place where `document` breaks the schema (jsonschema, draft 2020-12)."""
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(load_schema()).iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        raise InteropError(f"report document breaks {SCHEMA_PATH.name} at {where}: {errors[0].message}")
