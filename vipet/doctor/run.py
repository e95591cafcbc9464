"""`vipet doctor DATA`: every check over a whole root, in parallel, resumable, with one verdict.

Order: the header checks (`doctor.header`, table only, seconds for the real cohort), then one task
per study (reports and volumes: `doctor.report_checks`, `doctor.images`) over a process pool with a
progress bar, then the cohort-level duplicate search over the studies' signatures.

Resume: each study's result is written atomically to `CACHE/studies/{key}.json` as soon as it
arrives, with a fingerprint of the checks' version, the study's ref and each file's size and
modification time; a rerun reuses every record whose fingerprint still matches, so a killed run
redoes only what was missing and an edited file is checked again. One bad study never stops the
others: a reader's refusal is an `unreadable_study` finding, an unexpected error too (with its place).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from vipet.doctor.findings import Finding
from vipet.doctor.header import header_findings
from vipet.doctor.images import DUPLICATE_COSINE, decode_signature
from vipet.doctor.policy import ERROR, WARNING, exit_code, severity
from vipet.errors import VipetError
from vipet.fsutil import atomic_write_json, safe_name
from vipet.io.ref import StudyRef
from vipet.progress import progress_bar

CHECKS_VERSION = "1"
STUDIES_DIR = "studies"


def study_fingerprint(ref: StudyRef) -> str:
    """Hash of what a study's checks depend on: the checks' version, the ref, each file's size and mtime."""
    files = {}
    for role, path in sorted(ref.paths.items()):
        try:
            stat = os.stat(path)
            files[role] = [stat.st_size, stat.st_mtime_ns]
        except OSError:
            files[role] = None
    payload = {"version": CHECKS_VERSION, "key": ref.key, "format": ref.format, "paths": ref.paths,
               "meta": {k: v for k, v in ref.meta.items() if k != "notes"}, "files": files}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def check_one(ref: StudyRef) -> dict[str, Any]:
    """All per-study checks of one ref; never raises (a failure is a finding)."""
    from vipet.doctor.images import volume_findings
    from vipet.doctor.report_checks import report_findings
    from vipet.io import load_study

    findings = report_findings(ref.key, ref.paths.get("report"), ref.paths.get("report_en"))
    record: dict[str, Any] = {"key": ref.key, "fingerprint": study_fingerprint(ref)}
    missing = [role for role in ("ct", "pet") if role in ref.paths and not Path(ref.paths[role]).is_file()]
    try:
        if missing:  # discovery has reported it (missing_volume); nothing to read
            record["findings"] = [f.to_json() for f in findings]
            return record
        study = load_study(ref)
        more, facts = volume_findings(study)
        findings.extend(more)
        record.update(facts)
    except VipetError as exc:
        findings.append(Finding("unreadable_study", ref.key, exc.reason, path=exc.path or ref.source()))
    except Exception as exc:  # an unexpected bug must not sink the other studies
        where = traceback.extract_tb(exc.__traceback__)[-1]
        findings.append(Finding("unreadable_study", ref.key, f"{exc.__class__.__name__}: {exc} "
                                f"(at {Path(where.filename).name}:{where.lineno})", path=ref.source()))
    record["findings"] = [f.to_json() for f in findings]
    return record


def _cached(cache: Path, ref: StudyRef) -> dict[str, Any] | None:
    path = cache / STUDIES_DIR / f"{safe_name(ref.key)}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if record.get("fingerprint") == study_fingerprint(ref) else None


def _run(refs: list[StudyRef], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1 or len(refs) <= 1:
        for ref in refs:
            yield check_one(ref)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(check_one, ref): ref for ref in refs}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # a worker that died (out of memory): the study is reported, not lost
                ref = futures[future]
                yield {"key": ref.key, "fingerprint": "", "findings": [Finding(
                    "unreadable_study", ref.key, f"check process failed ({exc.__class__.__name__}: {exc})",
                    path=ref.source()).to_json()]}


def study_records(refs: list[StudyRef], cache: Path, *, workers: int = 1, progress: bool = True) -> list[dict[str, Any]]:
    """Per-study records, from the cache where still valid, else computed (and cached at once)."""
    cache = Path(cache)
    (cache / STUDIES_DIR).mkdir(parents=True, exist_ok=True)
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for ref in refs:
        record = _cached(cache, ref)
        if record is None:
            todo.append(ref)
        else:
            records[ref.key] = record
    with progress_bar("doctor: checking studies", len(refs), completed=len(records), enabled=progress,
                      stderr=True) as advance:
        for record in _run(todo, workers):
            if record.get("fingerprint"):
                atomic_write_json(cache / STUDIES_DIR / f"{safe_name(record['key'])}.json", record, indent=None,
                                  root=cache)
            records[record["key"]] = record
            advance()
    return [records[ref.key] for ref in refs if ref.key in records]


