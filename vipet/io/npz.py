"""ViMed-PET `.npz` volumes: full loads, header-only peeks, and atomic writes.

A header peek reads the zip directory and the `.npy` header of `data` only, so `vipet info`
can report shapes of thousands of volumes (and catch truncated files, whose zip directory at the
end is gone) without decompressing hundreds of megabytes each.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import numpy as np

from vipet.errors import ReadError
from vipet.fsutil import atomic_write_bytes

DATA_KEY = "data"


def load_npz_volume(path: str | Path) -> np.ndarray:
    """The 3-D `data` array of a ViMed-PET npz, or a one-line `ReadError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ReadError("volume file not found", path)
    try:
        # Our own handle, so a truncated file that numpy rejects half-way is still closed.
        with open(path, "rb") as handle:
            if handle.read(2) != b"PK":
                raise ReadError("not an .npz archive (no zip header)", path)
            handle.seek(0)
            archive = np.load(handle, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ReadError("not an .npz archive (a bare .npy array?)", path)
            with archive:
                if DATA_KEY not in archive.files:
                    raise ReadError(f"npz has no {DATA_KEY!r} array (keys: {archive.files})", path)
                volume = archive[DATA_KEY]
    except ReadError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
        raise ReadError(f"truncated or corrupt .npz ({exc.__class__.__name__}: {exc})", path) from None
    if volume.ndim != 3:
        raise ReadError(f"expected a 3-D (D, H, W) volume, got shape {volume.shape}", path)
    if not np.issubdtype(volume.dtype, np.number) or np.issubdtype(volume.dtype, np.complexfloating):
        raise ReadError(f"expected real numbers, got dtype {volume.dtype}", path)
    if np.issubdtype(volume.dtype, np.floating) and not np.isfinite(volume).all():
        nan = int(np.isnan(volume).sum())
        raise ReadError(f"{nan} NaN and {int((~np.isfinite(volume)).sum()) - nan} infinite voxels; "
                        f"volumes must be finite", path)
    return volume


def npz_header(path: str | Path) -> tuple[tuple[int, ...], str]:
    """(shape, dtype) of `data` without loading it; `ReadError` when missing or not a readable npz."""
    path = Path(path)
    if not path.is_file():
        raise ReadError("volume file not found", path)
    try:
        with zipfile.ZipFile(path) as archive:
            member = f"{DATA_KEY}.npy"
            if member not in archive.namelist():
                raise ReadError(f"npz has no {DATA_KEY!r} array", path)
            with archive.open(member) as handle:
                version = np.lib.format.read_magic(handle)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    except ReadError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
        raise ReadError(f"truncated or corrupt .npz ({exc.__class__.__name__}: {exc})", path) from None
    return tuple(int(n) for n in shape), str(dtype)


def save_npz_volume(path: str | Path, volume: np.ndarray, compress: bool = True) -> Path:
    """Write `data` as the real cohort does, atomically so an interrupted writer leaves no half file."""
    buffer = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buffer, **{DATA_KEY: volume})
    return atomic_write_bytes(path, buffer.getvalue())
