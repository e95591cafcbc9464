"""The one error boundary of the command line: whatever goes wrong, one line and a known exit code.

Expected errors keep their own message and code (a `VipetError` is one `error: ...` line and exit
1; typer/click usage errors keep theirs). Anything else is a bug in vipet or a library: the user
gets one line naming the exception and the log file that holds the full traceback, and exit code
2 so scripts can tell "bad input" from "crashed". `--debug` (anywhere on the command line) or
VIPET_DEBUG=1 prints the traceback too.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Sequence

import typer

from vipet.errors import VipetError

CRASH_EXIT_CODE = 2
DEBUG_FLAG = "--debug"
LOG_DIR_ENV = "VIPET_LOG_DIR"  # where crash logs go (default: the system temporary folder)


def crash_log_dir() -> Path:
    return Path(os.environ.get(LOG_DIR_ENV) or tempfile.gettempdir())


def write_crash_log(argv: Sequence[str], trace: str) -> Path:
    """Write the traceback to a fresh file (never over an earlier crash) and return its path."""
    folder = crash_log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    fd, name = tempfile.mkstemp(prefix=f"vipet-crash-{stamp}-", suffix=".log", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"command: vipet {' '.join(argv)}\n\n{trace}")
    return Path(name)


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def run_cli(app: Callable[..., object], argv: Sequence[str] | None = None) -> int:
    """Run the typer `app` on `argv` (default: sys.argv[1:]) inside the boundary; return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in args or os.environ.get("VIPET_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != DEBUG_FLAG]
    try:
        app(args=args, prog_name="vipet", standalone_mode=True)
    except SystemExit as done:  # typer/click finish every run, success or expected error, this way
        code = done.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        typer.echo(code, err=True)
        return 1
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        return 130
    except VipetError as exc:  # an expected error a command forgot to catch: still one line, exit 1
        typer.echo(f"error: {_one_line(str(exc))}", err=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - this is the boundary: every other failure is a bug
        trace = traceback.format_exc()
        if debug:
            typer.echo(trace.rstrip(), err=True)
        try:
            where = f"traceback in {write_crash_log(args, trace)}"
        except OSError as log_error:
            where = f"the traceback could not be written ({log_error}); rerun with --debug to see it"
        typer.echo(
            f"error: unexpected {type(exc).__name__}: {_one_line(str(exc), 200)} "
            f"(a bug in vipet, please report it; {where})",
            err=True,
        )
        return CRASH_EXIT_CODE
    return 0
