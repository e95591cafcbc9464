"""`vipet build DATA OUT`: every study of a dataset into the cache, then the manifest and splits.

Studies are independent, so the build is a map over study refs (cheap to pickle: paths and
metadata, never arrays) with a process pool or Ray, each task reading its own files and writing
its own cache folder. Robustness comes from the folder protocol, not from the engine: a study
folder appears only once complete (atomic rename), so a rerun skips what exists (same recipe
fingerprint), removes temporary files and folders a killed run left, and retries what failed.
One bad study never stops the others: its reason goes into `build_report.json`.

`build_report.json` is the one place where every problem of a build is listed: discovery problems
(`discover_problems`), studies that could not be read or were refused, with the notes their reader
made (`failed`), and the notes of every cached study (`notes`: reader notes such as plausibility
warnings or an unreadable report, why SUV is missing, region warnings), counted in `summary`.
The manifest's schema stays fixed: notes live in build_report.json and each study's `meta.json`.
Every write and removal of the build is checked to lie inside OUT (a study key must be one safe
folder name, `cache.study_dir`), and two studies with one key are both refused, never overwritten.
"""

from __future__ import annotations

import os
import resource
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Iterable, Iterator

from vipet import __version__
from vipet.data.cache import META_FILE, cache_root, clean_stale, is_complete, read_meta, study_dir
from vipet.data.config import PIPELINE_VERSION, BuildConfig
from vipet.data.lesions import load_truth
from vipet.data.manifest import manifest_rows, split_study, write_manifest
from vipet.data.process import process_study
from vipet.data.splits import make_splits
from vipet.data.workers import worker_pool
from vipet.errors import BuildError, VipetError
from vipet.fsutil import atomic_dir, atomic_write_json
from vipet.progress import progress_bar

REPORT_FILE = "build_report.json"
SPLITS_FILE = "splits.json"
ENGINES = ("local", "ray")


def build_one(ref: Any, out: str, config_json: dict[str, Any], truth: dict[str, Any] | None,
              loaded: Future | None = None) -> dict[str, Any]:
    """Build one study's cache folder; never raises for a bad study (returns status "failed").

    `loaded` is the study already being read in another thread (`_run`'s read-ahead): its result,
    or the error reading raised, is taken as `load_study(ref)` would give it.
    """
    from vipet.io import load_study

    start = time.perf_counter()
    config = BuildConfig.from_mapping(config_json)
    result: dict[str, Any] = {"key": ref.key, "path": _ref_path(ref), "notes": []}
    study = None
    root = cache_root(Path(out).resolve())  # absolute: every write and removal below is checked inside it
    try:
        study = loaded.result() if loaded is not None else load_study(ref)
        if study.key != ref.key:  # the folder is the discovered key, so the sidecar and manifest say it too
            study.notes.append(f"the reader's key {study.key!r} differs from the discovered key; {ref.key!r} is used")
            study.key = ref.key
        with atomic_dir(study_dir(root.parent, ref.key), root=root) as folder:
            meta = process_study(study, config, folder, truth=truth, source_meta=dict(ref.meta))
            meta.update({
                "format": ref.format,
                "config": config.to_json(),
                "config_fingerprint": config.fingerprint(),
                "code_version": {"vipet": __version__, "pipeline": PIPELINE_VERSION},
            })
            atomic_write_json(folder / META_FILE, meta, root=folder)  # written last: its presence means complete
        result["status"] = "built"
        study = None  # a built study's notes are in its meta.json, read back with every cached one
    except VipetError as exc:
        result.update(status="failed", reason=str(exc))
    except Exception as exc:  # an unexpected bug must not sink the other studies either
        where = traceback.extract_tb(exc.__traceback__)[-1]
        result.update(status="failed",
                      reason=f"{exc.__class__.__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})")
    if study is not None:
        result["notes"] = _notes(study.notes, study.suv_note)
    result["seconds"] = round(time.perf_counter() - start, 3)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    result["pid"] = os.getpid()
    return result


