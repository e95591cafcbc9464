"""A generated report as a DICOM SR Measurement Report (TID 1500), written with highdicom.

Tree (PS3.16 TID 1500, Comprehensive 3D SR):
- title (126003, DCM, "PET Measurement Report"), language vi, a device observer (vipet and the
  model), procedure reported (443271005, SCT, "PET/CT FDG imaging of whole body");
- an Image Library with the first instance of each source series (PET and CT);
- "Imaging Measurements": one TID 1501 measurement group per lesion of the structured document
  (`report_json`), tracked as "lesion N": finding type (52988006, SCT, "Lesion"), one coded
  finding site per SNOMED-coded site of the lesion (with laterality when the location says
  phải/trái/hai bên), SUVmax as (126401, DCM, "SUVbw") derived by (56851009, SCT, "Maximum") in
  g/ml{SUVbw} (UCUM, CID 85), each dimension of the size as (81827009, SCT, "Diameter") in mm in
  the order written, and TEXT items for what has no code: the location as written ("Finding
  Site"), the lesion type ("Finding") and the judgement ("Impression");
- "Qualitative Evaluations" (C0034375, UMLS) with the exact generated text as (111412, DCM,
  "Narrative Summary") and the impression as (121073, DCM, "Impression").

Every source PET and CT instance is listed as evidence (Current Requested Procedure Evidence
Sequence), and Patient and Study attributes are copied from the first one, so the PACS files the SR
in the source study. Without source instances there is nothing to reference and `InteropError` is
raised instead of writing an SR that points nowhere. UIDs derive from the study UID and the text,
so writing the same report twice gives the same SOP Instance UID (a re-push replaces, not duplicates).
`read_sr` is the inverse used by the tests and by anyone reading a vipet SR back.
"""

from __future__ import annotations

import copy
import re
import warnings
from typing import Any

import highdicom as hd
import pydicom
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from vipet.errors import InteropError
from vipet.interop import codes as c
from vipet.interop.source import STUDY_ATTRIBUTES, SourceStudy

QUALITATIVE_EVALUATIONS = c.Concept("UMLS", "C0034375", "Qualitative Evaluations")
SERIES_NUMBER = 9901
SERIES_DESCRIPTION = "vipet draft report (unverified)"
UTF8 = "ISO_IR 192"
TRACKING_ID = ("DCM", "112039")
_LATERALITY = {"right": c._sct("Right"), "left": c._sct("Left"), "both": c._sct("Bilateral")}


def _code(concept: c.Concept) -> Code:
    return Code(concept.value, concept.scheme, concept.meaning)


def build_sr(document: dict[str, Any], source: SourceStudy) -> hd.sr.Comprehensive3DSR:
    """The SR of one structured report document, referencing `source`'s instances."""
    if not source.headers:
        raise InteropError(f"study {document['study']['key']!r}: a DICOM SR needs the source PET/CT instances as "
                           "evidence, and none are available (not built from DICOM, or the source folder is gone)")
    study_uid = str(source.headers[0].StudyInstanceUID)
    seed = [study_uid, document["model"], document["text"]]
    groups = [_lesion_group(lesion, study_uid) for lesion in document["lesions"]]
    root = _root(document, groups, _library_images(source.headers))
    evidence = [_complete_header(source.headers[0])] + list(source.headers[1:])
    with warnings.catch_warnings():
        # the patient name is copied from the source as it is (a de-identified one is often a single
        # component); highdicom's advice to write family^given is about names it composes, not copies
        warnings.filterwarnings("ignore", message="The string .* is unlikely to represent", category=UserWarning)
        return _sr(root, evidence, seed)


def _sr(root: pydicom.Dataset, evidence: list[pydicom.Dataset], seed: list[str]) -> hd.sr.Comprehensive3DSR:
    return hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=root,
        series_instance_uid=generate_uid(entropy_srcs=seed + ["series"]),
        series_number=SERIES_NUMBER,
        sop_instance_uid=generate_uid(entropy_srcs=seed + ["instance"]),
        instance_number=1,
        manufacturer="vipet",
        is_complete=True,
        is_final=False,  # a machine draft: preliminary and unverified until a physician signs it
        is_verified=False,
        series_description=SERIES_DESCRIPTION,
        specific_character_set=UTF8,
    )


