"""Atomic writes: the new content or the old, never half of it, with the permissions a plain write gives."""

import json
import os
import stat

import pytest

from vipet.fsutil import atomic_dir, atomic_write_bytes, atomic_write_json


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_and_folders_get_the_umask_mode_not_the_private_temp_mode(tmp_path):
    old = os.umask(0o022)
    try:
        file_path = atomic_write_bytes(tmp_path / "a" / "report.html", b"<html></html>")
        with atomic_dir(tmp_path / "study") as folder:
            (folder / "ct.npy").write_bytes(b"x")
    finally:
        os.umask(old)
    # mkstemp/mkdtemp would have left 0600 / 0700: unreadable to the rest of a team.
    assert _mode(file_path) == 0o644 and _mode(tmp_path / "study") == 0o755
    assert file_path.read_bytes() == b"<html></html>"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = atomic_write_bytes(tmp_path / "metrics.json", b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_failed_folder_is_removed_and_the_old_one_kept(tmp_path):
    with atomic_dir(tmp_path / "study") as folder:
        (folder / "ok.txt").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "study") as folder:
            (folder / "half.txt").write_text("half")
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study"]
    assert [p.name for p in (tmp_path / "study").iterdir()] == ["ok.txt"]


def test_json_is_byte_identical_whatever_the_key_order(tmp_path):
    a = atomic_write_json(tmp_path / "a.json", {"b": 1, "a": "lồng ngực"}).read_bytes()
    b = atomic_write_json(tmp_path / "b.json", {"a": "lồng ngực", "b": 1}).read_bytes()
    assert a == b and json.loads(a) == {"a": "lồng ngực", "b": 1} and "lồng ngực".encode() in a
