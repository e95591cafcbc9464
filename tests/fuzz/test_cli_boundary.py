"""The CLI's one error boundary (issue 19): an unexpected exception is one line and exit code 2,
with the traceback in a log file whose path is printed (and on stderr with --debug); expected
errors keep their line and exit code 1."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import vipet.reports.parse
from vipet.cli import app
from vipet.cli.boundary import CRASH_EXIT_CODE, LOG_DIR_ENV, run_cli


@pytest.fixture
def crashing_parse(monkeypatch, tmp_path):
    def boom(path):
        raise RuntimeError("simulated bug\nwith a second line")

    monkeypatch.setattr(vipet.reports.parse, "load_report", boom)
    monkeypatch.setenv(LOG_DIR_ENV, str(tmp_path / "logs"))
    report = tmp_path / "r.txt"
    report.write_text("Hình ảnh hạch.", encoding="utf-8")
    return report


def test_an_unexpected_exception_is_one_line_exit_2_and_a_log_with_the_traceback(crashing_parse, tmp_path, capsys):
    code = run_cli(app, ["report", "parse", str(crashing_parse)])
    err = capsys.readouterr().err
    assert code == CRASH_EXIT_CODE == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unexpected RuntimeError: simulated bug with a second line")
    assert "Traceback" not in err
    log = Path(re.search(r"traceback in (\S+\.log)\)", lines[0]).group(1))
    assert log.parent == tmp_path / "logs" and log.is_file()
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "RuntimeError: simulated bug" in text
    assert f"report parse {crashing_parse}" in text


def test_debug_prints_the_traceback_too(crashing_parse, capsys):
    code = run_cli(app, ["--debug", "report", "parse", str(crashing_parse)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback (most recent call last)" in err and err.strip().splitlines()[-1].startswith("error: unexpected")


def test_expected_errors_keep_their_line_and_code(tmp_path, capsys):
    missing = tmp_path / "nope.txt"
    assert run_cli(app, ["report", "parse", str(missing)]) == 1
    assert capsys.readouterr().err.strip() == f"error: {missing}: report file not found"
    assert run_cli(app, ["report", "parse", str(missing), "--no-such-option"]) == 2  # click's usage error, as before
    assert "No such option" in capsys.readouterr().err
    assert run_cli(app, ["--help"]) == 0


def test_python_m_vipet_runs_inside_the_boundary(tmp_path):
    missing = tmp_path / "nope.txt"
    done = subprocess.run([sys.executable, "-m", "vipet", "report", "parse", str(missing)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.strip() == f"error: {missing}: report file not found"