def _root(document: dict[str, Any], groups: list, images: list[pydicom.Dataset]) -> pydicom.Dataset:
    """The TID 1500 root container; highdicom's MeasurementReport when there are lesions, else the same
    container without "Imaging Measurements" (TID 1500 needs rows 6, 8 or 10; row 10 is present)."""
    observation = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=pydicom.sr.codedict.codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=["vipet", document["model"]]), name="vipet",
            model_name=document["model"][:64] or None)))
    language = hd.sr.LanguageOfContentItemAndDescendants(hd.sr.CodedConcept("vi", "RFC5646", "Vietnamese"))
    if groups:
        report = hd.sr.MeasurementReport(observation_context=observation, procedure_reported=_code(c.PROCEDURE),
                                         imaging_measurements=groups, title=_code(c.TITLE),
                                         language_of_content_item_and_descendants=language,
                                         referenced_images=images)
        root = report[0]
    else:
        root = hd.sr.ContainerContentItem(name=_code(c.TITLE), template_id="1500")
        root.ContentSequence = hd.sr.ContentSequence()
        root.ContentSequence.extend(language)
        root.ContentSequence.extend(observation)
        root.ContentSequence.append(hd.sr.CodeContentItem(
            name=pydicom.sr.codedict.codes.DCM.ProcedureReported, value=_code(c.PROCEDURE),
            relationship_type=hd.sr.RelationshipTypeValues.HAS_CONCEPT_MOD))
        root.ContentSequence.extend(hd.sr.ImageLibrary(images))
    evaluations = hd.sr.ContainerContentItem(name=_code(QUALITATIVE_EVALUATIONS),
                                             relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)
    evaluations.ContentSequence = hd.sr.ContentSequence([
        _text(c.FINDINGS_NARRATIVE, document["text"], hd.sr.RelationshipTypeValues.CONTAINS),
        _text(c.IMPRESSION, document["impression"], hd.sr.RelationshipTypeValues.CONTAINS),
    ])
    root.ContentSequence.append(evaluations)
    return root


def _text(concept: c.Concept, value: str, relationship) -> hd.sr.TextContentItem:
    return hd.sr.TextContentItem(name=_code(concept), value=value, relationship_type=relationship)


def _lesion_group(lesion: dict[str, Any], study_uid: str) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """One TID 1501 group: coded sites, SUVmax and size as numbers, the rest as text."""
    laterality = _laterality(lesion.get("location") or "")
    sites = [hd.sr.FindingSite(anatomic_location=_code(c.Concept(**_concept_args(site["code"]))),
                               laterality=laterality)
             for site in lesion["sites"] if site["code"] is not None]
    measurements = []
    if lesion["suv_max"] is not None:
        measurements.append(hd.sr.Measurement(name=_code(c.SUVBW), value=float(lesion["suv_max"]),
                                              unit=_code(c.SUVBW_UNIT), derivation=_code(c.MAXIMUM)))
    for dimension in lesion["size_mm"]:
        measurements.append(hd.sr.Measurement(name=_code(c.DIAMETER), value=float(dimension), unit=_code(c.MM_UNIT)))
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=generate_uid(entropy_srcs=[study_uid, "lesion", str(lesion["index"]), lesion["location"] or ""]),
            identifier=f"lesion {lesion['index']}"),
        finding_type=_code(c.LESION),
        finding_sites=sites or None,
        measurements=measurements or None,
    )
    container = group[0]
    for concept, value in ((c.FINDING_SITE, lesion["location"]), (c.FINDING, lesion["type"]),
                           (c.IMPRESSION, lesion["judgement"])):
        if value:
            relationship = (hd.sr.RelationshipTypeValues.HAS_CONCEPT_MOD if concept is c.FINDING_SITE
                            else hd.sr.RelationshipTypeValues.CONTAINS)
            container.ContentSequence.append(_text(concept, value, relationship))
    return group


def _concept_args(code_json: dict[str, str]) -> dict[str, str]:
    return {"scheme": code_json["scheme"], "value": code_json["code"], "meaning": code_json["meaning"]}


def _laterality(location: str) -> Code | None:
    """Right, left or bilateral as the location states it (phải / trái / hai bên); None when it does not."""
    low = location.lower()
    both = re.search(r"(?<!\w)(?:hai|2) (?:bên|phổi)(?!\w)", low)
    right = re.search(r"(?<!\w)phải(?!\w)", low)
    left = re.search(r"(?<!\w)trái(?!\w)", low)
    if both or (right and left):
        return _code(_LATERALITY["both"])
    if right:
        return _code(_LATERALITY["right"])
    if left:
        return _code(_LATERALITY["left"])
    return None


