"""The `.npz` reader that inflates `data.npy` itself (ISA-L) against `np.load`, the reference.

Round trips on generated arrays (every layout numpy writes: deflated and stored members, several
dtypes and byte orders, Fortran order, `.npy` header versions 1 and 2, members spanning many
inflate chunks) must give exactly what `np.load` gives; damaged archives must give the same
one-line `ReadError` as before, and a header claiming a huge array is refused before allocation.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vipet.errors import ReadError
from vipet.io import npz
from vipet.io.npz import load_npz_volume

RNG = np.random.default_rng(18)
ARRAYS = {
    "int16-ct": RNG.integers(-1024, 3000, size=(7, 33, 35), dtype=np.int16),
    "uint8": RNG.integers(0, 255, size=(3, 4, 5), dtype=np.uint8),
    "float32-pet": (RNG.random((5, 16, 16)) * 12).astype(np.float32),
    "float64": RNG.normal(size=(2, 3, 4)),
    "big-endian": RNG.integers(-500, 500, size=(4, 5, 6)).astype(">i2"),
    "fortran": np.asfortranarray(RNG.integers(0, 100, size=(4, 6, 8), dtype=np.int16)),
    "empty": np.zeros((0, 3, 4), np.int16),
    # ~1.3 MB of noise: the deflated member spans ~20 inflate chunks and many output pieces
    "many-chunks": RNG.integers(-32768, 32767, size=(10, 256, 256), dtype=np.int16),
}


def _np_load(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        return archive["data"]


def _reference_error(path: Path) -> str:
    """The message the earlier reader (np.load over zipfile and zlib) gave for a damaged archive."""
    try:
        _np_load(path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        return f"{path}: truncated or corrupt .npz ({exc.__class__.__name__}: {exc})"
    raise AssertionError(f"np.load read {path} without an error")


def _refused(path: Path) -> str:
    with pytest.raises(ReadError) as refused:
        load_npz_volume(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


def _npy_bytes(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version, allow_pickle=False)
    return buffer.getvalue()


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return path


def _central_entry(payload: bytes) -> int:
    """Offset of the (only) central directory entry of a zip."""
    return payload.rindex(b"PK\x01\x02")


@pytest.mark.parametrize("name", sorted(ARRAYS))
@pytest.mark.parametrize("writer", [np.savez_compressed, np.savez], ids=["deflated", "stored"])
def test_round_trip_equals_np_load(tmp_path, name, writer):
    path = tmp_path / "vol.npz"
    writer(path, data=ARRAYS[name])
    expected, found = _np_load(path), load_npz_volume(path)
    assert found.dtype == expected.dtype and found.shape == expected.shape
    assert found.tobytes(order="A") == expected.tobytes(order="A")
    assert found.flags.f_contiguous == expected.flags.f_contiguous and found.flags.writeable


def test_many_chunks_really_spans_many_inflate_calls(tmp_path):
    """Guards the round trip above: its noise array is larger than several inflate chunks."""
    path = tmp_path / "vol.npz"
    np.savez_compressed(path, data=ARRAYS["many-chunks"])
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("data.npy").compress_size > 10 * npz._INFLATE_CHUNK


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
                         ids=["deflated", "stored", "bzip2", "lzma"])
@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_any_zip_method_and_header_version_equals_np_load(tmp_path, method, version):
    array = ARRAYS["int16-ct"]
    path = _zip(tmp_path / "vol.npz", {"data.npy": _npy_bytes(array, version), "other.npy": _npy_bytes(array[:1])},
                method)
    expected = _np_load(path)
    assert np.array_equal(load_npz_volume(path), expected) and np.array_equal(expected, array)


def test_bytes_after_the_array_are_ignored_as_np_load_does(tmp_path):
    array = ARRAYS["float32-pet"]
    path = _zip(tmp_path / "vol.npz", {"data.npy": _npy_bytes(array) + b"\x00" * 100})
    assert np.array_equal(load_npz_volume(path), _np_load(path))


def test_a_cut_file_loses_its_directory_and_gives_the_same_error(tmp_path):
    path = tmp_path / "vol.npz"
    np.savez_compressed(path, data=ARRAYS["int16-ct"])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert _refused(path) == _reference_error(path) == \
        f"{path}: truncated or corrupt .npz (BadZipFile: File is not a zip file)"


def test_a_flipped_stored_byte_fails_the_crc_with_the_same_error(tmp_path):
    path = tmp_path / "vol.npz"
    np.savez(path, data=ARRAYS["int16-ct"])
    payload = bytearray(path.read_bytes())
    payload[400] ^= 0x55  # inside the voxels of the stored member
    path.write_bytes(bytes(payload))
    assert _refused(path) == _reference_error(path) == \
        f"{path}: truncated or corrupt .npz (BadZipFile: Bad CRC-32 for file 'data.npy')"


@pytest.mark.parametrize("where", [0.3, 0.5, 0.8])
def test_damaged_deflate_data_is_one_line_error(tmp_path, where):
    """The inflater's own message differs from zlib's; the line and its prefix do not."""
    path = tmp_path / "vol.npz"
    np.savez_compressed(path, data=ARRAYS["many-chunks"])
    payload = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("data.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    for offset in range(8):
        payload[int(start + where * (info.compress_size - 400)) + offset] ^= 0xFF
    path.write_bytes(bytes(payload))
    reference = _reference_error(path)
    message = _refused(path)
    assert message.startswith(f"{path}: truncated or corrupt .npz (")
    assert reference.startswith(f"{path}: truncated or corrupt .npz (")


def test_a_deflate_stream_cut_short_is_refused(tmp_path):
    """A directory entry that promises fewer compressed bytes than the stream needs."""
    path = _zip(tmp_path / "vol.npz", {"data.npy": _npy_bytes(ARRAYS["many-chunks"])})
    payload = bytearray(path.read_bytes())
    entry = _central_entry(payload)
    (size,) = struct.unpack_from("<L", payload, entry + 20)
    struct.pack_into("<L", payload, entry + 20, size // 2)
    path.write_bytes(bytes(payload))
    assert _refused(path) == (f"{path}: truncated or corrupt .npz (EOFError: the compressed data ends before its "
                              "end-of-stream marker)")
    assert _reference_error(path).startswith(f"{path}: truncated or corrupt .npz (")


def test_a_member_shorter_than_its_directory_says_is_refused(tmp_path):
    path = _zip(tmp_path / "vol.npz", {"data.npy": _npy_bytes(ARRAYS["float32-pet"])})
    payload = bytearray(path.read_bytes())
    entry = _central_entry(payload)
    (size,) = struct.unpack_from("<L", payload, entry + 24)
    struct.pack_into("<L", payload, entry + 24, size + 64)  # uncompressed size
    path.write_bytes(bytes(payload))
    assert _refused(path) == (f"{path}: truncated or corrupt .npz (EOFError: data.npy ends after {size} of the "
                              f"{size + 64} bytes its directory entry says)")


def test_an_encrypted_member_is_refused(tmp_path):
    path = _zip(tmp_path / "vol.npz", {"data.npy": _npy_bytes(ARRAYS["uint8"])})
    payload = bytearray(path.read_bytes())
    entry = _central_entry(payload)
    struct.pack_into("<H", payload, entry + 8, struct.unpack_from("<H", payload, entry + 8)[0] | 0x1)
    path.write_bytes(bytes(payload))
    assert _refused(path) == f"{path}: the data.npy member is encrypted"


def test_a_local_header_that_disagrees_with_the_directory_is_refused(tmp_path):
    path = _zip(tmp_path / "vol.npz", {"mask.npy": _npy_bytes(ARRAYS["uint8"]), "data.npy": _npy_bytes(ARRAYS["uint8"])})
    payload = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo("data.npy").header_offset
    payload[offset:offset + 4] = b"PK\x09\x09"  # the signature of data.npy's local header
    path.write_bytes(bytes(payload))
    assert _refused(path) == _reference_error(path) == \
        f"{path}: truncated or corrupt .npz (BadZipFile: Bad magic number for file header)"


def test_missing_data_key_names_the_keys_as_before(tmp_path):
    path = tmp_path / "vol.npz"
    np.savez_compressed(path, volume=ARRAYS["uint8"], mask=ARRAYS["uint8"])
    assert _refused(path) == f"{path}: npz has no 'data' array (keys: ['volume', 'mask'])"


def test_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "vol.npz"
    path.write_bytes(b"PK but nothing else")
    assert _refused(path) == f"{path}: truncated or corrupt .npz (BadZipFile: File is not a zip file)"
    path.write_bytes(_npy_bytes(ARRAYS["uint8"]))
    assert _refused(path) == f"{path}: not an .npz archive (no zip header)"


def test_a_member_that_is_not_npy_is_refused(tmp_path):
    path = _zip(tmp_path / "vol.npz", {"data.npy": b"just some text, no numpy magic"})
    assert _refused(path).startswith(f"{path}: truncated or corrupt .npz (ValueError: the magic string is not correct")


def test_a_deflated_header_claiming_a_huge_volume_is_refused_before_allocation(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<i2", "fortran_order": False, "shape": (2000, 2048, 2048)})
    path = _zip(tmp_path / "vol.npz", {"data.npy": header.getvalue() + b"\0" * 4096})
    tracemalloc.start()
    try:
        message = _refused(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "more than the 4294967296 bytes a volume may have" in message
    assert peak < 8 * 1024**2, f"{peak} bytes allocated for a refused header"


def test_a_truthful_header_over_a_short_member_is_refused_before_allocation(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (300, 512, 512)})
    path = _zip(tmp_path / "vol.npz", {"data.npy": header.getvalue() + b"\0" * 1000})
    assert "truncated: the header claims shape (300, 512, 512) (314572800 bytes) but the file holds 1000" in \
        _refused(path)


def test_a_member_that_inflates_a_thousandfold_is_read_in_bounded_pieces(tmp_path):
    """64 MB of zeros deflate to ~64 KB: the first piece inflated, before the header check, stays small."""
    array = np.zeros((64, 1024, 512), np.int16)
    path = tmp_path / "vol.npz"
    np.savez_compressed(path, data=array)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("data.npy")
    with open(path, "rb") as handle:
        pieces = npz._inflated(npz._member_bytes(handle, info))
        sizes = [len(piece) for piece in pieces]
    assert info.compress_size < 200_000 and sum(sizes) == info.file_size
    assert max(sizes) <= npz._MAX_PIECE
    assert np.array_equal(load_npz_volume(path), array)
