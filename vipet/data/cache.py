"""The per-study cache: `OUT/cache/<key>/` with `.npy` arrays and a `meta.json` sidecar.

Plain `.npy` (not npz) because `numpy.load(mmap_mode="r")` maps it without reading or decoding:
a training loader touches only the pages of the region it samples, and the OS page cache shares
them between loader workers. A study folder appears only once complete (built in a temporary
sibling and renamed, `fsutil.atomic_dir`), so the presence of `meta.json` with the current recipe
fingerprint is the whole resume test; temporary folders left by a killed run are removed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vipet.errors import BuildError

CACHE_DIR = "cache"
META_FILE = "meta.json"


def cache_root(out: str | Path) -> Path:
    return Path(out) / CACHE_DIR


def study_dir(out: str | Path, key: str) -> Path:
    return cache_root(out) / key


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The sidecar of one cached study; `BuildError` naming the file when unreadable."""
    path = Path(folder) / META_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildError("cached study has no meta.json (incomplete or not a cache folder)", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BuildError(f"unreadable meta.json ({exc.__class__.__name__}: {exc})", path) from None


def is_complete(out: str | Path, key: str, fingerprint: str, pet_unit: str | None = None) -> bool:
    """Whether `key` is cached with this exact recipe (the resume test), and in `pet_unit` when given
    (a NIfTI study rebuilt with another `--pet-unit` is not the cached one)."""
    path = study_dir(out, key) / META_FILE
    if not path.is_file():
        return False
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if pet_unit is not None and (meta.get("units") or {}).get("pet") != pet_unit:
        return False
    return meta.get("config_fingerprint") == fingerprint


def study_renders(out: str | Path, key: str) -> dict[str, Path]:
    """The PNG renders the build wrote for study `key`, as {"mip": path, "fused": path} from its
    meta.json; empty when the study is not in this build or was built with `--no-renders`."""
    folder = study_dir(out, key)
    if not (folder / META_FILE).is_file():
        return {}
    renders = read_meta(folder).get("renders") or {}
    return {name: folder / renders[name] for name in ("mip", "fused")
            if isinstance(renders.get(name), str) and (folder / renders[name]).is_file()}


def clean_stale(out: str | Path) -> list[str]:
    """Remove temporary study folders a killed build left behind; returns their names."""
    root = cache_root(out)
    if not root.is_dir():
        return []
    removed = []
    for entry in root.iterdir():
        if entry.is_dir() and entry.name.startswith(".") and entry.name.endswith(".tmp"):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return sorted(removed)


def iter_cached(out: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, meta) for every complete study folder, in key order."""
    root = cache_root(out)
    if not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not entry.name.startswith(".") and (entry / META_FILE).is_file():
            yield entry.name, read_meta(entry)


def save_array(folder: Path, name: str, array: np.ndarray) -> dict[str, Any]:
    """Write `name.npy` (C order, so memory maps slice cheaply) and describe it for the sidecar."""
    array = np.ascontiguousarray(array)
    np.save(folder / f"{name}.npy", array, allow_pickle=False)
    return {"file": f"{name}.npy", "shape": list(array.shape), "dtype": str(array.dtype)}


def open_array(path: str | Path, mmap: bool = True) -> np.ndarray:
    """A cached array, memory-mapped read-only by default; `BuildError` naming the file if bad."""
    path = Path(path)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise BuildError("cached array not found (was the cache moved or pruned?)", path) from None
    except (OSError, ValueError) as exc:
        raise BuildError(f"unreadable cached array ({exc.__class__.__name__}: {exc})", path) from None
