"""Reading and writing studies: ViMed-PET npz+json, DICOM PET/CT series, NIfTI pairs.

Importing `vipet.io` is cheap: pydicom and nibabel load only when a DICOM or NIfTI study is read.
"""

from vipet.io.ref import StudyRef, study_key
from vipet.io.sources import discover, load_study, read_study

__all__ = ["StudyRef", "study_key", "discover", "load_study", "read_study"]
