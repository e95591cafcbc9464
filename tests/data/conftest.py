"""A tiny ViMed-layout cohort of hand-made phantoms, written once per session, and one build of it.

Six studies (2018): months 3, 5 (train), 10 (val), 11 and 12 (test); the month-12 study is a
repeat visit of the month-3 person (same id, sex, height, weight within tolerance), i.e. a
temporal-split leak; one study is stored feet-first without saying so; one CT npz is truncated.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging"))  # the shared phantom

from phantom import CT_SPACING, make_phantom  # noqa: E402

from vipet.schema import ABDOMEN_PELVIS, CHEST, HEAD_NECK, MUSCULOSKELETAL, Report  # noqa: E402

TARGET = (16, 32, 32)
REPORT = Report(
    sections={
        HEAD_NECK: "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não.",
        CHEST: "Khối mờ thùy dưới phổi phải, kích thước 40 x 40 mm, tăng chuyển hóa FDG (SUVmax: 9,0).",
        ABDOMEN_PELVIS: "Hình ảnh bắt xạ theo đặc điểm sinh lý ở bàng quang.",
        MUSCULOSKELETAL: "Chưa phát hiện hình ảnh tăng chuyển hóa FDG bất thường ở hệ thống cơ xương.",
    },
    impression="Khối mờ phổi phải tăng chuyển hóa FDG, nhiều khả năng ác tính.",
)
# (month, day, id, sex, height, weight, stored head first, metadata says head_first)
STUDIES = [
    (3, 2, "patient_1", "M", 1.70, 65.0, True, True),
    (5, 7, "patient_2", "F", 1.55, 50.0, False, None),
    (10, 9, "patient_3", "M", 1.62, 58.0, True, True),
    (11, 4, "patient_4", "F", 1.58, 49.0, True, True),
    (12, 1, "patient_1", "M", 1.71, 62.0, True, True),
    (12, 15, "patient_5", "M", 1.66, 70.0, True, True),
]
CORRUPT_KEY = "2018_12_15_patient_5"


def write_cohort(root: Path) -> dict[str, dict]:
    from vipet.io.vimed import write_metadata_csv, write_vimed_study

    rows, truth = [], {}
    for n, (month, day, pid, sex, height, weight, stored_head_first, said) in enumerate(STUDIES):
        study, phantom = make_phantom(stored_head_first, detected_unknown=said is None, seed=n,
                                      key=f"2018_{month:02d}_{day:02d}_{pid}")
        study.patient.id, study.patient.sex = pid, sex
        study.patient.height_m, study.patient.weight_kg = height, weight
        study.study_date = dt.date(2018, month, day)
        study.report = REPORT
        rows.append(write_vimed_study(study, root, suv_per_unit=0.001))
        centre = [c / s - 0.5 for c, s in zip(phantom.lesion_mm, CT_SPACING)]
        if not stored_head_first:
            centre[0] = study.ct.shape[0] - 1 - centre[0]
        truth[study.key] = {"key": study.key, "head_first": stored_head_first, "lesions": [{
            "kind": "lung_mass", "region": "chest", "organ": "lung", "side": "right", "suv_max": 9.0,
            "center_ct_index": centre, "expert": {"Vị trí của khối u, tổn thương, bất thường": "thùy dưới phổi phải"},
        }]}
    write_metadata_csv(rows, root)
    (root / "truth.jsonl").write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in truth.values()),
                                      encoding="utf-8")
    corrupt = root / next(r["ct_path"] for r in rows if r["name"] == "patient_5")
    corrupt.write_bytes(corrupt.read_bytes()[:200])
    return truth


@pytest.fixture(scope="session")
def cohort(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cohort")
    write_cohort(root)
    return root


@pytest.fixture(scope="session")
def built(cohort, tmp_path_factory) -> tuple[Path, dict]:
    """One finished build of the cohort (in-process), shared by read-only tests."""
    from vipet.data.build import build_dataset
    from vipet.data.config import BuildConfig

    out = tmp_path_factory.mktemp("built")
    report = build_dataset(cohort, out, BuildConfig(target_shape=TARGET), workers=1, progress=False)
    return out, report
