"""Who is scanned when: patient, diagnosis and study date of each synthetic study.

Everything is a pure function of (seed, index), so studies can be generated in any order, in
parallel, or resumed. The cohort reproduces the real cohort's traps on purpose: ids are reused
(a repeat visit of the same person, or a different person given the same id label in another
year), and dates follow the years and months of ViMed-PET so the paper's temporal split (2017 and
2019: val month 11, test 12; 2018 and 2023: val 10, test 11-12) has train, val and test studies
in any cohort of five or more, and every (year, split) pair in any cohort of twenty.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from vipet.synth.lesions import DIAGNOSES, DIAGNOSIS_WEIGHTS

YEARS = (2017, 2018, 2019, 2023)
# Months with studies in the real cohort, by split of the paper's temporal protocol.
MONTHS: dict[int, dict[str, tuple[int, ...]]] = {
    2017: {"train": (8, 9, 10), "val": (11,), "test": (12,)},
    2018: {"train": (1, 2, 3, 4, 7, 8, 9), "val": (10,), "test": (11, 12)},
    2019: {"train": (5, 6, 10), "val": (11,), "test": (12,)},
    2023: {"train": (1, 2, 3, 4, 5, 6, 7, 9), "val": (10,), "test": (11, 12)},
}
SPLIT_CYCLE = ("train", "train", "train", "val", "test")
REUSE_PROBABILITY = 0.08
HEAD_FIRST_PROBABILITY = 0.8

# Independent random streams of one study.
STREAM_PLAN, STREAM_PERSON, STREAM_ANATOMY, STREAM_FINDINGS, STREAM_NOISE, STREAM_REPORT, STREAM_VQA = range(7)


def study_rng(seed: int, index: int, stream: int) -> np.random.Generator:
    """The RNG of one stream of one study: independent of every other study and stream."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    return np.random.default_rng([seed, index, stream])


@dataclass(frozen=True)
class Person:
    person_id: str
    sex: str
    height_m: float
    weight_kg: float
    diagnosis: str


@dataclass(frozen=True)
class StudyPlan:
    """The non-image facts of one study."""

    index: int
    patient_id: str
    person: Person
    study_date: dt.date
    split_hint: str  # the split the paper's temporal protocol puts this date in
    head_first: bool
    repeat_of: int | None  # index of the earlier study whose id this one reuses
    same_person: bool  # True for a repeat visit, False for a different person with a reused id

    @property
    def key(self) -> str:
        d = self.study_date
        return f"{d.year}_{d.month:02d}_{d.day:02d}_{self.patient_id}"


def _person(seed: int, index: int) -> Person:
    rng = study_rng(seed, index, STREAM_PERSON)
    sex = "M" if rng.random() < 0.66 else "F"
    height = float(np.clip(rng.normal(1.66 if sex == "M" else 1.55, 0.06), 1.45, 1.86))
    bmi = float(np.clip(rng.normal(22.5, 3.2), 16.5, 34.0))
    diagnosis = str(rng.choice(DIAGNOSES, p=DIAGNOSIS_WEIGHTS))
    return Person(f"person_{index}", sex, round(height, 2), float(round(bmi * height**2)), diagnosis)


def _reuses_id(seed: int, index: int) -> bool:
    """Whether study `index` takes the id of study `index - 1` (never two in a row, so every id
    appears at most twice and the two dates always differ in year)."""
    if index == 0:
        return False
    draw = study_rng(seed, index, STREAM_PLAN).random()
    return draw < REUSE_PROBABILITY and not _reuses_id(seed, index - 1)


def plan_study(seed: int, index: int) -> StudyPlan:
    """Patient, date and orientation of study `index` of the cohort drawn with `seed`."""
    rng = study_rng(seed, index, STREAM_PLAN)
    rng.random()  # the draw `_reuses_id` consumed
    year = YEARS[index % len(YEARS)]
    split = SPLIT_CYCLE[index % len(SPLIT_CYCLE)]  # 4 years x 5 slots are coprime: 20 studies cover all pairs
    month = int(rng.choice(MONTHS[year][split]))
    day = int(rng.integers(1, 29))
    head_first = bool(rng.random() < HEAD_FIRST_PROBABILITY)
    person = _person(seed, index)
    patient_id, repeat_of, same_person = f"patient_{index}", None, False
    if _reuses_id(seed, index):
        repeat_of = index - 1
        patient_id = f"patient_{repeat_of}"
        if rng.random() < 0.5:  # a repeat visit: same body, weight drifts, same disease
            earlier = _person(seed, repeat_of)
            weight = float(round(earlier.weight_kg + rng.uniform(-4.0, 4.0)))
            person = Person(earlier.person_id, earlier.sex, earlier.height_m, weight, earlier.diagnosis)
            same_person = True
    return StudyPlan(index, patient_id, person, dt.date(year, month, day), split, head_first, repeat_of, same_person)
