"""Train/val/test splits at the level of the person, and a leakage check that fixes what it finds.

Who is the same person? ViMed-PET patient ids are labels, not identities: the same id names
different people in different years, and one person returns for repeat visits. Two studies are
taken to be the same person when they share the id label, their recorded sex agrees, height
differs by at most `height_tol_m` (3 cm: measurement noise) and weight by at most
`weight_tol_frac` (12 %: weight changes between visits of cancer patients). A missing sex, height
or weight never separates two studies (when in doubt, assume one person: a false merge costs a
little balance, a false split leaks). Persons are the connected groups of that relation.

Leak fix rule ("earliest", the default): every visit of a person spread over several splits
moves to the split of that person's earliest visit, so a model is never tested on a person it
trained on and later visits never pull an earlier visit forward. Rule "train" moves them all to
train instead. Every move is reported.

Temporal split (the paper, DOMAIN.md): 2017 and 2019 val = month 11, test = month 12; 2018 and
2023 val = month 10, test = months 11-12; any other year follows the 2018/2023 rule.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from vipet.errors import BuildError

TRAIN, VAL, TEST = "train", "val", "test"
# year -> (validation months, test months)
TEMPORAL_RULES: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {
    2017: ((11,), (12,)),
    2018: ((10,), (11, 12)),
    2019: ((11,), (12,)),
    2023: ((10,), (11, 12)),
}
DEFAULT_RULE = ((10,), (11, 12))
SPLIT_MODES = ("temporal", "random", "kfold")
FIX_RULES = ("earliest", "train")


@dataclass
class SplitStudy:
    """What a split needs to know about one study."""

    key: str
    patient_id: str = ""
    sex: str | None = None
    height_m: float | None = None
    weight_kg: float | None = None
    year: int | None = None
    month: int | None = None
    day: int | None = None

    def date_key(self) -> tuple[int, int, int, str]:
        return (self.year or 0, self.month or 0, self.day or 0, self.key)


@dataclass
class SplitResult:
    """Assignment per study key, folds for k-fold, persons, and the leakage audit."""

    mode: str
    assignment: dict[str, str]
    person: dict[str, str]
    fold: dict[str, int] = field(default_factory=dict)
    leaks_found: list[dict[str, Any]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)
    leaks_after: list[dict[str, Any]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        counts: dict[str, int] = defaultdict(int)
        for split in self.assignment.values():
            counts[split] += 1
        visits: dict[str, int] = defaultdict(int)
        for person in self.person.values():
            visits[person] += 1
        return {
            "mode": self.mode,
            "counts": dict(sorted(counts.items())),
            "studies": len(self.assignment),
            "persons": len(visits),
            "persons_with_repeat_visits": sum(1 for n in visits.values() if n > 1),
            "leaks_found": self.leaks_found,
            "moves": self.moves,
            "leaks_after_fix": self.leaks_after,
            "identity_rule": "same id label, same sex, |dheight| <= 0.03 m, |dweight| <= 12 %",
        }


def same_person(a: SplitStudy, b: SplitStudy, height_tol_m: float = 0.03, weight_tol_frac: float = 0.12) -> bool:
    """The identity rule of the module docstring."""
    if (a.patient_id or "") != (b.patient_id or ""):
        return False
    if a.sex and b.sex and a.sex.upper() != b.sex.upper():
        return False
    if a.height_m and b.height_m and abs(a.height_m - b.height_m) > height_tol_m + 1e-9:
        return False
    if a.weight_kg and b.weight_kg:
        if abs(a.weight_kg - b.weight_kg) > weight_tol_frac * max(a.weight_kg, b.weight_kg) + 1e-9:
            return False
    return True


def person_ids(studies: Iterable[SplitStudy], **tolerances: float) -> dict[str, str]:
    """key -> person id (`<id label>#<n>`, n counting the distinct people behind one label)."""
    by_label: dict[str, list[SplitStudy]] = defaultdict(list)
    for study in studies:
        by_label[study.patient_id or study.key].append(study)
    out: dict[str, str] = {}
    for label, group in sorted(by_label.items()):
        group = sorted(group, key=SplitStudy.date_key)
        parent = list(range(len(group)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                if same_person(group[i], group[j], **tolerances):
                    parent[find(j)] = find(i)
        numbering: dict[int, int] = {}
        for i, study in enumerate(group):  # number people by their earliest visit
            root = find(i)
            numbering.setdefault(root, len(numbering))
            out[study.key] = f"{label}#{numbering[root]}"
    return out


def temporal_split(studies: Iterable[SplitStudy]) -> dict[str, str]:
    """The paper's month-based split; a study without year or month goes to train."""
    out = {}
    for study in studies:
        val_months, test_months = TEMPORAL_RULES.get(study.year or -1, DEFAULT_RULE)
        if study.month in test_months:
            out[study.key] = TEST
        elif study.month in val_months:
            out[study.key] = VAL
        else:
            out[study.key] = TRAIN
    return out


