"""The ViMed-PET folder layout and `metadata.csv`: paths, dates, keys and row parsing.

Kept apart from the volume reader so discovery over the 2,757-row table never imports or opens
an array: it parses rows into `StudyRef`s, and a bad row becomes a problem record, not an abort.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator

from vipet.errors import ReadError, UnsafePathError
from vipet.fsutil import atomic_write_text, inside
from vipet.io.plausibility import height_problem, weight_problem
from vipet.io.ref import VIMED, StudyRef, assign_unique_keys, study_key

METADATA_NAME = "metadata.csv"
REAL_COLUMNS = ("name", "sex", "height", "weight", "year", "pet_path", "ct_path", "report_path", "report_en_path")
# Columns only the synthetic cohort writes; the reader honours them when present.
EXTRA_COLUMNS = ("suv_per_unit", "ct_spacing", "pet_spacing", "head_first")

# ViMed-PET records no voxel size. A whole-body PET/CT field of view is about 500 mm; the CT is a
# 512 matrix and the PET a 256 matrix over it; slices are taken as 3 mm. Every study read with
# these values carries a note saying so.
DEFAULT_FOV_MM = 500.0
DEFAULT_SLICE_MM = 3.0
SPACING_ASSUMPTION = (
    f"voxel spacing assumed (ViMed-PET records none): {DEFAULT_FOV_MM:g} mm field of view over the "
    f"matrix, {DEFAULT_SLICE_MM:g} mm slices"
)

_STUDY_PATH = re.compile(
    r"PETCT(?P<year>\d{4})/THANG (?P<month>\d{1,2})/(?P<kind>PET|CT|reports|reports_en)/"
    r"day_(?P<day>\d{1,2})_(?P<id>[^/]+?)\.(?:npz|npy|json)$"
)


def parse_study_path(path: str | Path) -> dict[str, Any] | None:
    """Year, month, day and patient id from a layout path (`PETCT2017/THANG 12/CT/day_27_patient_399.npz`)."""
    text = str(path).replace("\\", "/")
    match = _STUDY_PATH.search(text)
    if match is None:
        return None
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return {"year": year, "month": month, "day": day, "id": match["id"], "kind": match["kind"]}


def layout_paths(year: int, month: int, day: int, patient_id: str, volume_ext: str = "npz") -> dict[str, str]:
    """Relative POSIX paths of one study's files, exactly as the real cohort names them
    (`volume_ext` "npy" for the packagings that ship bare arrays)."""
    folder = PurePosixPath(f"PETCT{year}") / f"THANG {month}"
    stem = f"day_{day}_{patient_id}"
    return {
        "pet": str(folder / "PET" / f"{stem}.{volume_ext}"),
        "ct": str(folder / "CT" / f"{stem}.{volume_ext}"),
        "report": str(folder / "reports" / f"{stem}.json"),
        "report_en": str(folder / "reports_en" / f"{stem}.json"),
    }


def sibling_paths(ct_npz: Path) -> dict[str, Path]:
    """PET, report and English report beside a CT volume in the layout (`.../CT/x.npz` -> `.../PET/x.npz`;
    an `.npy` CT gets an `.npy` PET)."""
    ct_npz = Path(ct_npz)
    month_dir = ct_npz.parent.parent
    stem = ct_npz.stem
    return {
        "ct": ct_npz,
        "pet": month_dir / "PET" / f"{stem}{ct_npz.suffix or '.npz'}",
        "report": month_dir / "reports" / f"{stem}.json",
        "report_en": month_dir / "reports_en" / f"{stem}.json",
    }


def parse_spacing(text: Any, what: str) -> tuple[float, float, float] | None:
    """A "z,y,x" spacing string (or a 3-sequence) in mm; empty means unknown."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    parts = text.replace(";", ",").split(",") if isinstance(text, str) else list(text)
    try:
        values = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be 'z,y,x' in mm, got {text!r}") from None
    if len(values) != 3 or not all(v > 0 for v in values):
        raise ValueError(f"{what} must be three positive numbers 'z,y,x', got {text!r}")
    return values  # type: ignore[return-value]


def format_spacing(spacing: Iterable[float]) -> str:
    return ",".join(f"{float(s):.6g}" for s in spacing)


def parse_bool(text: Any, what: str) -> bool | None:
    if text is None or isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value == "":
        return None
    if value in ("1", "true", "yes", "y", "t"):
        return True
    if value in ("0", "false", "no", "n", "f"):
        return False
    raise ValueError(f"{what} must be true/false, got {text!r}")


