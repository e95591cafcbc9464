"""Tiny studies for the io tests: known values, asymmetric so axis flips show."""

from __future__ import annotations

import datetime as dt

import numpy as np

from vipet.schema import CHEST, HEAD_NECK, Report
from vipet.study import HU, SUV_BW, Patient, Study, Volume


def make_study(
    key: str = "2019_11_05_patient_7",
    depth: int = 6,
    ct_size: int = 16,
    pet_size: int = 8,
    head_first: bool | None = True,
    seed: int = 0,
) -> Study:
    """A tiny PET/CT study with a hot spot, distinct values per slice and an asymmetric body."""
    rng = np.random.default_rng(seed)
    ct = rng.integers(-1000, 1500, size=(depth, ct_size, ct_size)).astype(np.int16)
    pet = rng.uniform(0.1, 3.0, size=(depth, pet_size, pet_size)).astype(np.float32)
    pet[depth // 2, 1, pet_size - 2] = 12.5  # asymmetric hot spot: catches axis flips
    for z in range(depth):
        pet[z] *= 1.0 + 0.3 * z  # slice maxima differ, so PET slopes differ per slice
    report = Report(
        sections={HEAD_NECK: "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não.", CHEST: "Nốt mờ phổi phải 9 mm (SUVmax: 5,2).",
                  "Ổ bụng - khung chậu": "", "Hệ cơ - xương": ""},
        impression="Nốt phổi phải tăng chuyển hóa FDG, nhiều khả năng ác tính.",
    )
    year, month, day, pid = key.split("_", 3)
    return Study(
        key=key,
        ct=Volume(ct, (3.0, 500.0 / ct_size, 500.0 / ct_size), HU),
        pet=Volume(pet, (3.0, 500.0 / pet_size, 500.0 / pet_size), SUV_BW),
        patient=Patient(id=pid, sex="F", height_m=1.58, weight_kg=52.0),
        study_date=dt.date(int(year), int(month), int(day)),
        report=report,
        head_first=head_first,
    )


UNITLESS = ("NIfTI keeps no PET unit and no study.json records one: pass --pet-unit "
            "(SUVbw, BQML, CNTS, VIMED_RAW, UNKNOWN)")


def write_unitless_nifti_pair(folder, study: Study | None = None):
    """A NIfTI pair as a scanner export leaves it: the two files, no study.json saying the PET unit."""
    from vipet.io.nifti import write_nifti_study

    ct, pet = write_nifti_study(study or make_study(), folder)
    (ct.parent / "study.json").unlink()
    return ct, pet