def duplicate_findings(records: list[dict[str, Any]]) -> list[Finding]:
    """Identical studies (same voxel SHA-256) and near-identical ones (signature cosine at least
    `images.DUPLICATE_COSINE`); each later key (sorted) is flagged with the earlier one related."""
    findings: list[Finding] = []
    with_facts = sorted((r for r in records if r.get("signature")), key=lambda r: r["key"])
    by_sha: dict[str, list[str]] = defaultdict(list)
    for record in with_facts:
        by_sha[record["sha256"]].append(record["key"])
    for keys in by_sha.values():
        for key in keys[1:]:
            findings.append(Finding("duplicate_study", key, f"identical volumes to {keys[0]} (same voxels)",
                                    related=(keys[0],), detail={"match": "identical"}))
    with_facts = [r for r in with_facts if by_sha[r["sha256"]][0] == r["key"]]  # one per identical group
    if len(with_facts) < 2:
        return findings
    matrix = np.stack([decode_signature(r["signature"]) for r in with_facts])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = matrix / np.where(norms > 0, norms, 1.0)
    for start in range(0, len(with_facts), 512):  # blocks keep the cosine matrix small for 2,757 studies
        block = matrix[start:start + 512] @ matrix.T
        for i, j in zip(*np.nonzero(block >= DUPLICATE_COSINE)):
            a, b = start + int(i), int(j)
            if b <= a:
                continue
            first, second = with_facts[a]["key"], with_facts[b]["key"]
            cosine = float(block[i, j])
            findings.append(Finding("duplicate_study", second, f"near-identical volumes to {first} (downsampled "
                                    f"signature cosine {cosine:.5f}, at least {DUPLICATE_COSINE:g} flags)",
                                    related=(first,), detail={"match": "near-identical", "cosine": round(cosine, 6)}))
    return findings


def default_cache(root: str | Path) -> Path:
    """`.vipet_doctor/<hash of the resolved root>` in the working folder (the data root may be read-only)."""
    digest = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
    return Path(".vipet_doctor") / digest


def run_doctor(root: str | Path, *, workers: int = 1, header_only: bool = False, cache: str | Path | None = None,
               year: int | None = None, progress: bool = True) -> dict[str, Any]:
    """The doctor's report over `root`: findings (sorted, errors first), counts, thumbnails, exit code."""
    from vipet.io.vimed_packaging import REGION_CROPS, detect_packaging

    started = time.perf_counter()
    root = Path(root)
    packaging = detect_packaging(root) if root.is_dir() else None
    thumbnails: dict[str, str] = {}
    if packaging is not None and packaging.kind == REGION_CROPS:
        from vipet.doctor.crops import crop_findings

        findings, studies = crop_findings(root, header_only=header_only)
    else:
        refs, findings = header_findings(root, year=year, check_files=not header_only)
        studies = len(refs)
        if not header_only:
            records = study_records(refs, Path(cache) if cache is not None else default_cache(root),
                                    workers=workers, progress=progress)
            findings.extend(Finding.from_json(f) for record in records for f in record["findings"])
            findings.extend(duplicate_findings(records))
            flagged = {f.key for f in findings}
            thumbnails = {r["key"]: r["thumbnail"] for r in records if r.get("thumbnail") and r["key"] in flagged}
    unique: dict[tuple[Any, ...], Finding] = {}  # a check and discovery may both report one thing
    for finding in findings:
        unique.setdefault((finding.kind, finding.key, finding.message, finding.path, finding.related), finding)
    findings = sorted(unique.values(), key=Finding.sort_key)
    counts = Counter(f.kind for f in findings)
    return {
        "root": str(root),
        "packaging": packaging.kind if packaging is not None else None,
        "header_only": header_only,
        "studies": studies,
        "seconds": round(time.perf_counter() - started, 3),
        "counts": {ERROR: sum(n for k, n in counts.items() if severity(k) == ERROR),
                   WARNING: sum(n for k, n in counts.items() if severity(k) == WARNING)},
        "by_kind": dict(sorted(counts.items())),
        "flagged_studies": len({f.key for f in findings if f.key}),
        "exit_code": exit_code(findings),
        "findings": [f.to_json() for f in findings],
        "thumbnails": thumbnails,
    }
