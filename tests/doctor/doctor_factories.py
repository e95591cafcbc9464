"""Synthetic roots for the doctor tests: a clean one, and one with exactly one study per planted defect.

Every defect is planted by hand here (never by the code under test), on synthetic studies
(`vipet.synth.cohort.generate_study`, small size: CT 128x128, PET 64x64, ~75 slices). The defect
root maps each planted kind to the study key it was planted on (`PLANTED`), so a test can assert
that the doctor names that kind on that study and nothing it was not told about.
"""

from __future__ import annotations

import copy
import datetime as dt
import shutil
import warnings
from pathlib import Path

import numpy as np

from vipet.io.vimed import write_metadata_csv, write_vimed_study
from vipet.io.vimed_layout import layout_paths
from vipet.schema import ABDOMEN_PELVIS, CHEST, HEAD_NECK, MUSCULOSKELETAL, Report
from vipet.study import Patient, Study, Volume
from vipet.synth.cohort import generate_study

SUV_PER_UNIT = 0.002  # SUV 65.5 at raw 32767: above every synthetic PET here
# A hand-written Vietnamese report and its English version, stating the same numbers.
REPORT_VI = Report(
    sections={HEAD_NECK: "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não.",
              CHEST: "Nốt mờ thùy trên phổi phải kích thước 18 x 21 mm, tăng chuyển hóa FDG (SUVmax: 5,2). "
                     "Hạch trung thất đường kính 9 mm, tăng chuyển hóa FDG (SUVmax: 3,1).",
              ABDOMEN_PELVIS: "Hình ảnh bắt xạ theo đặc điểm sinh lý ở gan, lách.",
              MUSCULOSKELETAL: "Chưa phát hiện hình ảnh tăng chuyển hóa FDG bất thường ở hệ thống cơ xương."},
    impression="Nốt phổi phải tăng chuyển hóa FDG, nhiều khả năng ác tính.",
)
REPORT_EN = {
    "Findings": {
        "Head - Neck": "Physiological uptake in the brain.",
        "Chest": "A nodule in the right upper lobe measuring 1.8 x 2.1 cm with increased FDG uptake (SUVmax 5.2). "
                 "A mediastinal lymph node 9 mm in diameter with increased FDG uptake (SUVmax: 3.1).",
        "Abdomen - Pelvis": "Physiological uptake in the liver and spleen.",
        "Musculoskeletal": "No abnormal FDG uptake in the musculoskeletal system.",
    },
    "Impression": "A right lung nodule with increased FDG uptake, likely malignant.",
}
# Study indices whose synthetic persons are all distinct (no repeat visit among them).
CLEAN_INDICES = (0, 1, 2, 3)


def _study(index: int, patient_id: str, date: dt.date) -> Study:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = generate_study(index, 0, "small")[0]
    study.patient = Patient(id=patient_id, sex=study.patient.sex, height_m=study.patient.height_m,
                            weight_kg=study.patient.weight_kg)
    study.study_date = date
    study.key = f"{date.year}_{date.month:02d}_{date.day:02d}_{patient_id}"
    return study


def write_clean_root(root: Path) -> list[str]:
    """Four distinct synthetic studies in the table layout; the first carries the hand-written
    Vietnamese and English reports. Returns the study keys."""
    studies = [_study(i, f"patient_{i}", dt.date(2017, 3 + i, 5)) for i in CLEAN_INDICES]
    studies[0].report, studies[0].report_en = copy.deepcopy(REPORT_VI), copy.deepcopy(REPORT_EN)
    rows = [write_vimed_study(s, root, suv_per_unit=SUV_PER_UNIT) for s in studies]
    write_metadata_csv(rows, root)
    return [s.key for s in studies]


def _with_pet(study: Study, pet: np.ndarray) -> Study:
    study.pet = Volume(np.ascontiguousarray(pet, dtype=np.float32), study.pet.spacing, study.pet.unit)
    return study


