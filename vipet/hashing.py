"""Content hashes and JSON differences: the one sha256 and the one JSON diff of the package.

Run folders, step caches and `--verify` all name a file, a folder or a settings object by these
hashes, so two places never disagree on what "the same input" means. Plain standard library, at
the bottom layer: the metrics (`eval/`) use it as well as the benchmark.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

JsonPath = tuple[str | int, ...]


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (volumes need not fit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hex sha256 of a JSON value in canonical form (sorted keys, UTF-8 kept): a settings object's identity."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def sha256_tree(folder: str | Path) -> str:
    """One hash over every file below `folder` (relative paths and contents): a trained model's identity."""
    folder = Path(folder)
    return sha256_json({str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()})


def tree_files(root: str | Path) -> list[Path]:
    """Every regular file below `root` (symlinked folders followed), sorted; hidden names (`.x`) and
    `__pycache__` are left out, as they are the file system's or the interpreter's, not the content."""
    root = Path(root)
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        found += [Path(folder) / name for name in files if not name.startswith(".")]
    return sorted(found)


def file_manifest(root: str | Path, known: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """`{relative path: {"size", "mtime_ns", "sha256"}}` for every file of `tree_files(root)`.

    A file whose relative path, size and mtime_ns match an entry of `known` (an earlier manifest)
    keeps that entry's hash instead of being read again, so a large cohort is hashed once. No
    absolute path is recorded: a moved folder gives the same manifest.
    """
    root = Path(root)
    known = known or {}
    manifest: dict[str, dict[str, Any]] = {}
    for path in tree_files(root):
        relative = path.relative_to(root).as_posix()
        stat = path.stat()
        previous = known.get(relative) or {}
        if previous.get("size") == stat.st_size and previous.get("mtime_ns") == stat.st_mtime_ns and previous.get("sha256"):
            digest = str(previous["sha256"])
        else:
            digest = sha256_file(path)
        manifest[relative] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    return manifest


def manifest_hash(manifest: Mapping[str, Mapping[str, Any]]) -> str:
    """The content identity of a `file_manifest`: relative paths, sizes and hashes (never times)."""
    return sha256_json({path: [entry["size"], entry["sha256"]] for path, entry in manifest.items()})


def json_differences(old: Any, new: Any, path: JsonPath = ()) -> list[tuple[JsonPath, Any, Any]]:
    """Every place where two JSON values differ, as (path, old value, new value).

    Objects are compared key by key (a missing key reads as null), lists of equal length item by
    item; anything else, lists of other lengths included, is compared whole.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for key in sorted(set(old) | set(new)) for d in json_differences(old.get(key), new.get(key), path + (key,))]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in json_differences(a, b, path + (i,))]
    return [] if old == new else [(path, old, new)]


def json_path_text(path: JsonPath) -> str:
    """`("train", "lr")` -> `train.lr`, `("a", 0, "b")` -> `a[0].b`; the root is `/`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "/"
