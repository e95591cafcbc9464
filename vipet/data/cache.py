"""The per-study cache: `OUT/cache/<key>/` with compressed arrays and a `meta.json` sidecar.

Every array is one Blosc2 NDArray file (`.b2nd`: zstd level 1 over byte-shuffled chunks), lossless,
in the dtype the build chose (`storage` in the sidecar): the bytes a full-size study takes fall from
~100 MB of `.npy` to ~13 MB (benchmarks/cache_size.py), because CT in HU and PET are mostly air
and smooth tissue, while a loader item still costs a few milliseconds of decompression, far below
decoding the source and resampling on the fly. Blosc2 rather than numcodecs because its `.b2nd`
file is a container that describes itself (shape, dtype, chunk grid, codec) and any Blosc2 user can
open (`blosc2.open(path)[...]`); numcodecs holds only codecs, so the container would be ours.
Compression hides corruption (a flipped byte can decompress into wrong voxels without an error),
so each file carries the CRC-32 of its uncompressed bytes and `open_array` refuses a mismatch,
naming the file. Caches of the earlier layout (`.npy` files) are not complete for `is_complete`
and are rebuilt; `open_array` still reads a `.npy` as it is (exactly), never as the new format.

A study folder appears only once complete (built in a temporary sibling and renamed,
`fsutil.atomic_dir`), so the presence of `meta.json` with the current recipe fingerprint and
array layout is the whole resume test; temporary folders left by a killed run are removed.

The cache is honest about values: an array with NaN or Inf is never written (`save_array`
refuses it), and PET is stored in float16 only for units where float16 is exact enough (SUVbw
and ViMed raw units, within float16's range); activity (BQML), counts and unknown units are
stored in float32, because Bq/mL reaches 1e4..1e6 and float16 ends at 65504 (`pet_storage`).
Compression adds no error: the precision records are those of the dtype.
Every study key becomes a cache folder only when it is one safe folder name (`study_dir`).
"""

from __future__ import annotations

import json
import re
import shutil
import zlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vipet.errors import BuildError, UnsafePathError
from vipet.fsutil import safe_name
from vipet.study import SUV_BW, VIMED_RAW

CACHE_DIR = "cache"
META_FILE = "meta.json"
# Units whose values float16 holds closely enough (relative error 2**-11): SUV (about 0..100) and
# ViMed raw units (0..32767). Bq/mL, counts and unknown units have no bounded range: float32.
FLOAT16_UNITS = (SUV_BW, VIMED_RAW)
FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504: anything above becomes inf
FLOAT32_MAX = float(np.finfo(np.float32).max)
# |cached - source| <= max(relative * |source|, absolute): half a unit in the last place of a normal
# number, and half the subnormal spacing near zero (round to nearest, as numpy casts).
PRECISION = {
    "float16": {"relative": 2.0**-11, "absolute": 2.0**-25},
    "float32": {"relative": 2.0**-24, "absolute": 2.0**-150},
}
# How arrays are stored (recorded per array in the sidecar; a different record means another layout).
ARRAY_FORMAT = "blosc2-b2nd"
ARRAY_SUFFIX = ".b2nd"
CODEC = {"codec": "zstd", "clevel": 1, "filters": ["shuffle"]}
CHUNK_BYTES = 4 * 2**20  # chunks are whole slabs along the first axis of at most this size
CHECKSUM_KEY = "vipet"  # vlmeta entry of the .b2nd file: {"crc32": CRC-32 of the C-order bytes}
# The temporary names fsutil's atomic writes use: `.<name>.<random>.tmp` (tempfile's random part).
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")
# Folders of a build where atomic writes happen and a killed run can leave temporary names.
TEMP_FOLDERS = (".", CACHE_DIR, "hf", "hf/report", "hf/vqa", "llava")


def cache_root(out: str | Path) -> Path:
    return Path(out) / CACHE_DIR


def study_dir(out: str | Path, key: str) -> Path:
    """`OUT/cache/<key>`; `UnsafePathError` unless `key` is one safe folder name.

    A key that `fsutil.safe_name` would change (`../../x`, `/abs`, `a/b`, `.hidden`, `..`) could
    land outside the cache, replace a top-level file of the build, or look like a temporary folder
    that `clean_stale` removes, so it is refused here whatever reader produced it.
    """
    if not isinstance(key, str) or not key or safe_name(key) != key:
        raise UnsafePathError(f"study key {key!r} is not one safe folder name (letters, digits, _ . -); refused",
                              cache_root(out))
    return cache_root(out) / key