def _optional_float(text: Any, what: str) -> float | None:
    value = ("" if text is None else str(text)).strip().replace(",", ".")
    if value == "" or value.lower() in ("nan", "none", "null"):
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what} is not a number: {text!r}") from None
    if number <= 0:
        raise ValueError(f"{what} must be positive, got {text!r}")
    return number


class RowError(ReadError):
    """A metadata row that is skipped, with the `kind` discovery lists it under ("bad_row", or
    "duplicate_images" for a second row naming files an earlier row already names)."""

    def __init__(self, reason: str, path: str | Path | None = None, kind: str = "bad_row"):
        super().__init__(reason, path)
        self.kind = kind


def row_to_ref(row: dict[str, Any], root: Path, line: int | None = None,
               inside_root: Callable[[str], bool] | None = None) -> StudyRef:
    """One metadata row -> `StudyRef`; raises ValueError with the reason when the row is unusable.

    Every path must lie inside `root` (a `../` or absolute path, or a link leading out, is refused:
    the table must not make the build read files from elsewhere). An implausible height or weight
    (161 m, 53,000 kg) is dropped to unknown with a note in `meta["notes"]`, so the leakage check
    never compares nonsense; the images are still usable, so the row is kept.
    """
    if None in row or any(row.get(c) is None for c in REAL_COLUMNS):
        raise ValueError(f"expected {len(REAL_COLUMNS)} columns, got a row of a different length")
    name = str(row["name"]).strip()
    if not name:
        raise ValueError("empty patient name")
    ct_rel, pet_rel = str(row["ct_path"]).strip(), str(row["pet_path"]).strip()
    if not ct_rel or not pet_rel:
        raise ValueError("ct_path and pet_path are required")
    where = parse_study_path(ct_rel)
    if where is None:
        raise ValueError(f"ct_path {ct_rel!r} is not in the PETCT{{year}}/THANG {{month}}/CT/day_{{d}}_... layout")
    year_text = str(row["year"]).strip()
    if year_text and year_text != str(where["year"]):
        raise ValueError(f"year column {year_text!r} disagrees with ct_path year {where['year']}")
    sex = str(row["sex"]).strip().upper() or None
    if sex not in (None, "M", "F"):
        raise ValueError(f"sex must be M, F or empty, got {row['sex']!r}")
    rels = {"ct": ("ct_path", ct_rel), "pet": ("pet_path", pet_rel)}
    for role, column in (("report", "report_path"), ("report_en", "report_en_path")):
        if rel := str(row[column]).strip():
            rels[role] = (column, rel)
    check = inside_root or _InsideRoot(root)
    for column, rel in rels.values():
        if not check(rel):
            raise ValueError(f"{column} {rel!r} lies outside the dataset root; refused")
    notes: list[str] = []
    where_row = f"{METADATA_NAME} line {line}" if line is not None else METADATA_NAME
    meta: dict[str, Any] = {
        "id": name,
        "sex": sex,
        "height_m": _plausible(_optional_float(row["height"], "height"), height_problem, where_row, notes),
        "weight_kg": _plausible(_optional_float(row["weight"], "weight"), weight_problem, where_row, notes),
        "year": where["year"],
        "month": where["month"],
        "day": where["day"],
    }
    if (suv := row.get("suv_per_unit")) not in (None, ""):
        factor = _optional_float(suv, "suv_per_unit")
        if factor is not None and not math.isfinite(factor):
            raise ValueError(f"suv_per_unit must be a finite number, got {suv!r}")
        meta["suv_per_unit"] = factor
    for column in ("ct_spacing", "pet_spacing"):
        if (spacing := parse_spacing(row.get(column), column)) is not None:
            meta[column] = spacing
    if (head_first := parse_bool(row.get("head_first"), "head_first")) is not None:
        meta["head_first"] = head_first
    if notes:
        meta["notes"] = notes
    paths = {role: str(root / rel) for role, (_, rel) in rels.items()}
    return StudyRef(key=study_key(where["year"], where["month"], where["day"], name), format=VIMED, paths=paths, meta=meta)


def _plausible(value: float | None, problem_of: Callable[[float | None], str | None], where: str,
               notes: list[str]) -> float | None:
    """`value`, or None with a note naming the row when plausibility finds it impossible."""
    problem = problem_of(value)
    if problem is None:
        return value
    notes.append(f"{where}: {problem}; dropped (treated as unknown)")
    return None


