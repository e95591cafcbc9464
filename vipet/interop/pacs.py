"""Studies from a PACS and reports back to it, over DICOMweb (QIDO-RS, WADO-RS, STOW-RS) with dicomweb-client.

`pull_study` finds the series of one study (QIDO), refuses a study that is unknown or has no PET
series, and retrieves its PET and CT series (WADO) into one folder that `vipet build` and
`vipet info` read: `OUT/<StudyInstanceUID>/<PT|CT>_<SeriesInstanceUID>/<SOPInstanceUID>.dcm`,
written as a whole through `vipet.fsutil.atomic_dir` (a failed pull leaves no half study; a
rerun replaces it). `push_files` stores DICOM files (STOW-RS), in batches, and names any instance
the PACS refused.

Credentials come from the environment (`VIPET_PACS_USER`, `VIPET_PACS_PASSWORD`), never from the
command line, and never appear in a message: errors name the URL with any user:password part
removed. Every request has bounded connect and read timeouts. The expected failures (server
unreachable or timing out, credentials refused, unknown study, no PET series, a refused
instance) are one-line `InteropError`s naming the URL and the study.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit, urlunsplit

import pydicom
import requests

from vipet.errors import InteropError
from vipet.fsutil import atomic_dir, safe_name
from vipet.progress import progress_bar

USER_ENV = "VIPET_PACS_USER"
PASSWORD_ENV = "VIPET_PACS_PASSWORD"
TIMEOUT_S = (5.0, 60.0)  # connect, read (per response chunk)
RETRY_ATTEMPTS = 2  # a busy server (429/503/504) or a dropped connection gets one more try
STORE_BATCH = 64  # instances per STOW-RS request: bounded memory and request size
IMAGE_MODALITIES = ("PT", "CT")
_MODALITY_TAG = "00080060"
_SERIES_UID_TAG = "0020000E"
_INSTANCES_TAG = "00201209"


def display_url(url: str) -> str:
    """`url` without any user:password part, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def connect(url: str, timeout: tuple[float, float] = TIMEOUT_S):
    """A DICOMweb client for `url`, authenticated with the environment's credentials when set."""
    from dicomweb_client.api import DICOMwebClient
    from dicomweb_client.session_utils import create_session_from_user_pass

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InteropError(f"PACS URL must be http(s)://host[:port]/path, got {display_url(url)!r}")
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    session = create_session_from_user_pass(user, password or "") if user else requests.Session()
    client = DICOMwebClient(display_url(url), session=session, timeout=timeout)
    # dicomweb-client retries every failed request (also a refused connection) 5 times with exponential
    # back-off, ~15 s per request before an error; one retry after 0.5 s keeps a failure prompt.
    client.set_http_retry_params(retry=True, max_attempts=RETRY_ATTEMPTS, wait_exponential_multiplier=500)
    return client


def _fail(exc: Exception, url: str, what: str) -> InteropError:
    """The one-line error of a failed request (the exception's own text may hold the URL; only its kind is kept)."""
    where = display_url(url)
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in (401, 403):
            return InteropError(f"PACS at {where} refused the credentials (HTTP {status}) while {what}; "
                                f"set {USER_ENV} and {PASSWORD_ENV}")
        return InteropError(f"PACS at {where} answered HTTP {status} while {what}")
    if isinstance(exc, requests.exceptions.Timeout):
        return InteropError(f"PACS at {where} did not answer within {TIMEOUT_S[0]:g} s (connect) / "
                            f"{TIMEOUT_S[1]:g} s (read) while {what}")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return InteropError(f"cannot reach the PACS at {where} while {what} (connection failed: nothing listening, "
                            "wrong host or port, or a network problem)")
    return InteropError(f"PACS at {where}: {exc.__class__.__name__} while {what}")


def _tag(record: dict[str, Any], tag: str) -> Any:
    values = (record.get(tag) or {}).get("Value") or []
    return values[0] if values else None


@dataclass
class PulledSeries:
    modality: str
    series_instance_uid: str
    instances: int


@dataclass
class PullResult:
    folder: Path
    series: list[PulledSeries] = field(default_factory=list)


def study_series(client, url: str, study_uid: str) -> list[dict[str, Any]]:
    """QIDO-RS series of one study; `InteropError` when the study is unknown."""
    try:
        series = client.search_for_series(study_instance_uid=study_uid)
    except requests.exceptions.HTTPError as exc:
        if exc.response is not None and exc.response.status_code == 404:
            series = []
        else:
            raise _fail(exc, url, f"searching the series of study {study_uid}") from None
    except requests.exceptions.RequestException as exc:
        raise _fail(exc, url, f"searching the series of study {study_uid}") from None
    if not series:
        raise InteropError(f"study {study_uid} not found on the PACS at {display_url(url)}")
    return series


