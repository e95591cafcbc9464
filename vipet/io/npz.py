"""ViMed-PET `.npz` volumes: full loads, header-only peeks, and atomic writes.

A header peek reads the zip directory and the `.npy` header of `data` only, so `vipet info`
can report shapes of thousands of volumes (and catch truncated files, whose zip directory at the
end is gone) without decompressing hundreds of megabytes each.

A full load reads the `data.npy` member itself instead of going through `np.load`: zipfile parses
the directory, the member's deflate stream is inflated with ISA-L (`isal.isal_zlib`, the same
format as zlib at several times its speed, with the GIL released) straight into the array, piece by
piece, with the CRC-32 checked as zipfile would. Decoding the cohort's npz files was most of the
build's time. The `.npy` header is parsed and checked (`check_volume_header`) from the first
inflated bytes, before the array is allocated.
"""

from __future__ import annotations

import io
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
from isal import isal_zlib

from vipet.errors import ReadError
from vipet.fsutil import atomic_write_bytes

DATA_KEY = "data"
# Largest volume a header may claim (a 1,000 x 1,024 x 1,024 float32 is 4 GiB): a header is checked
# against this and against the bytes the file really holds before any array is allocated.
MAX_VOLUME_BYTES = 4 * 1024**3

# What numpy raises on a damaged array header: it parses the header as a Python literal, so a flipped
# byte can surface as a SyntaxError or a tokenize.TokenError as well as a ValueError.
_DAMAGED_HEADER = (EOFError, OSError, ValueError, SyntaxError, tokenize.TokenError)
# What a damaged zip member raises on the way to its bytes (zipfile, the stdlib and ISA-L inflaters).
_DAMAGED_MEMBER = (zipfile.BadZipFile, zlib.error, isal_zlib.error, struct.error)
_MEMBER = f"{DATA_KEY}.npy"
# Compressed bytes per inflate call: each inflated piece (1 MB at most) is still in the CPU cache
# when it is copied into the array and added to the CRC.
_INFLATE_CHUNK = 1 << 16
_MAX_PIECE = 1 << 20  # inflated bytes per call at most
# Longest `.npy` header read before the array is allocated (numpy's own limit is 10,000 bytes).
_MAX_HEADER_BYTES = 1 << 16


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
        with open(path, "rb") as handle:
            if handle.read(2) != b"PK":
                raise ReadError("not an .npz archive (no zip header)", path)
            handle.seek(0)
            volume = _read_data_member(handle, path)
    except ReadError:
        raise
    except (*_DAMAGED_MEMBER, *_DAMAGED_HEADER) as exc:
        raise ReadError(f"truncated or corrupt .npz ({exc.__class__.__name__}: {exc})", path) from None
    return _checked_volume(volume, path)


def _read_data_member(handle: BinaryIO, path: Path) -> np.ndarray:
    """The array in `data.npy` of the open zip `handle`: header checked, then inflated into place."""
    with zipfile.ZipFile(handle) as archive:
        names = archive.namelist()
        if _MEMBER not in names:
            keys = [n[: -len(".npy")] if n.endswith(".npy") else n for n in names]
            raise ReadError(f"npz has no {DATA_KEY!r} array (keys: {keys})", path)
        info = archive.getinfo(_MEMBER)
        if info.flag_bits & 0x1:
            raise ReadError(f"the {_MEMBER} member is encrypted", path)
        if info.compress_type == zipfile.ZIP_DEFLATED:
            pieces = _inflated(_member_bytes(handle, info))
        elif info.compress_type == zipfile.ZIP_STORED:
            pieces = _member_bytes(handle, info)
        else:  # bzip2 or lzma, which numpy never writes: zipfile's own reader (it checks the CRC)
            pieces = _zipfile_pieces(archive, info)
        return _array_from_pieces(pieces, info, path)