class _InsideRoot:
    """Whether a table path stays inside the root, resolving each folder once (11,000 paths of a
    real table share a few dozen folders) and only the file itself when it is a link."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._folders: dict[str, bool] = {}

    def __call__(self, rel: str) -> bool:
        path = PurePosixPath(rel.replace("\\", "/"))
        if path.is_absolute() or Path(rel).is_absolute() or ".." in path.parts:
            return self._resolves_inside(rel)
        folder = str(path.parent)
        if folder not in self._folders:
            self._folders[folder] = self._resolves_inside(folder)
        if not self._folders[folder]:
            return False
        return not os.path.islink(self.root / rel) or self._resolves_inside(rel)

    def _resolves_inside(self, rel: str) -> bool:
        try:
            inside(self.root, rel)
        except UnsafePathError:
            return False
        return True


def read_metadata(root: Path) -> tuple[list[StudyRef | ReadError], list[dict[str, Any]]]:
    """Every row of `root/metadata.csv` in line order (a `StudyRef`, or a `ReadError` naming the
    line), with the problems of the rows that were kept; never stops early.

    Rows are checked against each other, because a table can list one study twice:
    - a row naming a CT or PET file an earlier row names is skipped (`RowError`, kind
      "duplicate_images", naming both lines; the first row keeps a note): two rows over one image
      would count one person as two and hide a train/test leak;
    - two rows with one key (same name and date, different files) both stay: the later one, in
      line order, is keyed `{key}_2` (see `assign_unique_keys`), each with a note naming the other.
    An implausible height or weight is reported (kind "implausible_metadata") and dropped.
    Undecodable bytes are replaced rather than fatal, so one damaged line costs one study.
    """
    root = Path(root)
    csv_path = root / METADATA_NAME
    try:
        text = csv_path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise ReadError(f"cannot read metadata table ({exc.strerror or exc})", csv_path) from None
    if not text.strip():
        raise ReadError("metadata table is empty (expected a header row with name, ct_path, pet_path)", csv_path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in ("name", "ct_path", "pet_path") if c not in (reader.fieldnames or [])]
    if missing:
        raise ReadError(f"metadata table lacks columns {missing} (header: {reader.fieldnames})", csv_path)
    items: list[StudyRef | ReadError] = []
    problems: list[dict[str, Any]] = []
    inside_root = _InsideRoot(root)
    images: dict[str, tuple[int, StudyRef]] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            items.append(RowError(f"line {reader.line_num}: unreadable row ({exc})", csv_path))
            continue
        line = reader.line_num
        for column in REAL_COLUMNS:
            row.setdefault(column, "")  # tolerate tables without the optional English column
        try:
            ref = row_to_ref(row, root, line, inside_root)
        except ValueError as exc:
            items.append(RowError(f"line {line}: unreadable row ({exc})", csv_path))
            continue
        same = [(role, images[p]) for role in ("ct", "pet") if (p := os.path.normpath(ref.paths[role])) in images]
        if same:
            role, (first_line, first_ref) = same[0]
            items.append(RowError(
                f"line {line}: names the same {role.upper()} file as line {first_line} "
                f"({ref.paths[role]}); one study listed twice would count one person as two; row skipped",
                csv_path, kind="duplicate_images"))
            first_ref.add_note(f"{METADATA_NAME} line {line} names the same images as this study's line "
                               f"{first_line} and was skipped")
            continue
        for role in ("ct", "pet"):
            images[os.path.normpath(ref.paths[role])] = (line, ref)
        ref.meta["line"] = line
        problems.extend({"path": str(csv_path), "key": ref.key, "kind": "implausible_metadata", "reason": note}
                        for note in ref.meta.get("notes", ()))
        items.append(ref)
    problems.extend(assign_unique_keys([item for item in items if isinstance(item, StudyRef)], root))
    return items, problems


def iter_metadata(root: Path) -> Iterator[StudyRef | ReadError]:
    """Every row of `root/metadata.csv` as a ref with a unique key, or a `ReadError` naming the line
    (see `read_metadata`); the problems of kept rows are on each ref's `meta["notes"]`."""
    yield from read_metadata(root)[0]


def write_metadata_csv(rows: Iterable[dict[str, Any]], root: str | Path) -> Path:
    """Write `root/metadata.csv` atomically: the real columns first, then any extra columns used.

    Extra columns (`suv_per_unit`, `ct_spacing`, `pet_spacing`, `head_first`, then any others in
    sorted order) appear only when some row has them, so a table shaped like the real one stays so.
    """
    rows = list(rows)
    present = {k for row in rows for k, v in row.items() if v not in (None, "")}
    extras = [c for c in EXTRA_COLUMNS if c in present]
    extras += sorted(present - set(REAL_COLUMNS) - set(EXTRA_COLUMNS))
    columns = list(REAL_COLUMNS) + extras
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell(row.get(c)) for c in columns})
    return atomic_write_text(Path(root) / METADATA_NAME, buffer.getvalue())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return format_spacing(value)
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)
