"""ViMed-PET `.npz` volumes: full loads, header-only peeks, and atomic writes.

A header peek reads the zip directory and the `.npy` header of `data` only, so `vipet info`
can report shapes of thousands of volumes (and catch truncated files, whose zip directory at the
end is gone) without decompressing hundreds of megabytes each.
"""

from __future__ import annotations

import io
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from vipet.errors import ReadError
from vipet.fsutil import atomic_write_bytes

DATA_KEY = "data"
# Largest volume a header may claim (a 1,000 x 1,024 x 1,024 float32 is 4 GiB): a header is checked
# against this and against the bytes the file really holds before any array is allocated.
MAX_VOLUME_BYTES = 4 * 1024**3

# What numpy raises on a damaged array header: it parses the header as a Python literal, so a flipped
# byte can surface as a SyntaxError or a tokenize.TokenError as well as a ValueError.
_DAMAGED_HEADER = (EOFError, OSError, ValueError, SyntaxError, tokenize.TokenError)


def check_volume_header(shape: tuple[int, ...], dtype: np.dtype, available: int | None, path: Path) -> None:
    """Refuse, from its `.npy` header alone, what cannot be a (D, H, W) volume: not 3-D, not real
    numbers (pickled objects included), or more bytes than the file holds or than MAX_VOLUME_BYTES."""
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise ReadError("the array holds pickled Python objects, not voxels (refused: pickles run code)", path)
    if len(shape) != 3:
        raise ReadError(f"expected a 3-D (D, H, W) volume, got shape {tuple(shape)}", path)
    if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
        raise ReadError(f"expected real numbers, got dtype {dtype}", path)
    claimed = int(np.prod([int(n) for n in shape], dtype=object)) * dtype.itemsize
    if claimed > MAX_VOLUME_BYTES:
        raise ReadError(f"header claims shape {tuple(shape)} ({claimed} bytes), more than the "
                        f"{MAX_VOLUME_BYTES} bytes a volume may have", path)
    if available is not None and claimed > available:
        raise ReadError(f"truncated: the header claims shape {tuple(shape)} ({claimed} bytes) but the file "
                        f"holds {available}", path)


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
                npz_header(path)  # shape, dtype and size checked before the array is allocated
                volume = archive[DATA_KEY]
    except ReadError:
        raise
    except (zipfile.BadZipFile, zlib.error, *_DAMAGED_HEADER) as exc:
        raise ReadError(f"truncated or corrupt .npz ({exc.__class__.__name__}: {exc})", path) from None
    return _checked_volume(volume, path)


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
                available = archive.getinfo(member).file_size - handle.tell()
    except ReadError:
        raise
    except (zipfile.BadZipFile, zlib.error, *_DAMAGED_HEADER) as exc:
        raise ReadError(f"truncated or corrupt .npz ({exc.__class__.__name__}: {exc})", path) from None
    check_volume_header(shape, dtype, available, path)
    return tuple(int(n) for n in shape), str(dtype)


def save_npz_volume(path: str | Path, volume: np.ndarray, compress: bool = True) -> Path:
    """Write `data` as the real cohort does, atomically so an interrupted writer leaves no half file."""
    buffer = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buffer, **{DATA_KEY: volume})
    return atomic_write_bytes(path, buffer.getvalue())


# The same volumes as bare `.npy` files (some ViMed-PET packagings and the official region crops ship
# them so). One check of the array for both, so a `.npy` is refused for exactly what an `.npz` is.
VOLUME_SUFFIXES = (".npz", ".npy")


def load_npy_volume(path: str | Path) -> np.ndarray:
    """The 3-D array of a `.npy` file (no pickles), or a one-line `ReadError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ReadError("volume file not found", path)
    try:
        with open(path, "rb") as handle:
            if handle.read(6) != b"\x93NUMPY":
                raise ReadError("not an .npy array (no NumPy header)", path)
            npy_header(path)  # shape, dtype and size checked before the array is allocated
            handle.seek(0)
            volume = np.lib.format.read_array(handle, allow_pickle=False)
    except ReadError:
        raise
    except _DAMAGED_HEADER as exc:
        raise ReadError(f"truncated or corrupt .npy ({exc.__class__.__name__}: {exc})", path) from None
    return _checked_volume(volume, path)


def _checked_volume(volume: np.ndarray, path: Path) -> np.ndarray:
    """One check of a loaded array for both containers, so `.npy` and `.npz` refuse the same things."""
    if volume.ndim != 3:
        raise ReadError(f"expected a 3-D (D, H, W) volume, got shape {volume.shape}", path)
    if not np.issubdtype(volume.dtype, np.number) or np.issubdtype(volume.dtype, np.complexfloating):
        raise ReadError(f"expected real numbers, got dtype {volume.dtype}", path)
    if np.issubdtype(volume.dtype, np.floating) and not np.isfinite(volume).all():
        nan = int(np.isnan(volume).sum())
        raise ReadError(f"{nan} NaN and {int((~np.isfinite(volume)).sum()) - nan} infinite voxels; "
                        f"volumes must be finite", path)
    return volume


def load_volume(path: str | Path) -> np.ndarray:
    """A ViMed-PET volume from an `.npz` (key `data`) or a bare `.npy`, chosen by the suffix."""
    path = Path(path)
    if path.suffix == ".npy":
        return load_npy_volume(path)
    return load_npz_volume(path)


def npy_header(path: str | Path) -> tuple[tuple[int, ...], str]:
    """(shape, dtype) of a `.npy` from its header only; `ReadError` when missing, truncated or not one."""
    path = Path(path)
    if not path.is_file():
        raise ReadError("volume file not found", path)
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            offset = handle.tell()
    except _DAMAGED_HEADER as exc:
        raise ReadError(f"truncated or corrupt .npy ({exc.__class__.__name__}: {exc})", path) from None
    check_volume_header(shape, dtype, path.stat().st_size - offset, path)
    expected = offset + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if path.stat().st_size < expected:
        raise ReadError(f"truncated .npy: {path.stat().st_size} bytes, the header promises {expected}", path)
    return tuple(int(n) for n in shape), str(dtype)


def volume_header(path: str | Path) -> tuple[tuple[int, ...], str]:
    """(shape, dtype) of an `.npz` or `.npy` volume without reading its voxels."""
    path = Path(path)
    return npy_header(path) if path.suffix == ".npy" else npz_header(path)


def save_npy_volume(path: str | Path, volume: np.ndarray) -> Path:
    """Write a bare `.npy` atomically (the packaging of the Hugging Face parts and the region crops)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(volume), allow_pickle=False)
    return atomic_write_bytes(path, buffer.getvalue())


def save_volume(path: str | Path, volume: np.ndarray) -> Path:
    """`save_npy_volume` or `save_npz_volume`, chosen by the suffix of `path`."""
    return save_npy_volume(path, volume) if Path(path).suffix == ".npy" else save_npz_volume(path, volume)