def pull_study(url: str, study_uid: str, out: str | Path, progress: bool = True) -> PullResult:
    """Retrieve the PET and CT series of `study_uid` into `out/<study uid>/` (see the module docstring)."""
    client = connect(url)
    series = study_series(client, url, study_uid)
    modalities = sorted({str(_tag(s, _MODALITY_TAG) or "?") for s in series})
    wanted = [s for s in series if _tag(s, _MODALITY_TAG) in IMAGE_MODALITIES]
    if not any(_tag(s, _MODALITY_TAG) == "PT" for s in wanted):
        raise InteropError(f"study {study_uid} on the PACS at {display_url(url)} has no PET series "
                           f"(series modalities: {', '.join(modalities)})")
    out = Path(out)
    target = out / safe_name(study_uid)
    total = sum(int(_tag(s, _INSTANCES_TAG) or 0) for s in wanted)
    result = PullResult(folder=target)
    with atomic_dir(target, root=out) as tmp, progress_bar("pull", total, enabled=progress and total > 0) as advance:
        for record in wanted:
            modality, series_uid = str(_tag(record, _MODALITY_TAG)), str(_tag(record, _SERIES_UID_TAG))
            folder = tmp / f"{modality}_{safe_name(series_uid)}"
            folder.mkdir()
            count = 0
            try:
                for ds in client.iter_series(study_uid, series_uid):
                    _write_instance(ds, folder)
                    count += 1
                    advance(1)
            except requests.exceptions.RequestException as exc:
                raise _fail(exc, url, f"retrieving series {series_uid} of study {study_uid}") from None
            result.series.append(PulledSeries(modality, series_uid, count))
    return result


def _write_instance(ds: pydicom.Dataset, folder: Path) -> None:
    """One retrieved instance as a DICOM file (with its file meta) named by its SOP Instance UID."""
    name = safe_name(str(ds.get("SOPInstanceUID", ""))) + ".dcm"
    path = folder / name
    if path.exists():
        raise InteropError(f"two retrieved instances share SOPInstanceUID {ds.SOPInstanceUID}", folder)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    path.write_bytes(buffer.getvalue())  # inside the atomic folder: the whole study appears at once


@dataclass
class PushResult:
    stored: int
    studies: list[str]


def _has_dicom_preamble(path: Path) -> bool:
    """Whether a file carries the DICOM Part 10 magic "DICM" at byte 128."""
    with path.open("rb") as handle:
        head = handle.read(132)
    return head[128:132] == b"DICM"


def dicom_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, with folders expanded to the DICOM files below them (sorted; sidecars such as
    report.json are left out); a named file must be DICOM, and a missing path is an error."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                                and _has_dicom_preamble(p)))
        elif path.is_file():
            files.append(path)
        else:
            raise InteropError("file to push not found", path)
    if not files:
        raise InteropError("no file to push")
    return files


def push_files(url: str, paths: Iterable[str | Path], progress: bool = True) -> PushResult:
    """Store DICOM files on the PACS (STOW-RS); `InteropError` naming a file that is not DICOM or an
    instance the PACS refused."""
    files = dicom_files(paths)
    for path in files:  # every file is checked before anything is sent: no half push of a bad batch
        try:
            pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # pydicom raises many types for damaged files
            raise InteropError(f"not a DICOM file ({exc.__class__.__name__})", path) from None
    client = connect(url)
    studies: list[str] = []
    stored = 0
    with progress_bar("push", len(files), enabled=progress) as advance:
        for start in range(0, len(files), STORE_BATCH):
            batch = files[start:start + STORE_BATCH]
            datasets = [pydicom.dcmread(path) for path in batch]
            try:
                response = client.store_instances(datasets)
            except requests.exceptions.RequestException as exc:
                raise _fail(exc, url, f"storing {len(batch)} instances (first {batch[0]})") from None
            failed = list(response.get("FailedSOPSequence", []) if response is not None else [])
            if failed:
                uids = {str(item.get("ReferencedSOPInstanceUID", "")) for item in failed}
                names = [str(p) for p, ds in zip(batch, datasets) if str(ds.SOPInstanceUID) in uids]
                raise InteropError(f"PACS at {display_url(url)} refused {len(failed)} instance(s): "
                                   f"{', '.join(names[:3]) or sorted(uids)[:3]}")
            stored += len(batch)
            studies.extend(str(ds.StudyInstanceUID) for ds in datasets)
            advance(len(batch))
    return PushResult(stored=stored, studies=list(dict.fromkeys(studies)))


def search_instances(url: str, study_uid: str, modality: str | None = None) -> list[dict[str, Any]]:
    """QIDO-RS instances of a study (optionally of one modality), as DICOM JSON records."""
    client = connect(url)
    filters = {"Modality": modality} if modality else None
    try:
        return client.search_for_instances(study_instance_uid=study_uid, search_filters=filters)
    except requests.exceptions.RequestException as exc:
        raise _fail(exc, url, f"searching the instances of study {study_uid}") from None
