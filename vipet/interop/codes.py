"""The coded concepts the hospital outputs use, taken from pydicom's copy of the DICOM tables.

Every code below is looked up by keyword in `pydicom.sr.codedict.codes` (generated from DICOM
PS3.16, which lists the SNOMED CT, DCM and UCUM codes DICOM uses), never typed by hand, so a wrong
keyword fails at import instead of writing a wrong number into a hospital record.

`SITE_CODES` maps each site group of the report lexicon (`vipet/reports/lexicon.yaml`) to a
SNOMED CT body structure. Two groups have no single SNOMED CT concept in the DICOM tables:
"ruột" (the whole bowel, small and large) and "tiết niệu sinh dục" (the genitourinary organs);
they map to None and the outputs carry their Vietnamese name as text with no code. A finding with
no named site is coded by the region of its report section (`REGION_CODES`); the musculoskeletal
section has no one region concept, so it is text only too.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.sr.codedict import codes

SCT_SYSTEM = "http://snomed.info/sct"
DCM_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
UCUM_SYSTEM = "http://unitsofmeasure.org"
# FHIR system URI of each DICOM coding scheme designator used here.
FHIR_SYSTEMS = {"SCT": SCT_SYSTEM, "DCM": DCM_SYSTEM, "UCUM": UCUM_SYSTEM}


@dataclass(frozen=True)
class Concept:
    """One coded concept, in the form both DICOM SR and FHIR can write."""

    scheme: str  # DICOM coding scheme designator: SCT, DCM, UCUM
    value: str
    meaning: str

    @property
    def system(self) -> str:
        """The FHIR `system` URI of the scheme."""
        return FHIR_SYSTEMS[self.scheme]

    def to_json(self) -> dict[str, str]:
        return {"scheme": self.scheme, "code": self.value, "meaning": self.meaning}


def _concept(code) -> Concept:
    return Concept(scheme=code.scheme_designator, value=code.value, meaning=code.meaning)


def _sct(keyword: str) -> Concept:
    return _concept(getattr(codes.SCT, keyword))


# Lexicon site group -> SNOMED CT body structure (None: no concept; text only).
SITE_CODES: dict[str, Concept | None] = {
    "phổi": _sct("Lung"),
    "màng phổi": _sct("Pleura"),
    "rốn phổi": _sct("HilumOfLung"),
    "trung thất": _sct("Mediastinum"),
    "thực quản": _sct("Esophagus"),
    "thượng đòn": _sct("SupraclavicularRegionOfNeck"),
    "thành ngực": _sct("ChestWall"),
    "nách": _sct("Axilla"),
    "vú": _sct("Breast"),
    "tim": _sct("Heart"),
    "não": _sct("Brain"),
    "họng": _sct("Pharynx"),
    "xoang": _sct("ParanasalSinus"),
    "tuyến giáp": _sct("Thyroid"),
    "tuyến nước bọt": _sct("SalivaryGland"),
    "cổ": _sct("Neck"),
    "gan": _sct("Liver"),
    "lách": _sct("Spleen"),
    "tụy": _sct("Pancreas"),
    "thận": _sct("Kidney"),
    "thượng thận": _sct("AdrenalGland"),
    "dạ dày": _sct("Stomach"),
    "ruột": None,
    "túi mật": _sct("Gallbladder"),
    "tiết niệu sinh dục": None,
    "bụng": _sct("Abdomen"),
    "bẹn": _sct("InguinalRegion"),
    "xương": _sct("Bone"),
    "phần mềm": _sct("SoftTissue"),
}
# Report-section region -> SNOMED CT, for a finding that names no site.
REGION_CODES: dict[str, Concept | None] = {
    "head_neck": _sct("HeadAndNeck"),
    "chest": _sct("Chest"),
    "abdomen_pelvis": _sct("AbdomenAndPelvis"),
    "musculoskeletal": None,
}

PROCEDURE = _sct("PETCTFDGImagingOfWholeBody")  # CID 100
TITLE = _concept(codes.DCM.PETMeasurementReport)  # CID 7021
LESION = _sct("Lesion")
FINDING_SITE = Concept("SCT", "363698007", "Finding Site")  # the concept highdicom's FindingSite writes
FINDING = _concept(codes.DCM.Finding)
FINDINGS = _concept(codes.DCM.Findings)
FINDINGS_NARRATIVE = _concept(codes.DCM.NarrativeSummary)  # the whole generated text
IMPRESSION = _concept(codes.DCM.Impression)
SUVBW = _concept(codes.DCM.Suvbw)  # CID 7180/7469: SUV body weight
MAXIMUM = _sct("Maximum")  # derivation of SUVmax
DIAMETER = _sct("Diameter")
SUVBW_UNIT = _concept(codes.UCUM.StandardizedUptakeValueBodyWeight)  # CID 85: g/ml{SUVbw}
MM_UNIT = Concept("UCUM", "mm", "millimeter")
