"""Hospital interop: de-identification before data leave, DICOM SR and FHIR for what comes back, DICOMweb to a PACS."""
