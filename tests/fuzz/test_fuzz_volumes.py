"""ViMed-PET `.npz`/`.npy` volumes, `metadata.csv` and `vipet info` on generated input (issue 19).

A volume reader returns a 3-D array of real numbers or raises a `ReadError` naming the file; a
header claiming a huge shape is refused from the header, before anything is allocated (checked
with tracemalloc). 250 + 150 + 150 = 550 inputs.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fuzzkit import assert_clean, count, fuzz_settings, invoke
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vipet.errors import ReadError
from vipet.io.npz import MAX_VOLUME_BYTES, load_volume, volume_header

DTYPES = st.sampled_from(["int16", "uint8", "float32", "float64", "bool", "complex64", "U3", "int64"])
arrays = DTYPES.flatmap(lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=4, max_side=5)))


def _payload(array: np.ndarray, suffix: str) -> bytes:
    buffer = io.BytesIO()
    if suffix == ".npz":
        np.savez(buffer, data=array)
    else:
        np.save(buffer, array)
    return buffer.getvalue()


def _check_volume_or_error(path: Path) -> None:
    for reader in (volume_header, load_volume):
        try:
            result = reader(path)
        except ReadError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc)
            continue
        shape = result[0] if reader is volume_header else result.shape
        assert len(shape) == 3
        if reader is load_volume:
            assert np.issubdtype(result.dtype, np.number) and not np.issubdtype(result.dtype, np.complexfloating)


@fuzz_settings(250)
@given(array=arrays, suffix=st.sampled_from([".npz", ".npy"]),
       cut=st.none() | st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=3))
# A NUL in the header's dict literal: numpy's literal parser raised tokenize.TokenError (found in CI).
@example(array=np.array(0, dtype=np.int16), suffix=".npy", cut=None, flips=[(0.5, 0)])
def test_a_volume_file_is_a_3d_array_or_one_error_naming_it(array, suffix, cut, flips):
    count("npz/npy volume")
    payload = bytearray(_payload(array, suffix))
    for where, value in flips:
        payload[int(where * (len(payload) - 1))] = value
    if cut is not None:
        payload = payload[: int(cut * len(payload))]
    path = Path(tempfile.mkdtemp(prefix="vipet-fuzz-")) / f"vol{suffix}"
    path.write_bytes(bytes(payload))
    _check_volume_or_error(path)


def _forged(shape: tuple[int, ...], dtype: str, suffix: str) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    npy = header.getvalue() + b"\0" * 64
    if suffix == ".npy":
        return npy
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.npy", npy)
    return buffer.getvalue()


@fuzz_settings(150)
@given(shape=st.tuples(*[st.integers(100, 10**6)] * 3), dtype=st.sampled_from(["<i2", "<f4", "<f8"]),
       suffix=st.sampled_from([".npz", ".npy"]))
def test_a_header_claiming_a_huge_shape_is_refused_before_allocation(shape, dtype, suffix):
    count("forged volume header")
    path = Path(tempfile.mkdtemp(prefix="vipet-fuzz-")) / f"vol{suffix}"
    path.write_bytes(_forged(shape, dtype, suffix))
    tracemalloc.start()
    try:
        with pytest.raises(ReadError) as refused:
            load_volume(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(refused.value)
    assert peak < 32 * 1024**2, f"{peak} bytes allocated for a refused header"
    claimed = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
    assert ("more than" in str(refused.value)) == (claimed > MAX_VOLUME_BYTES)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    from vipet.synth import write_cohort

    return write_cohort(tmp_path_factory.mktemp("cohort") / "root", n=2, seed=3, format="vimed", size="small")


CSV_CELLS = st.one_of(st.text(max_size=12), st.sampled_from(["", "nan", "-1", "1e400", "1,65", "70", "M", "F",
                                                            "../../etc/passwd", "PETCT2017/THANG 12/PET/x.npz"]))


@fuzz_settings(150, deadline_s=20)
@given(header=st.sampled_from(["name,sex,height,weight,year,pet_path,ct_path,report_path,report_en_path", "", "a,b",
                               "name;sex;height"]),
       rows=st.lists(st.lists(CSV_CELLS, max_size=10), max_size=4), keep=st.booleans())
def test_info_on_any_metadata_csv_gives_a_summary_or_one_error_line(cohort, header, rows, keep):
    count("metadata.csv")
    root = Path(tempfile.mkdtemp(prefix="vipet-fuzz-")) / "root"
    shutil.copytree(cohort, root)
    original = (root / "metadata.csv").read_text(encoding="utf-8").splitlines()
    lines = ([header] if header else []) + (original[1:] if keep else []) + [",".join(r).replace("\n", " ") for r in rows]
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    assert_clean(invoke(["info", root, "--json"]), root)


@pytest.mark.parametrize("array", [np.array(3, dtype=np.int16), np.zeros(5, np.int16), np.zeros((4, 4), np.int16),
                                   np.array([{"a": 1}], dtype=object)], ids=["0-D", "1-D", "2-D", "pickled"])
def test_info_lists_a_volume_that_is_not_3d_as_a_bad_file(cohort, tmp_path, array):
    """Regression: `vipet info` raised IndexError in the header summary on such a volume."""
    root = tmp_path / "root"
    shutil.copytree(cohort, root)
    victim = sorted(root.rglob("PET/*.npz"))[0]
    np.savez(victim, data=array, allow_pickle=True)
    result = invoke(["info", root, "--json"])
    assert_clean(result, root)
    assert result.exit_code == 0
    assert victim.name in result.stdout and "corrupt_volume" in result.stdout
