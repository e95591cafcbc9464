"""Reviews out of the database: official expert JSON files per study, and a CSV of sentence labels.

The expert files are what `vipet evaluate --expert` and the clinical F1 read, so they take the exact
form of the official test set (`../shared/data/real/expert/`): one file per study named
`PETCT_{year}_THANG {month}_{day}_patient_{n}_REPORT_patient_{n}.json`, holding a JSON list of
lesion objects with the six expert keys. The lesions are written as stored (key order, `hoá`/`hóa`
spelling, SUVmax int, float or text), in the layout the official files were written in: UTF-8,
four-space indent, CRLF line ends, no final newline (17 of the 80 official files are byte for byte
that form; the rest were hand-edited afterwards and differ only in spacing).

The file name is rebuilt from the digits of the item's study: an official file name (or stem) and
a ViMed-PET path (`PETCT2018/THANG 11/reports/day_02_patient_637.json`) keep their digits as
written, so the original name comes back exactly; a study key (`2018_11_02_patient_637`) has lost
whether the source zero-padded the day, and is written unpadded (the form of 93% of the cohort's
files; `vipet evaluate --expert` reads both). Only digits and fixed text reach the name, so it can
never leave the output folder. A study in no such form (a DICOM study whose id is not
`patient_<n>`) has no official name: it is reported and skipped, and the other studies are written.
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from pathlib import Path
from typing import Callable

from vipet.eval.expert import study_key_from_filename
from vipet.fsutil import atomic_write_bytes, atomic_write_text
from vipet.review.store import ReviewStore

CSV_COLUMNS: tuple[str, ...] = ("item_id", "study", "reviewer", "revision", "index", "sentence", "label", "category")

_NAME_RE = re.compile(r"^PETCT_(\d{4})_THANG (\d{1,2})_(\d{1,2})_patient_(\d+)_REPORT_patient_(\d+)(?:\.json)?$")
_PATH_RE = re.compile(r"(?:^|/)PETCT(\d{4})/THANG (\d{1,2})/[^/]+/day_(\d{1,2})_patient_(\d+)(?:\.[A-Za-z0-9.]+)?$")
_KEY_RE = re.compile(r"^(\d{4})_(\d{2})_(\d{2})_patient_(\d+)$")


class ReviewExportWarning(UserWarning):
    """A study was skipped or resolved during an export (the message says which and why)."""


def expert_file_name(study: str) -> str | None:
    """The official expert file name of a study (module docstring), None when it has none."""
    text = study.strip().replace("\\", "/")
    match = _NAME_RE.match(text)
    if match is not None and match.group(4) == match.group(5):
        year, month, day, patient = match.groups()[:4]
    elif (match := _PATH_RE.search(text)) is not None:
        year, month, day, patient = match.groups()
    elif (match := _KEY_RE.match(text)) is not None:
        year, month, day, patient = match.group(1), str(int(match.group(2))), str(int(match.group(3))), match.group(4)
    else:
        return None
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return None
    return f"PETCT_{year}_THANG {month}_{day}_patient_{patient}_REPORT_patient_{patient}.json"


def expert_json(lesions: list[dict]) -> bytes:
    """A lesion list in the official files' layout (module docstring)."""
    return json.dumps(lesions, ensure_ascii=False, indent=4).replace("\n", "\r\n").encode("utf-8")


def _warn(message: str) -> None:
    warnings.warn(message, ReviewExportWarning, stacklevel=3)


def export_expert(store: ReviewStore, out_dir: str | Path, reviewer: str,
                  on_problem: Callable[[str], None] | None = None) -> list[Path]:
    """Write the reviewer's current lesion list of every reviewed study as an official expert file.

    A study reviewed through several items (reports of several models) has one lesion list per
    item; the lesion list describes the study, so the one saved last is the reviewer's current
    view and is written, and differing earlier lists are reported. Problems (those, and studies
    without an official name) go to `on_problem` (default: a `ReviewExportWarning`). Each file is
    written atomically; a rerun rewrites the same bytes. Returns the files written, sorted.
    """
    report = on_problem or _warn
    out_dir = Path(out_dir)
    # By study key, so two spellings of one study (padded day or not) still make one file.
    chosen: dict[str, tuple[str, str, str, list[dict]]] = {}  # key -> (saved_at, item_id, file name, lesions)
    variants: dict[str, set[str]] = {}
    for item, review in store.latest_reviews(reviewer):
        name = expert_file_name(item.study)
        if name is None:
            report(f"item {item.item_id!r}: study {item.study!r} has no official expert file name "
                   "(needs a study key YYYY_MM_DD_patient_<n> or a ViMed-PET path); skipped")
            continue
        key = study_key_from_filename(name) or name
        entry = (review.saved_at, item.item_id, name, review.lesions)
        previous = chosen.get(key)
        if previous is None or entry[:2] > previous[:2]:
            chosen[key] = entry
        variants.setdefault(key, set()).add(json.dumps(review.lesions, ensure_ascii=False))
    written = []
    for key in sorted(chosen, key=lambda k: chosen[k][2]):
        saved_at, item_id, name, lesions = chosen[key]
        if len(variants[key]) > 1:
            report(f"{name}: {reviewer!r} saved {len(variants[key])} different lesion lists for this study "
                   f"through several items; wrote the latest (item {item_id!r}, saved {saved_at})")
        written.append(atomic_write_bytes(out_dir / name, expert_json(lesions), root=out_dir))
    return written


def export_sentence_labels(store: ReviewStore, csv_path: str | Path, all_revisions: bool = False) -> Path:
    """Write every reviewer's sentence labels as CSV (`CSV_COLUMNS`), items in order, then reviewer, then index.

    By default only each reviewer's current (latest) revision of an item; `all_revisions` writes the
    whole edit history. `category` is empty for correct sentences. Written atomically, UTF-8.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item, latest in store.latest_reviews():
        reviews = store.history(item.item_id, latest.reviewer) if all_revisions else [latest]
        for review in reviews:
            for label in review.sentences:
                writer.writerow([item.item_id, item.study, review.reviewer, review.revision, label.index,
                                 label.sentence, label.label, label.category or ""])
    return atomic_write_text(Path(csv_path), buffer.getvalue())
