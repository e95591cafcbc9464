"""No command writes or removes anything outside its output folder, whatever names the input holds.

Every name-bearing input is tried with `../` and absolute paths: NIfTI sidecar study keys, ViMed
metadata.csv paths and bench model names. The whole folder around the output is snapshotted
before and after (every path, size and modification time), and only the output folder may change.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vipet.cli import app

runner = CliRunner()


def _snapshot(zone: Path, out: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below `zone` but inside `out`: relative path -> (size, mtime_ns)."""
    found = {}
    for path in sorted(zone.rglob("*")):
        if path == out or out in path.parents:
            continue
        stat = path.lstat()
        found[str(path.relative_to(zone))] = (stat.st_size if path.is_file() else 0, stat.st_mtime_ns)
    return found


@pytest.fixture()
def zone(tmp_path: Path) -> Path:
    """A folder with a victim file where `../../victim` from the output's cache would land."""
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "keep.txt").write_text("precious", encoding="utf-8")
    return tmp_path


def _synth(folder: Path, fmt: str, n: int = 2) -> None:
    result = runner.invoke(app, ["synth", str(folder), "--n", str(n), "--format", fmt, "--seed", "3"])
    assert result.exit_code == 0, result.output


def test_hostile_nifti_sidecar_keys_stay_inside_out(zone: Path) -> None:
    data, out = zone / "data", zone / "out"
    _synth(data, "nifti", n=3)
    sidecars = sorted(data.rglob("study.json"))
    assert len(sidecars) == 3
    for sidecar, key in zip(sidecars, ("../../victim", str(zone / "victim"), "..")):
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        meta["key"] = key
        sidecar.write_text(json.dumps(meta), encoding="utf-8")
    before = _snapshot(zone, out)
    for _ in range(2):  # the rerun resumes (and replaces cache folders): still nothing outside OUT
        result = runner.invoke(app, ["build", str(data), str(out), "--workers", "1", "--no-renders"])
        assert result.exit_code == 0, result.output
    assert _snapshot(zone, out) == before
    assert (zone / "victim" / "keep.txt").read_text(encoding="utf-8") == "precious"
    assert len([p for p in (out / "cache").iterdir() if p.is_dir()]) == 3


def test_metadata_paths_outside_the_root_are_never_read_or_written(zone: Path) -> None:
    data, out = zone / "data", zone / "out"
    _synth(data, "vimed", n=3)
    table = data / "metadata.csv"
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    rows[0]["pet_path"] = "../victim/keep.txt"
    rows[1]["ct_path"] = str(zone / "victim" / "keep.txt")
    with table.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = _snapshot(zone, out)
    result = runner.invoke(app, ["build", str(data), str(out), "--workers", "1", "--no-renders"])
    assert result.exit_code == 0, result.output
    assert _snapshot(zone, out) == before
    report = json.loads((out / "build_report.json").read_text(encoding="utf-8"))
    assert len(report["built"]) == 1, report


@pytest.mark.parametrize("name", ["../../victim", "/tmp/victim", "..", "a/b"])
def test_hostile_bench_model_names_are_refused_before_any_write(zone: Path, name: str) -> None:
    out = zone / "run"
    config = zone / "bench.yaml"
    config.write_text(json.dumps({"models": [{"name": name, "config": "small_vlm.yaml"}]}), encoding="utf-8")
    before = _snapshot(zone, out)
    result = runner.invoke(app, ["bench", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 1 and "name" in result.output
    assert _snapshot(zone, out) == before and not out.exists()
