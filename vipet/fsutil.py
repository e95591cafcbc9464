"""Writes that never leave a half-written file or folder behind.

Everything that produces an artefact (cache arrays, manifests, predictions, metrics, synthetic
studies) writes to a temporary name in the same folder and renames it into place, so a killed
run leaves either the old state or the new one and a rerun can trust what it finds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    """The process umask (reading it means setting it; it is put back at once)."""
    current = os.umask(0o022)
    os.umask(current)
    return current


def _usual_mode(directory: bool) -> int:
    """The mode a plain open()/mkdir() would give: temp files are 0600/0700, which would keep a
    report or a cache unreadable to the rest of a team on a shared server."""
    return (0o777 if directory else 0o666) & ~_umask()


def atomic_write_bytes(path: str | Path, payload: bytes) -> Path:
    """Write bytes to `path` via a temporary sibling and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, _usual_mode(directory=False))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    """Deterministic JSON (sorted keys, UTF-8 kept) so reruns give byte-identical files."""
    return atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=indent, sort_keys=True) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success it replaces `path` whole, else it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, _usual_mode(directory=True))
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