def largest_magnitude(values: np.ndarray) -> float:
    """max |v| from the extremes, without the whole-volume copy `np.abs` makes (~0.15 s a study);
    NaN propagates (np.maximum), and the extremes become floats first so int16's -32768 cannot overflow."""
    values = np.asarray(values)
    return float(np.maximum(abs(float(values.max())), abs(float(values.min()))))


def pet_storage(unit: str, values: np.ndarray, allowed: str = "float16") -> dict[str, Any]:
    """The dtype PET in `unit` is cached in and the precision that dtype guarantees.

    float16 only when `allowed` permits it, the unit is one float16 represents closely enough
    (`FLOAT16_UNITS`) and the largest magnitude fits below 65504; float32 otherwise. The record
    goes into the sidecar: `|cached - source| <= max(relative * |source|, absolute)`.
    """
    peak = largest_magnitude(values) if np.size(values) else 0.0
    if allowed == "float16" and unit in FLOAT16_UNITS and peak <= FLOAT16_MAX:
        dtype, why = "float16", f"{unit} fits float16 (|max| {peak:.6g} <= {FLOAT16_MAX:g})"
    elif allowed == "float16" and unit in FLOAT16_UNITS:
        dtype, why = "float32", f"{unit} |max| {peak:.6g} exceeds float16's {FLOAT16_MAX:g}"
    elif allowed == "float16":
        dtype, why = "float32", f"{unit} has no bounded range; float16 would overflow"
    else:
        dtype, why = "float32", "pet_dtype float32 requested"
    return {"dtype": dtype, "unit": unit, "reason": why, "precision": dict(PRECISION[dtype])}


