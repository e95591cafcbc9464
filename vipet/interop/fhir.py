"""A generated report as an HL7 FHIR R4 Bundle: DiagnosticReport, one Observation per lesion, ImagingStudy.

Built with `fhir.resources` (its R4B models, whose DiagnosticReport, Observation, ImagingStudy and
Bundle are R4's), so every resource is validated on construction. The Bundle ("collection")
holds, linked by `urn:uuid:` full URLs derived from the study and the text (a rerun gives the
same bytes):

- `DiagnosticReport`: status preliminary (a machine draft), category NMS (v2-0074, nuclear
  medicine scan), code (443271005, SNOMED CT, "PET/CT FDG imaging of whole body"), `conclusion`
  the impression, `presentedForm` the exact text (text/plain; charset=utf-8, base64, language vi),
  `imagingStudy` and `result` references;
- `ImagingStudy` (when the StudyInstanceUID is known): identifier `urn:oid:<StudyInstanceUID>`
  (system urn:dicom:uid) and the source PET and CT series;
- `Observation` per lesion: code (52988006, SNOMED CT, "Lesion") with the type as text, bodySite
  the first SNOMED-coded site with the location as written in `text` (R4 allows one bodySite;
  the text keeps every site), a component SUVmax (126401, DCM, "SUVbw") in g/ml{SUVbw} and one
  component per size dimension (81827009, SNOMED CT, "Diameter") in mm, both UCUM quantities,
  and the judgement as `interpretation` text.

`read_bundle` is the inverse used by the tests and by anyone reading the Bundle back.
"""

from __future__ import annotations

import base64
import uuid
from decimal import Decimal
from typing import Any

from vipet.errors import InteropError
from vipet.interop import codes as c
from vipet.interop.source import SourceStudy

UUID_NAMESPACE = uuid.UUID("6f1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d")  # vipet's namespace for uuid5 ids
DICOM_UID_SYSTEM = "urn:dicom:uid"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DICOM_MODALITY_SYSTEM = c.DCM_SYSTEM
PATIENT_ID_SYSTEM = "urn:vipet:patient-id"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


def _coding(concept: c.Concept) -> dict[str, str]:
    return {"system": concept.system, "code": concept.value, "display": concept.meaning}


def _quantity(value: float, unit: c.Concept) -> dict[str, Any]:
    # Decimal from repr: the shortest decimal that reads back as the same float (8.5, not 8.5000000001)
    return {"value": Decimal(repr(float(value))), "unit": unit.value, "system": c.UCUM_SYSTEM, "code": unit.value}


def build_bundle(document: dict[str, Any], source: SourceStudy | None = None):
    """The FHIR Bundle of one structured report document (see the module docstring)."""
    from fhir.resources.R4B.bundle import Bundle

    source = source or SourceStudy()
    seed = "|".join([document["study"]["key"], document["study"].get("study_instance_uid") or "", document["model"],
                     document["text"]])

    def full_url(kind: str) -> str:
        return f"urn:uuid:{uuid.uuid5(UUID_NAMESPACE, seed + '|' + kind)}"

    subject = ({"type": "Patient", "identifier": {"system": PATIENT_ID_SYSTEM, "value": source.patient_id}}
               if source.patient_id else {"display": f"study {document['study']['key']}"})
    entries: list[dict[str, Any]] = []
    study_uid = document["study"].get("study_instance_uid")
    study_ref = None
    if study_uid:
        study_url = full_url("imaging-study")
        study_ref = {"reference": study_url}
        entries.append({"fullUrl": study_url, "resource": _imaging_study(document, subject)})
    observation_refs = []
    for lesion in document["lesions"]:
        url = full_url(f"lesion-{lesion['index']}")
        observation_refs.append({"reference": url})
        entries.append({"fullUrl": url, "resource": _observation(lesion, subject, study_ref)})
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": "preliminary",
        "category": [{"coding": [{"system": V2_0074, "code": "NMS", "display": "Nuclear Medicine Scan"}]}],
        "code": {"coding": [_coding(c.PROCEDURE)], "text": "PET/CT FDG toàn thân"},
        "subject": subject,
        "presentedForm": [{"contentType": TEXT_CONTENT_TYPE, "language": "vi",
                           "data": base64.b64encode(document["text"].encode("utf-8")),
                           "title": "Kết quả PET/CT (bản nháp do máy tạo)"}],
    }
    if document["impression"].strip():
        report["conclusion"] = document["impression"]
    if study_ref:
        report["imagingStudy"] = [study_ref]
    if observation_refs:
        report["result"] = observation_refs
    entries.insert(0, {"fullUrl": full_url("report"), "resource": report})
    try:
        return Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "entry": entries})
    except ValueError as exc:  # pydantic's ValidationError: a value FHIR does not accept
        raise InteropError(f"study {document['study']['key']!r}: FHIR Bundle invalid: {exc}") from None


