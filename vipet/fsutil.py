"""Writes that never leave a half-written file or folder behind, and never land outside their folder.

Everything that produces an artefact (cache arrays, manifests, predictions, metrics, synthetic
studies) writes to a temporary name in the same folder and renames it into place, so a killed
run leaves either the old state or the new one and a rerun can trust what it finds.

Names that come from the input (study keys from sidecars or DICOM tags, model and run names)
become file names only through `safe_name`, and a write or removal given `root=` first checks
with `inside` that its target lies below that folder: a key such as `../../x` must never make an
atomic folder write remove what is outside the output folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from vipet.errors import UnsafePathError

_UNSAFE_CHARACTERS = re.compile(r"[^0-9A-Za-z_.-]+")


def safe_name(text: str, fallback: str = "anon") -> str:
    """`text` as one file-name component: only letters, digits, `_`, `.` and `-`, never `.`/`..`
    or a leading dot (a hidden file). Ids that are already safe come back unchanged."""
    cleaned = re.sub(r"\.{2,}", "_", _UNSAFE_CHARACTERS.sub("_", str(text).strip())).strip("_")
    if cleaned.startswith("."):
        cleaned = "_" + cleaned.lstrip(".")
    return fallback if cleaned.strip("_") == "" else cleaned


def inside(root: str | Path, target: str | Path, what: str = "path") -> Path:
    """`target` resolved, after checking that it lies inside `root` (symlinks and `..` resolved).

    A relative `target` is read from `root` (`inside(out, key)`); an absolute one is taken as is.
    The atomic writes below pass their (possibly working-folder-relative) paths resolved.
    """
    base = Path(root).resolve()
    resolved = (base / target).resolve()  # an absolute target replaces base in the join
    if resolved != base and base not in resolved.parents:
        raise UnsafePathError(f"{what} {str(target)!r} lies outside {str(base)!r}; refused", target)
    return resolved


def _umask() -> int:
    """The process umask (reading it means setting it; it is put back at once)."""
    current = os.umask(0o022)
    os.umask(current)
    return current


def _usual_mode(directory: bool) -> int:
    """The mode a plain open()/mkdir() would give: temp files are 0600/0700, which would keep a
    report or a cache unreadable to the rest of a team on a shared server."""
    return (0o777 if directory else 0o666) & ~_umask()


def atomic_write_bytes(path: str | Path, payload: bytes, root: str | Path | None = None) -> Path:
    """Write bytes to `path` via a temporary sibling and an atomic rename (inside `root` when given)."""
    path = Path(path)
    if root is not None:
        inside(root, path.resolve())
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


def atomic_write_text(path: str | Path, text: str, root: str | Path | None = None) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), root)


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2, root: str | Path | None = None) -> Path:
    """Deterministic JSON (sorted keys, UTF-8 kept) so reruns give byte-identical files."""
    return atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=indent, sort_keys=True) + "\n", root)


@contextlib.contextmanager
def atomic_dir(path: str | Path, root: str | Path | None = None) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success it replaces `path` whole, else it is removed.

    Replacing removes what was at `path`, so with `root` given, `path` must lie strictly inside it.
    """
    path = Path(path)
    if root is not None and inside(root, path.resolve()) == Path(root).resolve():
        raise UnsafePathError(f"refusing to replace the output folder {str(root)!r} itself", path)
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