def build_dataset(
    data: str | Path,
    out: str | Path,
    config: BuildConfig | None = None,
    *,
    workers: int = 1,
    engine: str = "local",
    split: str = "temporal",
    seed: int = 0,
    k: int = 5,
    fix_rule: str = "earliest",
    limit: int | None = None,
    exports: Iterable[str] = ("hf", "llava"),
    progress: bool = True,
    ray_address: str | None = None,
    pet_unit: str | None = None,
) -> dict[str, Any]:
    """Build (or resume) `out` from the dataset at `data`; returns the build report it writes.

    `pet_unit` is the unit of NIfTI PET; a NIfTI study without it and without a `study.json` that
    records one is refused before anything is built (NIfTI keeps no units; none is guessed).
    """
    from vipet.io import discover
    from vipet.io.ref import NIFTI

    config = config or BuildConfig()
    if engine not in ENGINES:
        raise BuildError(f"unknown engine {engine!r}; use one of {ENGINES}")
    if workers < 1:
        raise BuildError(f"workers must be at least 1, got {workers}")
    data, out = Path(data), Path(out)
    started = time.perf_counter()
    refs, problems = discover(data, pet_unit=pet_unit)
    refs, refused = _unique_safe_keys(sorted(refs, key=lambda r: (r.key, _ref_path(r))), out)
    refs = refs[: limit if limit else None]
    unitless = sorted((r for r in refs if r.format == NIFTI and r.meta.get("pet_unit") is None), key=lambda r: r.paths["pet"])
    if unitless:
        more = f" (and {len(unitless) - 1} more NIfTI studies)" if len(unitless) > 1 else ""
        raise BuildError(f"NIfTI keeps no PET unit and no study.json records one{more}: pass --pet-unit",
                         unitless[0].paths["pet"])
    units = {r.key: r.meta.get("pet_unit") if r.format == NIFTI else None for r in refs}
    truth = load_truth(data)
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()  # every write below is checked to lie inside it
    stale = clean_stale(root)
    fingerprint = config.fingerprint()
    todo = [r for r in refs if not is_complete(out, r.key, fingerprint, units[r.key])]
    skipped = sorted(r.key for r in refs if r not in todo)

    tasks = [(ref, str(root), config.to_json(), truth.get(ref.key)) for ref in todo]
    results = []
    for result in _with_progress(_run(tasks, workers, engine, ray_address), len(tasks), progress):
        results.append(result)
    build_seconds = time.perf_counter() - started

    metas = [read_meta(study_dir(out, r.key)) for r in refs if is_complete(out, r.key, fingerprint, units[r.key])]
    splits = make_splits([split_study(m) for m in metas], split, seed=seed, k=k, fix_rule=fix_rule)
    rows = manifest_rows(metas, splits)
    write_manifest(rows, root)
    atomic_write_json(root / SPLITS_FILE, splits.report(), root=root)
    export_report = _exports(root, rows, exports)

    built = sorted(r["key"] for r in results if r["status"] == "built")
    failed = sorted(refused + [{"key": r["key"], "path": r["path"], "reason": r["reason"], "notes": r.get("notes", [])}
                               for r in results if r["status"] == "failed"],
                    key=lambda r: (r["key"], r["path"]))
    notes = {m["key"]: found for m in metas if (found := _notes(m.get("notes") or [], (m.get("units") or {}).get("pet_note")))}
    n_notes = sum(len(v) for v in notes.values()) + sum(len(f["notes"]) for f in failed)
    timed = [r for r in results if r["status"] == "built"]
    report = {
        "data": str(data),
        "engine": engine,
        "workers": workers,
        "config": config.to_json(),
        "config_fingerprint": fingerprint,
        "discovered": len(refs) + len(refused),
        "discover_problems": problems,
        "stale_temp_removed": stale,
        "built": built,
        "skipped_existing": skipped,
        "failed": failed,
        "notes": dict(sorted(notes.items())),
        "summary": {"built": len(built), "skipped": len(skipped), "failed": len(failed), "notes": n_notes,
                    "discover_problems": len(problems), "complete": len(metas)},
        "complete": len(metas),
        "samples": len(rows),
        "seconds": round(build_seconds, 3),
        "studies_per_minute": round(60.0 * len(built) / build_seconds, 3) if built and build_seconds > 0 else None,
        "study_seconds_mean": round(sum(r["seconds"] for r in timed) / len(timed), 3) if timed else None,
        "peak_rss_mb_per_worker": max((r["peak_rss_mb"] for r in results), default=None),
        "splits": {k: v for k, v in splits.report().items() if k != "moves"} | {"moves": len(splits.moves)},
        "exports": export_report,
    }
    atomic_write_json(root / REPORT_FILE, report, root=root)
    return report


def _ref_path(ref: Any) -> str:
    """The file or folder that names a study in reports (its CT, else its folder)."""
    return str(ref.paths.get("ct") or ref.paths.get("folder") or ref.paths.get("pet") or "")


