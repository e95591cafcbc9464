"""`vipet build`: exit codes and one-line errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vipet.cli import app

runner = CliRunner()


def test_build_command_writes_the_build_and_reports_the_bad_study(cohort, tmp_path):
    result = runner.invoke(app, ["build", str(cohort), str(tmp_path), "--target-shape", "8,16,16", "--no-renders",
                                 "--split", "random", "--seed", "1", "--export", "none", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["complete"] == 5 and len(report["failed"]) == 1 and report["splits"]["mode"] == "random"
    assert (tmp_path / "manifest.parquet").is_file() and not (tmp_path / "hf").exists()
    again = runner.invoke(app, ["build", str(cohort), str(tmp_path), "--target-shape", "8,16,16", "--no-renders",
                                "--export", "none"])
    assert again.exit_code == 0 and "skipped 5 (already cached)" in again.stdout


def test_bad_input_exits_non_zero_with_one_line(tmp_path):
    missing = runner.invoke(app, ["build", str(tmp_path / "nope"), str(tmp_path / "out")])
    assert missing.exit_code == 1 and missing.stderr.startswith("error: ") and len(missing.stderr.splitlines()) == 1
    shape = runner.invoke(app, ["build", str(tmp_path), str(tmp_path / "out"), "--target-shape", "8,16"])
    assert shape.exit_code == 1 and "--target-shape" in shape.stderr
    grid = runner.invoke(app, ["build", str(tmp_path), str(tmp_path / "out"), "--grid", "mri"])
    assert grid.exit_code == 1 and "whole grid" in grid.stderr
