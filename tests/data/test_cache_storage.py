"""The compressed cache layout (issue 18): exact round trips, the recorded precision, old layouts, damage.

Arrays are stored as Blosc2 `.b2nd` files (lossless), so what a loader reads equals what the build
cast, bit for bit: the model inputs against NumPy's own float16 cast of the float32 values (and
within the sidecar's recorded bound of them), the whole-body CT/PET exactly. A cache of the earlier
`.npy` layout is rebuilt by the next build, and a damaged file is an error naming it, never voxels.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging"))  # the shared phantom

from conftest import TARGET  # noqa: E402
from phantom import make_phantom  # noqa: E402

from vipet.data.build import build_dataset  # noqa: E402
from vipet.data.cache import (ARRAY_FORMAT, ARRAY_SUFFIX, CHECKSUM_KEY, CODEC, META_FILE, PRECISION,  # noqa: E402
                              current_layout, is_complete, open_array, read_meta, require_finite,
                              save_array, study_dir)
from vipet.data.config import BuildConfig  # noqa: E402
from vipet.data.dataset import ReportDataset  # noqa: E402
from vipet.data.process import process_study  # noqa: E402
from vipet.errors import BuildError  # noqa: E402
from vipet.imaging.pet import SUVScale  # noqa: E402
from vipet.imaging.resample import Grid, sample_box  # noqa: E402
from vipet.imaging.windows import MultiWindow  # noqa: E402

HALF = PRECISION["float16"]


def _within(stored: np.ndarray, exact: np.ndarray, precision: dict) -> bool:
    bound = np.maximum(precision["relative"] * np.abs(exact.astype(np.float64)), precision["absolute"])
    return bool(np.all(np.abs(stored.astype(np.float64) - exact.astype(np.float64)) <= bound))


def test_float16_model_inputs_round_trip_to_numpys_cast_and_within_the_recorded_bound(tmp_path):
    rng = np.random.default_rng(7)
    exact = rng.random((2, 6, 20, 24), dtype=np.float32)
    exact[0, 0, 0, :6] = [0.0, 1.0, 0.5, 1e-8, 3e-6, 1.0 / 3.0]  # ends, a binade edge, subnormals, a hand case
    info = save_array(tmp_path, "chest", exact.astype(np.float16))
    loaded = open_array(tmp_path / info["file"])
    assert info["file"] == "chest" + ARRAY_SUFFIX and info["format"] == ARRAY_FORMAT and info["codec"] == CODEC
    assert loaded.dtype == np.float16 and loaded.shape == exact.shape and not loaded.flags.writeable
    assert np.array_equal(loaded.view(np.uint16), exact.astype(np.float16).view(np.uint16))  # bit for bit
    assert float(loaded[0, 0, 0, 5]) == 0.333251953125  # 1/3 to nearest float16 (0x3555), by hand
    private = open_array(tmp_path / info["file"], mmap=False)  # as numpy.load: a writable array of one's own
    assert private.flags.writeable and np.array_equal(private, loaded) and not np.shares_memory(private, loaded)
    assert _within(loaded, exact, HALF)
    assert float(np.max(np.abs(loaded.astype(np.float32) - exact))) <= 2.0**-12  # half a unit at [0.5, 1)
    assert (tmp_path / info["file"]).stat().st_size == info["bytes"] < exact.astype(np.float16).nbytes


@pytest.mark.parametrize("dtype", ["int16", "float16", "float32"])
def test_whole_body_arrays_round_trip_exactly_in_their_dtype(tmp_path, dtype):
    rng = np.random.default_rng(3)
    if dtype == "int16":
        values = rng.integers(-32768, 32768, size=(70, 48, 40)).astype(np.int16)
        values[0, 0, :2] = [-32768, 32767]
    else:
        values = (rng.random((70, 48, 40)) * (60000.0 if dtype == "float16" else 1e6)).astype(dtype)
    info = save_array(tmp_path, "ct", values)
    loaded = open_array(tmp_path / info["file"])
    assert loaded.dtype == values.dtype and np.array_equal(loaded, values)
    assert info["chunks"][1:] == [48, 40] and info["chunks"][0] <= 70  # whole slabs along z


def test_float16_nan_and_inf_are_refused_and_nothing_is_written(tmp_path):
    values = np.array([[0.0, 65504.0, -65504.0, 6e-8], [np.inf, -np.inf, np.nan, 1.0]], dtype=np.float16)
    with pytest.raises(BuildError, match="has 3 NaN/Inf voxels of 8") as caught:
        save_array(tmp_path, "pet", values)
    assert int(np.count_nonzero(~np.isfinite(values))) == 3  # the count, by NumPy's own test
    assert "'pet' (float16)" in str(caught.value) and not list(tmp_path.iterdir())
    with pytest.raises(BuildError, match="has 2 NaN/Inf voxels of 4"):
        require_finite(values[:, ::2], "a strided view")  # columns 0 and 2: +inf and nan in the second row
    require_finite(values[0], "the finite row")  # the float16 extremes and a subnormal pass


def test_a_built_study_gives_its_float32_inputs_within_the_recorded_precision(tmp_path):
    study, _ = make_phantom(True, seed=2, key="2018_10_03_patient_1")
    config = BuildConfig(target_shape=(8, 16, 16), renders=False)
    meta = process_study(study, config, tmp_path)
    precision = meta["storage"]["volumes"]["precision"]
    assert precision == HALF and current_layout(meta)
    # the float32 inputs, from the source arrays and the recorded boxes (head first, PET grid as the whole grid)
    whole = Grid(tuple(meta["grids"]["whole"]["shape"]), tuple(meta["grids"]["whole"]["spacing_mm"]))
    pet_grid, ct_grid = Grid(study.pet.shape, study.pet.spacing), Grid(study.ct.shape, study.ct.spacing)
    for sample in meta["samples"]:
        box = tuple(tuple(b) for b in sample["box"])
        pet = sample_box(study.pet.array, pet_grid, whole, box, config.target_shape, fill=0.0,
                      kernel=config.resample_kernel)
        ct = sample_box(study.ct.array, ct_grid, whole, box, config.target_shape, fill=-1000.0,
                      kernel=config.resample_kernel)
        exact = np.concatenate([SUVScale(suv_max=config.suv_max)(pet)[None], MultiWindow(("wide",))(ct)])
        loaded = open_array(tmp_path / meta["arrays"][sample["region"]]["file"])
        assert loaded.dtype == np.float16 and loaded.shape == (2, 8, 16, 16)
        assert 0.0 <= exact.min() and exact.max() <= 1.0  # model inputs are normalised: float16 is exact enough
        assert _within(loaded, exact, precision), sample["region"]


def _to_previous_layout(folder: Path) -> dict:
    """What the build wrote before compression: `.npy` arrays, records without format or codec."""
    meta = read_meta(folder)
    for name, info in meta["arrays"].items():
        values = open_array(folder / info["file"])
        (folder / info["file"]).unlink()
        np.save(folder / f"{name}.npy", values, allow_pickle=False)
        meta["arrays"][name] = {"file": f"{name}.npy", "shape": info["shape"], "dtype": info["dtype"]}
    for sample in meta["samples"]:
        sample["image"] = meta["arrays"][sample["region"]]["file"]
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    return meta


def test_an_old_layout_study_is_rebuilt_and_its_files_are_never_read_as_the_new_format(cohort, tmp_path):
    config = BuildConfig(target_shape=TARGET, renders=False)
    first = build_dataset(cohort, tmp_path, config, workers=1, exports=(), progress=False)
    key = first["built"][0]
    folder = study_dir(tmp_path, key)
    before = {name: np.array(open_array(folder / info["file"])) for name, info in read_meta(folder)["arrays"].items()}
    old = _to_previous_layout(folder)
    assert not current_layout(old) and not is_complete(tmp_path, key, config.fingerprint())
    assert all(np.array_equal(open_array(folder / f"{name}.npy"), values) for name, values in before.items())
    with pytest.raises(BuildError, match="corrupt or not a Blosc2 file"):  # a .npy named .b2nd is refused
        (folder / "chest.npy").rename(folder / "chest.b2nd")
        open_array(folder / "chest.b2nd")

    second = build_dataset(cohort, tmp_path, config, workers=1, exports=(), progress=False)
    assert second["built"] == [key]  # only the old-layout study, the others resume
    meta = read_meta(folder)
    assert current_layout(meta) and is_complete(tmp_path, key, config.fingerprint())
    assert not list(folder.glob("*.npy"))
    for name, values in before.items():
        assert np.array_equal(open_array(folder / meta["arrays"][name]["file"]), values)


def test_a_sidecar_of_another_codec_is_not_complete(cohort, tmp_path):
    config = BuildConfig(target_shape=TARGET, renders=False)
    key = build_dataset(cohort, tmp_path, config, workers=1, exports=(), progress=False)["built"][0]
    path = study_dir(tmp_path, key) / META_FILE
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["arrays"]["pet"]["codec"] = {**CODEC, "clevel": 9}
    path.write_text(json.dumps(meta), encoding="utf-8")
    assert not is_complete(tmp_path, key, config.fingerprint())


def test_damaged_files_are_errors_naming_the_file(tmp_path):
    import blosc2

    values = (np.random.default_rng(5).random((2, 16, 64, 64)) * 0.9).astype(np.float16)
    info = save_array(tmp_path, "head_neck", values)
    path = tmp_path / info["file"]
    raw = path.read_bytes()

    damaged = bytearray(raw)
    damaged[len(raw) // 2] ^= 0xFF  # inside the compressed chunk
    path.write_bytes(bytes(damaged))
    with pytest.raises(BuildError) as caught:
        open_array(path)
    assert str(path) in str(caught.value) and "corrupt" in str(caught.value)

    path.write_bytes(raw)
    stored = blosc2.open(str(path), mode="a")
    stored.vlmeta[CHECKSUM_KEY] = {"crc32": (info["crc32"] + 1) % 2**32}  # voxels intact, record disagrees
    del stored
    with pytest.raises(BuildError, match="CRC-32") as caught:
        open_array(path)
    assert str(path) in str(caught.value)

    path.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(BuildError, match="corrupt or not a Blosc2 file"):
        open_array(path)

    blosc2.asarray(values, urlpath=str(path), mode="w")  # a Blosc2 file, but not written by the cache
    with pytest.raises(BuildError, match="no CRC-32 record"):
        open_array(path)
    with pytest.raises(BuildError, match="not found"):
        open_array(tmp_path / "missing.b2nd")


def test_the_loader_returns_float32_volumes_and_names_a_damaged_one(built):
    out, _ = built
    dataset = ReportDataset(out, split=None, regions=("chest", "whole"))
    assert len(dataset)
    for index in range(len(dataset)):
        item = dataset[index]
        cached = open_array(out / dataset.rows[dataset.items[index][0]]["image_path"])
        assert item["image"].dtype.is_floating_point and str(item["image"].dtype) == "torch.float32"
        assert tuple(item["image"].shape) == (2, *TARGET) and np.array_equal(item["image"].numpy(), cached.astype(np.float32))


def test_a_damaged_volume_stops_the_loader_with_the_file_named(cohort, tmp_path):
    build_dataset(cohort, tmp_path, BuildConfig(target_shape=TARGET, renders=False), workers=1, exports=(),
                  progress=False)
    dataset = ReportDataset(tmp_path, split=None, regions=("chest",))
    path = tmp_path / dataset.rows[0]["image_path"]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x55
    path.write_bytes(bytes(raw))
    with pytest.raises(BuildError) as caught:
        dataset[0]
    assert str(path) in str(caught.value)