def write_defect_root(root: Path) -> dict[str, str]:
    """One study per planted defect (plus the studies a defect needs a partner in); returns kind -> key."""
    planted: dict[str, str] = {}
    studies: list[Study] = []
    rows_extra: list[dict] = []
    files_after: list = []
    index = iter(range(10, 60))

    def new(kind: str | None, month: int = 3, day: int = 1) -> Study:
        i = next(index)
        study = _study(i, f"patient_{i}", dt.date(2017, month, day))
        studies.append(study)
        if kind:
            planted[kind] = study.key
        return study

    base = new(None)  # the original of both duplicates
    identical = new("duplicate_study")  # identical voxels to `base`
    identical.ct, identical.pet = copy.deepcopy(base.ct), copy.deepcopy(base.pet)
    near = new(None)  # near-identical: `base` with noise, planted under its own kind label below
    rng = np.random.default_rng(0)
    near.ct = Volume((base.ct.array + rng.integers(-3, 4, base.ct.array.shape)).astype(np.int16), base.ct.spacing, base.ct.unit)
    _with_pet(near, base.pet.array * np.float32(1.02))
    planted["duplicate_study_near"] = near.key
    _with_pet(new("constant_volume"), np.zeros_like(studies[-1].pet.array))
    same = new("same_array_twice")
    files_after.append(("copy_ct_to_pet", same))
    moved = new("pet_ct_mismatch")
    _with_pet(moved, np.roll(moved.pet.array, moved.pet.array.shape[2] // 3, axis=2))
    flipped = new("direction_disagreement")
    _with_pet(flipped, flipped.pet.array[::-1])
    rescaled = new("ct_not_hu")
    rescaled.ct = Volume((rescaled.ct.array.astype(np.int32) - 1024).astype(np.int16), rescaled.ct.spacing, rescaled.ct.unit)
    clipped = new("pet_saturated")
    _with_pet(clipped, np.minimum(clipped.pet.array, np.percentile(clipped.pet.array[clipped.pet.array > 0], 99)))
    short = new("truncated_study")
    short.ct = Volume(short.ct.array[:30].copy(), short.ct.spacing, short.ct.unit)
    _with_pet(short, short.pet.array[:30])
    files_after.append(("truncate_ct_file", new("unreadable_study")))
    empty = new("empty_section")
    empty.report.sections[CHEST] = ""
    english_vi = new("wrong_language")
    english_vi.report = Report(sections={HEAD_NECK: REPORT_EN["Findings"]["Head - Neck"], CHEST: REPORT_EN["Findings"]["Chest"],
                                         ABDOMEN_PELVIS: REPORT_EN["Findings"]["Abdomen - Pelvis"],
                                         MUSCULOSKELETAL: REPORT_EN["Findings"]["Musculoskeletal"]},
                               impression=REPORT_EN["Impression"])
    disagree = new("en_vi_disagreement")
    disagree.report = copy.deepcopy(REPORT_VI)
    disagree.report_en = copy.deepcopy(REPORT_EN)
    disagree.report_en["Findings"]["Chest"] = disagree.report_en["Findings"]["Chest"].replace("SUVmax 5.2", "SUVmax 52")
    # header-level defects
    first_visit = new(None, month=3)
    second = new("split_leakage", month=12)  # the same person, in the test month
    second.patient = copy.deepcopy(first_visit.patient)
    second.key = f"2017_12_01_{first_visit.patient.id}"
    planted["split_leakage"] = first_visit.key  # the finding names the earliest visit, the later one related
    planted["split_leakage_related"] = second.key
    no_sex = new("missing_field")
    no_sex.patient.sex = None
    heavy = new("implausible_metadata")
    heavy.patient.height_m, heavy.patient.weight_kg = 1.73, 11.0
    files_after.append(("remove_pet", new("missing_volume")))
    files_after.append(("remove_report", new("missing_report")))
    same_day = new(None, month=4, day=9)
    other = new("duplicate_person_date", month=4, day=9)

    rows = [write_vimed_study(s, root, suv_per_unit=SUV_PER_UNIT) for s in studies]
    by_key = {s.key: row for s, row in zip(studies, rows)}
    by_key[other.key]["name"] = same_day.patient.id  # same id and date, different files
    planted["duplicate_person_date"] = f"{same_day.key}_2"
    twice = dict(by_key[base.key], name="patient_dup")  # a second row over the base study's files
    rows_extra.append(twice)
    planted["duplicate_images"] = ""  # a skipped row has no study key
    rows_extra.append(dict(by_key[base.key], name="patient_bad", ct_path="elsewhere/ct.npz", pet_path="elsewhere/pet.npz"))
    planted["bad_row"] = ""
    write_metadata_csv(rows + rows_extra, root)
    for action, study in files_after:
        date = study.study_date
        rel = layout_paths(date.year, date.month, date.day, study.patient.id)
        if action == "copy_ct_to_pet":
            shutil.copyfile(root / rel["ct"], root / rel["pet"])
        elif action == "truncate_ct_file":
            data = (root / rel["ct"]).read_bytes()
            (root / rel["ct"]).write_bytes(data[: len(data) // 2])
        elif action == "remove_pet":
            (root / rel["pet"]).unlink()
        elif action == "remove_report":
            (root / rel["report"]).unlink()
    return planted