def require_finite(array: np.ndarray, what: str, path: str | Path | None = None) -> None:
    """`BuildError` when a float array holds NaN or Inf, or values float32 cannot hold (a unit or
    scale factor gone wrong, e.g. 1e300): such a study is refused, never cached."""
    values = np.asarray(array)
    if values.dtype.kind not in "fc" or values.size == 0:
        return
    if values.dtype == np.float16:
        # NaN/Inf are the float16 patterns with every exponent bit set; NumPy's float16 isfinite and abs
        # run ~10x slower than this integer test, and float16 cannot exceed float32 anyway.
        bad = int(np.count_nonzero((values.view(np.uint16) & 0x7C00) == 0x7C00))
        if bad:
            raise BuildError(f"{what} has {bad} NaN/Inf voxels of {values.size}; refused, not cached", path)
        return
    finite = np.isfinite(values)
    bad = values.size - int(np.count_nonzero(finite))
    if bad:
        raise BuildError(f"{what} has {bad} NaN/Inf voxels of {values.size}; refused, not cached", path)
    peak = largest_magnitude(values)
    if peak > FLOAT32_MAX:
        raise BuildError(f"{what} reaches {peak:.3g}, beyond float32 ({FLOAT32_MAX:.3g}): a unit or scale factor "
                         "is wrong; refused, not cached", path)


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
    (a NIfTI study rebuilt with another `--pet-unit` is not the cached one); a PET cached in float16
    in a unit float16 cannot hold (older builds) is not complete either, nor a study whose arrays are
    in an earlier layout (`current_layout`: `.npy` files of builds before compression)."""
    path = study_dir(out, key) / META_FILE
    if not path.is_file():
        return False
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    unit = (meta.get("units") or {}).get("pet")
    if pet_unit is not None and unit != pet_unit:
        return False
    pet_dtype = ((meta.get("arrays") or {}).get("pet") or {}).get("dtype")
    if pet_dtype == "float16" and unit not in FLOAT16_UNITS:
        return False  # cached by a build before `pet_storage`: float16 Bq/mL may hold inf, rebuild it
    return meta.get("config_fingerprint") == fingerprint and current_layout(meta)


def current_layout(meta: dict[str, Any]) -> bool:
    """Whether every array of a sidecar is stored as this code writes it (format and codec); a cache
    of another layout is rebuilt by the next build, never read as if it were this one."""
    arrays = meta.get("arrays")
    if not isinstance(arrays, dict) or not arrays:
        return False
    return all(isinstance(info, dict) and info.get("format") == ARRAY_FORMAT and info.get("codec") == CODEC
               and str(info.get("file", "")).endswith(ARRAY_SUFFIX) for info in arrays.values())


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
    """Remove the temporary files and folders (`.<name>.<random>.tmp`, fsutil's atomic-write names)
    a killed build left in OUT, OUT/cache and the export folders; returns their paths relative to OUT.

    Only direct children of those folders named by vipet's own pattern are touched (a link among
    them is removed, never followed); no name from the input is involved. Two builds must not share
    one OUT at the same time (each would remove the other's temporaries).
    """
    out = Path(out).resolve()
    removed = []
    for folder in TEMP_FOLDERS:
        base = out / folder
        if not base.is_dir():
            continue
        for entry in base.iterdir():
            if not _TEMP_NAME.match(entry.name):
                continue
            if entry.is_symlink() or not entry.is_dir():
                entry.unlink(missing_ok=True)
            else:
                shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.relative_to(out).as_posix())
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
    """Write `name.b2nd` (lossless, chunked, with its CRC-32) and describe it for the sidecar;
    `BuildError` (nothing written) when it holds NaN or Inf, e.g. after a cast that overflowed.

    Chunks are slabs along the first axis of at most `CHUNK_BYTES` (a model-ready volume is one
    chunk, a whole-body array ~32 slices each), so a reader that wants a few slices could decompress
    only those; one compression thread, because build workers already use every core.
    """
    import blosc2

    array = np.ascontiguousarray(array)
    require_finite(array, f"cached array {name!r} ({array.dtype})")
    row_bytes = max(1, array.nbytes // max(1, array.shape[0])) if array.ndim else max(1, array.nbytes)
    chunks = (max(1, min(array.shape[0], CHUNK_BYTES // row_bytes)), *array.shape[1:]) if array.ndim else ()
    cparams = {"codec": blosc2.Codec.ZSTD, "clevel": CODEC["clevel"], "filters": [blosc2.Filter.SHUFFLE],
               "filters_meta": [0], "nthreads": 1}
    path = folder / f"{name}{ARRAY_SUFFIX}"
    crc = zlib.crc32(memoryview(array).cast("B")) if array.size else 0
    stored = blosc2.asarray(array, urlpath=str(path), mode="w", cparams=cparams, chunks=chunks or None)
    stored.vlmeta[CHECKSUM_KEY] = {"crc32": crc}
    return {"file": path.name, "shape": list(array.shape), "dtype": str(array.dtype), "format": ARRAY_FORMAT,
            "codec": dict(CODEC), "chunks": list(chunks), "crc32": crc, "bytes": path.stat().st_size}


def open_array(path: str | Path, mmap: bool = True) -> np.ndarray:
    """A cached array as NumPy; `BuildError` naming the file if missing or bad.

    `.b2nd` (this layout) is decompressed whole and its CRC-32 checked, so a corrupt chunk is an
    error and never wrong voxels. `.npy` (an earlier layout, or arrays other code saved beside it)
    is memory-mapped as written. As with `numpy.load`: `mmap` (the default) gives a read-only
    array, `mmap=False` a private writable one (a loader that converts it in place or hands it to
    torch without another copy).
    """
    path = Path(path)
    if path.suffix != ARRAY_SUFFIX:
        try:
            return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except FileNotFoundError:
            raise BuildError("cached array not found (was the cache moved or pruned?)", path) from None
        except (OSError, ValueError) as exc:
            raise BuildError(f"unreadable cached array ({exc.__class__.__name__}: {exc})", path) from None
    if not path.is_file():
        raise BuildError("cached array not found (was the cache moved or pruned?)", path)
    import blosc2

    try:
        stored = blosc2.open(str(path), mode="r", dparams={"nthreads": 1})
        if not isinstance(stored, blosc2.NDArray):
            raise ValueError(f"holds a {type(stored).__name__}, not an NDArray")
        expected = (stored.vlmeta[CHECKSUM_KEY] if CHECKSUM_KEY in stored.vlmeta else {}).get("crc32")
        values = np.ascontiguousarray(stored[...])
    except Exception as exc:  # blosc2 raises RuntimeError, ValueError, KeyError, UnicodeDecodeError... on damage
        raise BuildError(f"unreadable cached array, corrupt or not a Blosc2 file ({exc.__class__.__name__}: {exc}); "
                         "rebuild the study", path) from None
    if not isinstance(expected, int):
        raise BuildError("cached array has no CRC-32 record (not written by vipet's cache); rebuild the study", path)
    found = zlib.crc32(memoryview(values).cast("B")) if values.size else 0
    if found != expected:
        raise BuildError(f"corrupt cached array: CRC-32 {found:08x} of the decompressed voxels, {expected:08x} "
                         "recorded; rebuild the study", path)
    values.flags.writeable = not mmap
    return values