def random_split(studies: list[SplitStudy], person: dict[str, str], seed: int,
                 fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, str]:
    """Persons shuffled with `seed` and dealt to train/val/test until each holds its share of studies."""
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) <= 0:
        raise BuildError(f"split fractions must be three non-negative numbers, got {fractions}")
    members = _members(studies, person)
    order = sorted(members)
    np.random.default_rng(seed).shuffle(order)
    total = len(studies)
    quota = np.array(fractions, dtype=np.float64) / sum(fractions) * total
    filled = np.zeros(3)
    out = {}
    names = (TRAIN, VAL, TEST)
    for pid in order:
        # the split furthest below its quota takes the next person
        target = int(np.argmax(quota - filled))
        for key in members[pid]:
            out[key] = names[target]
        filled[target] += len(members[pid])
    return out


def kfold_split(studies: list[SplitStudy], person: dict[str, str], k: int, seed: int) -> dict[str, int]:
    """key -> fold in [0, k): persons shuffled with `seed`, each to the fold with fewest studies."""
    if k < 2:
        raise BuildError(f"k-fold needs k >= 2, got {k}")
    members = _members(studies, person)
    order = sorted(members)
    np.random.default_rng(seed).shuffle(order)
    sizes = [0] * k
    out = {}
    for pid in order:
        fold = int(np.argmin(sizes))
        for key in members[pid]:
            out[key] = fold
        sizes[fold] += len(members[pid])
    return out


def find_leaks(assignment: dict[str, str], person: dict[str, str]) -> list[dict[str, Any]]:
    """Persons whose studies sit in more than one split."""
    splits: dict[str, dict[str, str]] = defaultdict(dict)
    for key, split in assignment.items():
        splits[person[key]][key] = split
    return [
        {"person": pid, "studies": dict(sorted(keys.items()))}
        for pid, keys in sorted(splits.items())
        if len(set(keys.values())) > 1
    ]


def fix_leaks(assignment: dict[str, str], person: dict[str, str], studies: list[SplitStudy],
              rule: str = "earliest") -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Move every leaking person into one split (see the module docstring); returns (assignment, moves)."""
    if rule not in FIX_RULES:
        raise BuildError(f"unknown leak fix rule {rule!r}; use one of {FIX_RULES}")
    by_key = {s.key: s for s in studies}
    fixed = dict(assignment)
    moves = []
    for leak in find_leaks(assignment, person):
        keys = sorted(leak["studies"], key=lambda k: by_key[k].date_key())
        target = assignment[keys[0]] if rule == "earliest" else TRAIN
        for key in keys:
            if fixed[key] != target:
                moves.append({"key": key, "person": leak["person"], "from": fixed[key], "to": target})
                fixed[key] = target
    return fixed, moves


def make_splits(studies: list[SplitStudy], mode: str = "temporal", *, seed: int = 0, k: int = 5,
                fix_rule: str = "earliest") -> SplitResult:
    """Assign every study, audit leakage, fix it, and audit again."""
    if mode not in SPLIT_MODES:
        raise BuildError(f"unknown split mode {mode!r}; use one of {SPLIT_MODES}")
    person = person_ids(studies)
    folds: dict[str, int] = {}
    if mode == "temporal":
        assignment = temporal_split(studies)
    elif mode == "random":
        assignment = random_split(studies, person, seed)
    else:
        folds = kfold_split(studies, person, k, seed)
        assignment = {key: f"fold{fold}" for key, fold in folds.items()}
    leaks = find_leaks(assignment, person)
    rule = "earliest" if mode == "kfold" else fix_rule  # a fold has no "train" to move into
    fixed, moves = fix_leaks(assignment, person, studies, rule) if leaks else (assignment, [])
    if folds:
        folds = {key: int(split[4:]) for key, split in fixed.items()}
    return SplitResult(mode, fixed, person, folds, leaks, moves, find_leaks(fixed, person))


def _members(studies: list[SplitStudy], person: dict[str, str]) -> dict[str, list[str]]:
    members: dict[str, list[str]] = defaultdict(list)
    for study in studies:
        members[person[study.key]].append(study.key)
    return members