def _member_bytes(handle: BinaryIO, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The stored bytes of one member, in chunks, after checking its local header as zipfile does."""
    handle.seek(info.header_offset)
    header = handle.read(zipfile.sizeFileHeader)
    if len(header) != zipfile.sizeFileHeader:
        raise EOFError(f"the local header of {info.filename!r} is cut short")
    fields = struct.unpack(zipfile.structFileHeader, header)
    if fields[0] != zipfile.stringFileHeader:
        raise zipfile.BadZipFile("Bad magic number for file header")
    name = handle.read(fields[10])
    if name != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"):
        raise zipfile.BadZipFile(f"File name in directory {info.orig_filename!r} and header {name!r} differ.")
    handle.seek(fields[11], io.SEEK_CUR)  # the extra field (zip64 sizes): the directory's sizes rule
    left = info.compress_size
    while left > 0:
        chunk = handle.read(min(_INFLATE_CHUNK, left))
        if not chunk:
            raise EOFError(f"the archive ends {left} bytes before the end of {info.filename!r}")
        left -= len(chunk)
        yield chunk


def _inflated(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Raw deflate (zip method 8) inflated by ISA-L, in pieces of at most `_MAX_PIECE` bytes (so a
    forged member of a few zeros that inflates 1000-fold allocates little before its header is checked)."""
    inflater = isal_zlib.decompressobj(-isal_zlib.MAX_WBITS)
    for chunk in chunks:
        while chunk:
            piece = inflater.decompress(chunk, _MAX_PIECE)
            if piece:
                yield piece
            chunk = inflater.unconsumed_tail
    tail = inflater.flush()
    if tail:
        yield tail
    if not inflater.eof:
        raise EOFError("the compressed data ends before its end-of-stream marker")


def _zipfile_pieces(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    with archive.open(info) as member:
        while piece := member.read(1 << 20):
            yield piece


def _array_from_pieces(pieces: Iterator[bytes], info: zipfile.ZipInfo, path: Path) -> np.ndarray:
    """Parse and check the `.npy` header from the first bytes, allocate, then fill the array in place.

    The member's size and CRC-32 from the zip directory are checked over every byte, as zipfile
    does; bytes past the array (none in a file numpy wrote) are read and checked but not kept.
    """
    head = bytearray()
    header_end = None
    for piece in pieces:
        head += piece
        header_end = _npy_header_end(head)
        if header_end is not None and len(head) >= header_end:
            break
        if len(head) > _MAX_HEADER_BYTES:
            raise ValueError(f"no complete .npy header in the first {_MAX_HEADER_BYTES} bytes")
    if header_end is None or len(head) < header_end:
        raise EOFError(f"the {_MEMBER} member ends inside its .npy header")
    stream = io.BytesIO(bytes(head[:header_end]))
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
    check_volume_header(shape, dtype, info.file_size - header_end, path)  # before any allocation
    volume = np.empty(shape[::-1] if fortran_order else shape, dtype=dtype)
    flat = volume.reshape(-1).view(np.uint8)
    crc = isal_zlib.crc32(head)
    filled = _fill(flat, 0, memoryview(head)[header_end:])
    total = len(head)
    for piece in pieces:
        crc = isal_zlib.crc32(piece, crc)
        filled = _fill(flat, filled, piece)
        total += len(piece)
        if total > info.file_size:
            raise zipfile.BadZipFile(f"{_MEMBER} holds more than the {info.file_size} bytes its directory entry says")
    if total != info.file_size:
        raise EOFError(f"{_MEMBER} ends after {total} of the {info.file_size} bytes its directory entry says")
    if crc != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {_MEMBER!r}")
    return volume.transpose() if fortran_order else volume


def _npy_header_end(head: bytearray) -> int | None:
    """Where the `.npy` header ends (magic, length field, header), once enough bytes are there;
    numpy's own ValueError when the member does not start with the `.npy` magic."""
    if len(head) < 8:
        return None
    major, _ = np.lib.format.read_magic(io.BytesIO(bytes(head[:8])))
    width = 2 if major == 1 else 4
    if len(head) < 8 + width:
        return None
    return 8 + width + int.from_bytes(head[8:8 + width], "little")


def _fill(flat: np.ndarray, filled: int, piece) -> int:
    """Copy the part of `piece` that still belongs to the array into `flat` from `filled` on."""
    take = min(len(piece), flat.size - filled)
    if take > 0:
        flat[filled:filled + take] = np.frombuffer(piece, dtype=np.uint8, count=take)
    return filled + take


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
    except (*_DAMAGED_MEMBER, *_DAMAGED_HEADER) as exc:
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