def _notes(notes: Iterable[str], pet_note: str | None) -> list[str]:
    """A study's notes as build_report.json lists them: the reader's and the build's, then why SUV is missing."""
    return [str(n) for n in notes] + ([f"no SUV: {pet_note}"] if pet_note else [])


def _unique_safe_keys(refs: list[Any], out: Path) -> tuple[list[Any], list[dict[str, Any]]]:
    """Refs whose key is one safe folder name held by no other ref, and a failure record for each other.

    Both studies of a shared key are refused (naming each other): keeping either would pick one
    silently, and their cache folder and manifest rows would be ambiguous. Discovery should already
    have separated them; this is the build's own guard.
    """
    by_key: dict[str, list[Any]] = {}
    for ref in refs:
        by_key.setdefault(ref.key, []).append(ref)
    kept, refused = [], []
    for key, group in by_key.items():
        try:
            study_dir(out, key)
        except VipetError as exc:
            refused.extend({"key": key, "path": _ref_path(r), "reason": exc.reason, "notes": []} for r in group)
            continue
        if len(group) == 1:
            kept.extend(group)
            continue
        for ref in group:
            others = ", ".join(_ref_path(o) for o in group if o is not ref)
            refused.append({"key": key, "path": _ref_path(ref), "notes": [],
                            "reason": f"study key {key!r} is shared with {others}; neither is built "
                                      "(give the studies distinct ids or dates)"})
    return kept, refused


def _run(tasks: list[tuple], workers: int, engine: str, ray_address: str | None) -> Iterator[dict[str, Any]]:
    """Results of `build_one` over tasks, in completion order."""
    if not tasks:
        return
    if engine == "ray":
        yield from _run_ray(tasks, workers, ray_address)
        return
    if workers == 1:  # in-process: no pickling, easy to debug and to profile
        # Read-ahead: the next study is read (npz inflate, DICOM decode) in a thread while this one
        # is processed; both release the GIL, so the read costs little wall time. Two studies at most
        # are in memory (the one being processed and the next).
        with ThreadPoolExecutor(1, thread_name_prefix="vipet-read") as reader:
            upcoming = reader.submit(_load_study, tasks[0][0])
            for index, task in enumerate(tasks):
                current = upcoming
                if index + 1 < len(tasks):
                    upcoming = reader.submit(_load_study, tasks[index + 1][0])
                yield build_one(*task, loaded=current)
                del current
        return
    # spawn workers that die with this process (vipet.data.workers): a killed build leaves none behind
    with worker_pool(workers) as pool:
        futures = {pool.submit(build_one, *task): task[0] for task in tasks}
        for future in as_completed(futures):
            ref = futures[future]
            try:
                yield future.result()
            except Exception as exc:  # the worker process itself died (killed, out of memory)
                yield {"key": ref.key, "path": ref.paths.get("ct", ""), "status": "failed",
                       "reason": f"worker process died ({exc.__class__.__name__}: {exc})",
                       "seconds": 0.0, "peak_rss_mb": 0.0}


def _load_study(ref: Any) -> Any:
    from vipet.io import load_study

    return load_study(ref)


def _run_ray(tasks: list[tuple], workers: int, address: str | None) -> Iterator[dict[str, Any]]:
    """Ray tasks spread over a cluster's nodes (`address`) or a local Ray instance; a task whose node
    dies is re-run elsewhere (vipet.data.ray_cluster)."""
    from vipet.data.ray_cluster import run_on_ray

    yield from run_on_ray(build_one, tasks, workers, address, _ref_path)


def _with_progress(results: Iterator[dict[str, Any]], total: int, show: bool) -> Iterator[dict[str, Any]]:
    """Pass results through while a rich progress bar counts them (and the failures)."""
    if not show or total == 0:
        yield from results
        return
    failed = 0
    with progress_bar("build", total, fields={"failed": 0}) as show_progress:
        for result in results:
            failed += result["status"] == "failed"
            show_progress(failed=failed)
            yield result


def _exports(out: Path, rows: list[dict[str, Any]], exports: Iterable[str]) -> dict[str, Any]:
    wanted = set(exports)
    unknown = wanted - {"hf", "llava"}
    if unknown:
        raise BuildError(f"unknown export(s) {sorted(unknown)}; use hf, llava")
    report: dict[str, Any] = {}
    if "hf" in wanted:
        from vipet.data.export import export_hf

        report["hf"] = export_hf(rows, out)
    if "llava" in wanted:
        from vipet.data.export import export_llava

        report["llava"] = export_llava(rows, out)
    return report

