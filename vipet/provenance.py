"""Where a number came from: the code's git revision and the versions of the packages that made it.

Run folders (training, evaluation, benchmark) record these so a result can be traced back and rerun;
one module so every record names the same things the same way. No torch here: `eval/` uses it too.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path


def git_revision() -> str:
    """The commit the code ran at (with `-dirty` when the tree had changes), or "unknown" outside git."""
    root = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if rev.returncode != 0:
        return "unknown"
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def package_versions(distributions: tuple[str, ...]) -> dict[str, str]:
    """Python's version and each installed distribution's; ones not installed are left out, not guessed."""
    versions = {"python": platform.python_version()}
    for name in distributions:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
