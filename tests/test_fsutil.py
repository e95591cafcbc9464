"""Atomic writes: the new content or the old, never half of it, with the permissions a plain write gives."""

import json
import os
import stat
from pathlib import Path

import pytest

from vipet.errors import UnsafePathError
from vipet.fsutil import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_text, inside, safe_name


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


@pytest.mark.parametrize("name, expected", [
    ("2017_11_03_12345", "2017_11_03_12345"), ("ANON 01/02", "ANON_01_02"), ("../../x", "x"), ("..", "anon"),
    (".", "anon"), (".hidden", "_hidden"), ("/etc/passwd", "etc_passwd"), ("", "anon"), ("Nguyễn Văn A", "Nguy_n_V_n_A"),
])
def test_safe_name_gives_one_plain_component(name, expected):
    assert safe_name(name) == expected
    assert "/" not in safe_name(name) and safe_name(name) not in (".", "..")


def test_inside_refuses_what_leaves_the_root(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    assert inside(root, "a/b.json") == inside(root, root / "a/b.json") == (root / "a" / "b.json").resolve()
    for bad in ("../x", root / "a/../../x", tmp_path / "elsewhere", "/etc/passwd"):
        with pytest.raises(UnsafePathError, match="lies outside"):
            inside(root, bad)
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError, match="lies outside"):
        inside(root, root / "link/x")


def test_atomic_writes_check_working_folder_relative_paths_against_the_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("out/cache").mkdir(parents=True)
    atomic_write_text("out/cache/k.txt", "x", root="out")
    assert (tmp_path / "out/cache/k.txt").read_text() == "x"
    with pytest.raises(UnsafePathError, match="output folder"):
        with atomic_dir("out/cache", root="out/cache"):
            pass


def test_writes_given_a_root_never_land_or_remove_outside_it(tmp_path):
    root, victim = tmp_path / "out", tmp_path / "victim"
    root.mkdir()
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    with pytest.raises(UnsafePathError):
        with atomic_dir(root / ".." / "victim", root=root) as tmp:
            (tmp / "new.txt").write_text("x")
    with pytest.raises(UnsafePathError):
        atomic_write_text(root / ".." / "victim" / "keep.txt", "overwritten", root=root)
    with pytest.raises(UnsafePathError, match="output folder"):
        with atomic_dir(root, root=root):
            pass
    assert (victim / "keep.txt").read_text() == "precious" and sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "victim"]
