"""Exports load in Hugging Face datasets and read as LLaVA conversations; paired slices line up."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from vipet.data.cache import open_array
from vipet.data.export import export_hf, export_llava
from vipet.data.manifest import read_manifest
from vipet.data.slices import export_slices, iter_slice_pairs


def test_hf_parquet_loads_with_datasets(built, tmp_path):
    import datasets

    out, _ = built
    rows = read_manifest(out)
    report = export_hf(rows, tmp_path)
    files = {split: str(tmp_path / "hf" / "report" / f"{split}.parquet") for split in ("train", "val", "test")}
    loaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf_cache"))
    assert loaded["train"].num_rows == report["counts"]["report"]["train"] == 12
    record = loaded["test"][0]
    assert record["task"] == "report" and record["image_shape"] == [2, 16, 32, 32]
    assert record["text"] == next(r["report_text"] for r in rows if r["sample_id"] == record["sample_id"])


def test_llava_json_conversations(built, tmp_path):
    out, _ = built
    export_llava(read_manifest(out), out)  # into the build folder, so image paths resolve
    entries = json.loads((out / "llava" / "train.json").read_text(encoding="utf-8"))
    report_entries = [e for e in entries if e["task"] == "report"]
    assert len(report_entries) == 12
    entry = report_entries[0]
    human, gpt = entry["conversations"]
    assert human["from"] == "human" and human["value"].startswith("<image>\n") and gpt["from"] == "gpt"
    assert (out / entry["image"]).is_file() and (out / entry["image_2d"]).is_file()


def test_slice_pairs_share_a_grid(built, tmp_path):
    out, _ = built
    folder = out / "cache" / "2018_03_02_patient_1"
    pairs = list(iter_slice_pairs(folder, step=10))
    assert [z for z, _, _ in pairs] == list(range(0, 96, 10))
    ct = open_array(folder / "ct.b2nd")
    pet = open_array(folder / "pet.b2nd")
    z, ct_slice, pet_slice = pairs[3]
    np.testing.assert_array_equal(ct_slice, ct[z])
    info = export_slices(ct, pet, tmp_path / "npy", "npy")
    pair = np.load(tmp_path / "npy" / "0038.npy")
    assert info["count"] == 96 and pair.shape == (2, 32, 32) and pair.dtype == np.float16
    np.testing.assert_allclose(pair[1], ct[38], atol=1.0)
    assert np.unravel_index(np.argmax(pair[0]), pair[0].shape) == np.unravel_index(
        np.argmax(pet[38].astype(np.float32)), pet[38].shape)
    info = export_slices(ct, pet, tmp_path / "png", "png", suv_max=10.0)
    ct8 = np.asarray(Image.open(tmp_path / "png" / "0038_ct.png"))
    pet8 = np.asarray(Image.open(tmp_path / "png" / "0038_pet.png"))
    assert ct8.dtype == np.uint8 and ct8.shape == pet8.shape == (32, 32)
    assert pet8.max() == round(min(float(pet[38].max()), 10.0) / 10.0 * 255)
