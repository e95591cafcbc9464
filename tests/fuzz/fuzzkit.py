"""Shared pieces of the fuzz suite (issue 19): bounded hypothesis settings, the clean-failure
property every command must keep, and the count of generated inputs.

Property: a command given any input either succeeds, or exits non-zero with one line `error: ...`
that names the file; it never prints a traceback (exit code 2 is the CLI's crash boundary, which
counts as a failure here). Settings are derandomised (the same inputs on every run, so CI is
reproducible) and bounded, so the suite runs in about two minutes on two cores.
"""

from __future__ import annotations

import collections
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

GENERATED: collections.Counter[str] = collections.Counter()
MIN_INPUTS = 2000  # the floor for the whole suite


def fuzz_settings(max_examples: int, deadline_s: float = 10.0) -> settings:
    return settings(max_examples=max_examples, deadline=timedelta(seconds=deadline_s), derandomize=True,
                    database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                          HealthCheck.data_too_large, HealthCheck.filter_too_much])


def count(kind: str, n: int = 1) -> None:
    GENERATED[kind] += n


def invoke(args: list[str]):
    """Run a vipet command in-process; the result of `typer.testing.CliRunner`."""
    from vipet.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def assert_clean(result, path: Path | None = None, ok_codes: tuple[int, ...] = (0, 1)) -> None:
    """Success, or exit 1 with one `error:` line naming `path`; never a traceback or a crash."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback instead of an error line: {result.exception!r}") from result.exception
    assert result.exit_code in ok_codes, (result.exit_code, result.stderr)
    if result.exit_code != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        if path is not None:
            assert str(path) in lines[0] or path.name in lines[0], lines[0]
        assert "Traceback" not in result.stderr
