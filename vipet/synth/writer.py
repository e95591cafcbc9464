"""Write a synthetic cohort to disk in the ViMed-PET, DICOM or NIfTI layout, resumably.

Each study's files are written atomically by the io writers, then its truth record goes to
`OUT/.synth_parts/study_NNNNN.json`: the record is the proof the study is complete, so a killed
run resumes where it stopped and a rerun with the same arguments redoes nothing. When every study
is done, `truth.jsonl` (sorted by index), `metadata.csv` (ViMed-PET) and `cohort.json` are written
and the parts folder is removed. Same seed and arguments give byte-identical files.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable

from vipet import __version__
from vipet.errors import SynthError
from vipet.fsutil import atomic_write_json, atomic_write_text
from vipet.progress import progress_bar
from vipet.synth.cohort import generate_study
from vipet.synth.scanner import SIZES

FORMATS = ("vimed", "dicom", "nifti")
PARTS_DIR = ".synth_parts"
TRUTH_NAME = "truth.jsonl"
COHORT_NAME = "cohort.json"
PET_RAW_TARGET = 32000.0  # raw units of the hottest voxel, leaving headroom below 32767


def suv_per_unit_for(peak_suv: float) -> float:
    """SUV per raw unit so the hottest voxel stores near 32,000; 6 significant digits survive CSV."""
    factor = float(f"{max(peak_suv, 1.0) / PET_RAW_TARGET:.6g}")
    while peak_suv / factor > 32767:
        factor = float(f"{factor * 1.0001:.6g}")
    return factor


def write_study(study, truth: dict[str, Any], out: Path, fmt: str) -> dict[str, Any]:
    """Write one study's images and report; returns the truth record completed with file paths."""
    record = dict(truth)
    record["format"] = fmt
    if fmt == "vimed":
        from vipet.io.vimed import write_vimed_study

        factor = suv_per_unit_for(float(study.pet.array.max()))
        row = write_vimed_study(study, out, suv_per_unit=factor)
        row.pop("head_first", None)  # the real layout does not say which way slices run: detect it
        record["suv_per_unit"] = factor
        record["metadata_row"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in row.items()}
        record["files"] = {"ct": row["ct_path"], "pet": row["pet_path"], "report": row["report_path"]}
    elif fmt == "dicom":
        from vipet.io.dicom_write import write_dicom_study

        write_dicom_study(study, out / study.key)
        record["files"] = {"folder": study.key}
    elif fmt == "nifti":
        from vipet.io.nifti import write_nifti_study

        ct_path, pet_path = write_nifti_study(study, out / study.key)
        record["files"] = {"ct": str(ct_path.relative_to(out)), "pet": str(pet_path.relative_to(out))}
    else:
        raise SynthError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    write_english_report(truth, out, fmt, record)
    return record


def english_report_path(truth: dict[str, Any], fmt: str, record: dict[str, Any]) -> str:
    """Where a study's English report goes: `reports_en/` beside `reports/` (ViMed-PET), else
    `report_en.json` in the study folder (the sidecar the DICOM and NIfTI readers look for)."""
    if fmt == "vimed":
        report = Path(record["files"]["report"])
        return (report.parent.parent / "reports_en" / report.name).as_posix()
    return f"{truth['key']}/report_en.json"


def write_english_report(truth: dict[str, Any], out: Path, fmt: str, record: dict[str, Any]) -> None:
    """The English report of the same findings (`vipet.synth.report_en`), as a new file only: the
    truth record, `metadata.csv` and every other file keep their bytes, and no RNG is drawn."""
    from vipet.synth.report_en import english_report

    atomic_write_json(out / english_report_path(truth, fmt, record), english_report(truth["lesions"]), root=out)


def _make_one(args: tuple[int, int, str, str, str]) -> tuple[int, dict[str, Any] | None, str | None]:
    """Generate and write study `index`; errors are returned, not raised, so one bad study never
    stops the others."""
    index, seed, fmt, size, out = args
    try:
        study, truth = generate_study(index, seed, size)
        record = write_study(study, truth, Path(out), fmt)
        atomic_write_json(Path(out) / PARTS_DIR / f"study_{index:05d}.json", record, indent=None)
        return index, record, None
    except Exception as exc:  # reported per study; the batch goes on
        return index, None, f"{exc.__class__.__name__}: {exc}"