def _library_images(headers: list[pydicom.Dataset]) -> list[pydicom.Dataset]:
    """The first instance of each source series, for the Image Library."""
    first: dict[str, pydicom.Dataset] = {}
    for ds in headers:
        first.setdefault(str(ds.SeriesInstanceUID), ds)
    return list(first.values())


def _complete_header(ds: pydicom.Dataset) -> pydicom.Dataset:
    """A copy of the first evidence header with absent type 2 study attributes present and empty
    (highdicom copies them to the SR; an empty value is what the standard asks for when unknown)."""
    header = copy.deepcopy(ds)
    for name in STUDY_ATTRIBUTES:
        if name not in header:
            setattr(header, name, "")
    return header


def read_sr(ds: pydicom.Dataset) -> dict[str, Any]:
    """What a vipet SR says: text, impression, and per lesion its SUVmax, size (mm), coded sites and texts."""
    if str(ds.get("Modality", "")) != "SR" or "ContentSequence" not in ds:
        raise InteropError("not a DICOM SR document", getattr(ds, "filename", None))
    root_items = ds.ContentSequence
    evaluations = _children(root_items, QUALITATIVE_EVALUATIONS)
    texts = {(_name(item)): item.TextValue for group in evaluations for item in group.ContentSequence
             if item.ValueType == "TEXT"}
    lesions = []
    for container in _children(root_items, c.Concept("DCM", "126010", "Imaging Measurements")):
        for group in container.ContentSequence:
            if _name(group) != ("DCM", "125007"):
                continue
            lesion: dict[str, Any] = {"suv_max": None, "size_mm": [], "sites": [], "texts": {}}
            for item in group.ContentSequence:
                name = _name(item)
                if item.ValueType == "NUM":
                    value = float(item.MeasuredValueSequence[0].NumericValue)
                    unit = item.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue
                    if name == (c.SUVBW.scheme, c.SUVBW.value) and unit == c.SUVBW_UNIT.value:
                        lesion["suv_max"] = value
                    elif name == (c.DIAMETER.scheme, c.DIAMETER.value) and unit == c.MM_UNIT.value:
                        lesion["size_mm"].append(value)
                elif item.ValueType == "CODE" and name == (c.FINDING_SITE.scheme, c.FINDING_SITE.value):
                    code = item.ConceptCodeSequence[0]
                    lesion["sites"].append((code.CodingSchemeDesignator, code.CodeValue))
                elif item.ValueType == "TEXT":
                    lesion["texts"][name] = item.TextValue
            lesion["tracking_id"] = lesion["texts"].pop(TRACKING_ID, None)
            lesion["location"] = lesion["texts"].get((c.FINDING_SITE.scheme, c.FINDING_SITE.value))
            lesion["type"] = lesion["texts"].get((c.FINDING.scheme, c.FINDING.value))
            lesion["judgement"] = lesion["texts"].get((c.IMPRESSION.scheme, c.IMPRESSION.value))
            lesions.append(lesion)
    evidence = [(str(s.SeriesInstanceUID), len(s.ReferencedSOPSequence))
                for study in ds.get("CurrentRequestedProcedureEvidenceSequence", [])
                for s in study.ReferencedSeriesSequence]
    return {
        "study_instance_uid": str(ds.StudyInstanceUID),
        "text": texts.get((c.FINDINGS_NARRATIVE.scheme, c.FINDINGS_NARRATIVE.value)),
        "impression": texts.get((c.IMPRESSION.scheme, c.IMPRESSION.value)),
        "lesions": lesions,
        "evidence_series": evidence,
    }


def _name(item: pydicom.Dataset) -> tuple[str, str]:
    code = item.ConceptNameCodeSequence[0]
    return (str(code.CodingSchemeDesignator), str(code.CodeValue))


def _children(items, concept: c.Concept) -> list[pydicom.Dataset]:
    """The CONTAINER items among `items` (the root's children) named `concept`."""
    return [item for item in items if item.ValueType == "CONTAINER" and _name(item) == (concept.scheme, concept.value)]
