"""The one sha256 and the one JSON diff: content manifests that survive a move, diffs with paths."""

from __future__ import annotations

import hashlib

import vipet.hashing
from vipet.hashing import file_manifest, json_differences, json_path_text, manifest_hash, sha256_file, sha256_json


def test_sha256_of_a_file_and_of_json_in_canonical_form(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    assert sha256_file(tmp_path / "a.bin") == hashlib.sha256(b"abc").hexdigest()
    assert sha256_json({"b": 1, "a": "ư"}) == hashlib.sha256('{"a": "ư", "b": 1}'.encode("utf-8")).hexdigest()


def test_manifest_reuses_hashes_by_size_and_mtime_and_ignores_where_the_folder_lies(tmp_path, monkeypatch):
    first = tmp_path / "one" / "cohort"
    (first / "PET").mkdir(parents=True)
    (first / "PET" / "a.npz").write_bytes(b"volume")
    (first / "metadata.csv").write_text("key\n", encoding="utf-8")
    (first / ".DS_Store").write_bytes(b"finder")  # hidden: not content
    manifest = file_manifest(first)
    assert sorted(manifest) == ["PET/a.npz", "metadata.csv"]
    assert manifest["PET/a.npz"]["sha256"] == hashlib.sha256(b"volume").hexdigest()
    read: list[str] = []
    real = vipet.hashing.sha256_file
    monkeypatch.setattr(vipet.hashing, "sha256_file", lambda path: read.append(path.name) or real(path))
    moved = tmp_path / "two" / "cohort"
    moved.parent.mkdir()
    first.rename(moved)
    assert file_manifest(moved, manifest) == manifest and read == []  # nothing read again
    (moved / "PET" / "a.npz").write_bytes(b"VOLUME")
    again = file_manifest(moved, manifest)
    assert read == ["a.npz"] and manifest_hash(again) != manifest_hash(manifest)
    assert manifest_hash({p: dict(e, mtime_ns=0) for p, e in again.items()}) == manifest_hash(again)  # times never count


def test_json_differences_name_the_path_and_both_values():
    old = {"train": {"lr": 0.1, "betas": [0.9, 0.95]}, "name": "a", "tags": [1]}
    new = {"train": {"lr": 0.2, "betas": [0.9, 0.99]}, "name": "a", "tags": [1, 2], "seed": 3}
    assert json_differences(old, new) == [(("seed",), None, 3), (("tags",), [1], [1, 2]),
                                          (("train", "betas", 1), 0.95, 0.99), (("train", "lr"), 0.1, 0.2)]
    assert [json_path_text(p) for p, _, _ in json_differences(old, new)] == ["seed", "tags", "train.betas[1]", "train.lr"]
    assert json_differences(old, old) == [] and json_path_text(()) == "/"