def _check_params(out: Path, seed: int, fmt: str, size: str, n: int) -> None:
    """Refuse to mix cohorts: an existing cohort folder must have been made with the same arguments."""
    path = out / COHORT_NAME
    if not path.is_file():
        return
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SynthError(f"unreadable cohort description ({exc})", path) from None
    for name, value in (("seed", seed), ("format", fmt), ("size", size)):
        if previous.get(name) != value:
            raise SynthError(f"folder holds a cohort made with {name}={previous.get(name)!r}, not {value!r}; "
                             "use another folder", out)
    if int(previous.get("n", 0)) > n:
        raise SynthError(f"folder holds {previous.get('n')} studies, more than n={n}; use another folder", out)


def _existing_records(out: Path) -> dict[int, dict[str, Any]]:
    """Records of studies already complete: from a finished `truth.jsonl`, then from the parts folder."""
    records: dict[int, dict[str, Any]] = {}
    truth = out / TRUTH_NAME
    if truth.is_file():
        for line in truth.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                records[int(record["index"])] = record
    parts = out / PARTS_DIR
    if parts.is_dir():
        for path in sorted(parts.glob("study_*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            records[int(record["index"])] = record
    return records


def write_cohort(out: str | Path, n: int = 20, seed: int = 0, format: str = "vimed", size: str = "small",
                 workers: int = 1, progress: bool = True,
                 on_study: Callable[[int], None] | None = None) -> Path:
    """Write `n` synthetic studies to `out` (resuming a previous run); returns `out`.

    Raises `SynthError` for bad arguments and, after finishing every other study, when some
    studies failed (the message names them); the cohort files list only the studies that exist.
    """
    if format not in FORMATS:
        raise SynthError(f"unknown format {format!r}; expected one of {FORMATS}")
    if size not in SIZES:
        raise SynthError(f"unknown size {size!r}; expected one of {sorted(SIZES)}")
    if n < 1 or seed < 0 or workers < 1:
        raise SynthError(f"need n >= 1, seed >= 0 and workers >= 1 (got n={n}, seed={seed}, workers={workers})")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SynthError("output path exists and is not a folder", out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent is a file, or no permission: one line, not a traceback
        raise SynthError(f"cannot create the output folder ({exc.strerror or exc})", out) from None
    _check_params(out, seed, format, size, n)
    (out / PARTS_DIR).mkdir(exist_ok=True)
    records = _existing_records(out)
    todo = [i for i in range(n) if i not in records]
    failures: dict[int, str] = {}
    jobs = [(i, seed, format, size, str(out)) for i in todo]
    with progress_bar("synth", n, completed=sum(1 for i in records if i < n), enabled=progress) as advance:
        for index, record, error in _run(jobs, workers):
            if record is not None:
                records[index] = record
            else:
                failures[index] = error or "unknown error"
            advance()
            if on_study:
                on_study(index)
    _finish(out, [records[i] for i in sorted(records) if i < n], seed, format, size, n, failures)
    if failures:
        first = ", ".join(f"study {i}: {msg}" for i, msg in sorted(failures.items())[:3])
        raise SynthError(f"{len(failures)} of {n} studies failed ({first})", out)
    return out


def _run(jobs: list[tuple[int, int, str, str, str]], workers: int) -> Iterable[tuple[int, Any, str | None]]:
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield _make_one(job)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_make_one, jobs)


def _finish(out: Path, records: list[dict[str, Any]], seed: int, fmt: str, size: str, n: int,
            failures: dict[int, str]) -> None:
    """Cohort-level files, written after every study so they always describe complete studies."""
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in records]
    atomic_write_text(out / TRUTH_NAME, "\n".join(lines) + ("\n" if lines else ""))
    if fmt == "vimed":
        from vipet.io.vimed import write_metadata_csv

        write_metadata_csv([r["metadata_row"] for r in records], out)
    atomic_write_json(out / COHORT_NAME, {
        "generator": "vipet.synth", "version": __version__, "seed": seed, "format": fmt, "size": size,
        "n": n, "studies": len(records), "failed": {str(i): msg for i, msg in sorted(failures.items())},
        "truth": TRUTH_NAME,
    })
    if not failures:
        shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