def _imaging_study(document: dict[str, Any], subject: dict[str, Any]) -> dict[str, Any]:
    study = document["study"]
    return {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": subject,
        "identifier": [{"system": DICOM_UID_SYSTEM, "value": f"urn:oid:{study['study_instance_uid']}"}],
        "series": [{"uid": s["series_instance_uid"],
                    "modality": {"system": DICOM_MODALITY_SYSTEM, "code": s["modality"]}} for s in study["series"]],
    }


def _observation(lesion: dict[str, Any], subject: dict[str, Any], study_ref: dict[str, str] | None) -> dict[str, Any]:
    components = []
    if lesion["suv_max"] is not None:
        components.append({"code": {"coding": [_coding(c.SUVBW)], "text": "SUVmax"},
                           "valueQuantity": _quantity(lesion["suv_max"], c.SUVBW_UNIT)})
    for number, dimension in enumerate(lesion["size_mm"], 1):
        components.append({"code": {"coding": [_coding(c.DIAMETER)], "text": f"kích thước, chiều {number}"},
                           "valueQuantity": _quantity(dimension, c.MM_UNIT)})
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "preliminary",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "imaging", "display": "Imaging"}]}],
        "code": {"coding": [_coding(c.LESION)], "text": lesion["type"] or lesion["kind"]},
        "subject": subject,
    }
    coded = [site["code"] for site in lesion["sites"] if site["code"] is not None]
    if coded or lesion["location"]:
        body_site: dict[str, Any] = {}
        if coded:
            body_site["coding"] = [{"system": c.FHIR_SYSTEMS[coded[0]["scheme"]], "code": coded[0]["code"],
                                    "display": coded[0]["meaning"]}]
        if lesion["location"]:
            body_site["text"] = lesion["location"]
        observation["bodySite"] = body_site
    if components:
        observation["component"] = components
    if lesion["judgement"]:
        observation["interpretation"] = [{"text": lesion["judgement"]}]
    if study_ref:
        observation["derivedFrom"] = [study_ref]
    return observation


def bundle_json(bundle) -> str:
    """The Bundle as JSON text (UTF-8 kept; fhir.resources' own serialiser)."""
    return bundle.model_dump_json(indent=2)


def read_bundle(text: str) -> dict[str, Any]:
    """What a vipet Bundle says: text, conclusion, StudyInstanceUID, and per lesion SUVmax, size, site."""
    from fhir.resources.R4B.bundle import Bundle

    try:
        bundle = Bundle.model_validate_json(text)
    except ValueError as exc:
        raise InteropError(f"not a valid FHIR Bundle: {exc}") from None
    by_url = {entry.fullUrl: entry.resource for entry in bundle.entry or []}
    reports = [r for r in by_url.values() if r.get_resource_type() == "DiagnosticReport"]
    if len(reports) != 1:
        raise InteropError(f"expected one DiagnosticReport in the Bundle, found {len(reports)}")
    report = reports[0]
    form = report.presentedForm[0]
    study_uid = None
    for ref in report.imagingStudy or []:
        study = by_url[ref.reference]
        study_uid = study.identifier[0].value.removeprefix("urn:oid:")
    lesions = []
    for ref in report.result or []:
        observation = by_url[ref.reference]
        suv, size = None, []
        for component in observation.component or []:
            code = component.code.coding[0].code
            quantity = component.valueQuantity
            if code == c.SUVBW.value and quantity.code == c.SUVBW_UNIT.value:
                suv = float(quantity.value)
            elif code == c.DIAMETER.value and quantity.code == c.MM_UNIT.value:
                size.append(float(quantity.value))
        site = observation.bodySite
        lesions.append({
            "suv_max": suv,
            "size_mm": size,
            "site": (site.coding[0].code if site and site.coding else None),
            "location": site.text if site else None,
            "type": observation.code.text,
            "judgement": observation.interpretation[0].text if observation.interpretation else None,
        })
    return {
        "text": bytes(form.data).decode("utf-8"),
        "content_type": form.contentType,
        "conclusion": report.conclusion,
        "status": report.status,
        "study_instance_uid": study_uid,
        "lesions": lesions,
    }
