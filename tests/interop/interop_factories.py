"""Reports with known lesions and tiny DICOM source studies for the hospital-output tests.

The expected numbers are typed by hand from the report text (decimal commas read as a person
reads them, centimetres times ten), never computed by the code under test.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom

from vipet.io.dicom_write import write_dicom_study
from vipet.schema import ABDOMEN_PELVIS, CHEST, HEAD_NECK, MUSCULOSKELETAL, Report
from vipet.study import HU, SUV_BW, Patient, Study, Volume

REPORT = Report(
    sections={
        HEAD_NECK: "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não. Hình ảnh hạch cổ trái nhóm IV, kích thước 12 x 15 mm, "
                   "tăng chuyển hóa FDG (SUVmax 4,3).",
        CHEST: "Hình ảnh khối mờ thùy trên phổi phải, kích thước 2,5 x 3 cm, tăng chuyển hóa FDG (SUVmax 8,5). "
               "Hình ảnh nốt mờ thùy dưới phổi trái, đường kính 7 mm, tăng chuyển hóa FDG (SUVmax: 2,1).",
        ABDOMEN_PELVIS: "Hình ảnh tổn thương giảm tỷ trọng ở gan phải, kích thước 0,7 x 1,1 x 1,3 cm, tăng chuyển hóa FDG "
                        "(SUVmax: 6,0).",
        MUSCULOSKELETAL: "Chưa phát hiện hình ảnh tăng chuyển hóa FDG bất thường ở hệ thống cơ xương.",
    },
    impression="Khối mờ thùy trên phổi phải tăng chuyển hóa FDG, nhiều khả năng ác tính. Hạch cổ trái và tổn thương gan "
               "phải tăng chuyển hóa FDG, khả năng di căn.",
)
TEXT = REPORT.full_text()
# (location as written, SUVmax, size in mm in the order written, SNOMED CT code of the site), by hand.
EXPECTED = [
    ("cổ trái nhóm IV", 4.3, [12.0, 15.0], "45048000"),  # Neck
    ("thùy trên phổi phải", 8.5, [25.0, 30.0], "39607008"),  # Lung
    ("thùy dưới phổi trái", 2.1, [7.0], "39607008"),  # Lung
    ("gan phải", 6.0, [7.0, 11.0, 13.0], "10200004"),  # Liver
]
NORMAL_TEXT = ("Hình ảnh bắt xạ theo đặc điểm sinh lý ở não. Không phát hiện hình ảnh tăng chuyển hóa FDG bất thường ở "
               "nhu mô phổi hai bên. Nhận định kết quả: Chưa phát hiện hình ảnh tổn thương tăng chuyển hóa FDG bất thường.")


def prediction(text: str = TEXT, study: str = "2021_03_04_patient_9", model: str = "retrieval") -> dict:
    """A predictions record in the shared format."""
    return {"id": f"{study}:whole", "task": "report", "prediction": text, "reference": "", "model": model,
            "study": study}


def tiny_study(key: str = "2021_03_04_patient_9", depth: int = 4) -> Study:
    """A small PET/CT study (values irrelevant here; geometry and tags are what an SR references)."""
    rng = np.random.default_rng(1)
    year, month, day, pid = key.split("_", 3)
    return Study(
        key=key,
        ct=Volume(rng.integers(-1000, 1000, size=(depth, 12, 12)).astype(np.int16), (3.0, 4.0, 4.0), HU),
        pet=Volume(rng.uniform(0.1, 5.0, size=(depth, 6, 6)).astype(np.float32), (3.0, 8.0, 8.0), SUV_BW),
        patient=Patient(id=pid, sex="M", height_m=1.7, weight_kg=64.0),
        study_date=dt.date(int(year), int(month), int(day)),
        report=REPORT,
        head_first=True,
    )


def write_source(folder: Path, key: str = "2021_03_04_patient_9", depth: int = 4) -> list[pydicom.Dataset]:
    """Write a tiny DICOM study and return its instance headers."""
    write_dicom_study(tiny_study(key, depth), folder)
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.rglob("*.dcm"))]
