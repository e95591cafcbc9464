"""What every command module shares: the one way an expected error leaves the program."""

from __future__ import annotations

from typing import NoReturn

import typer

PET_UNIT_HELP = "PET unit of NIfTI input (NIfTI keeps none; else study.json must record it): SUVbw, BQML, CNTS, VIMED_RAW or UNKNOWN."


def fail(exc: Exception) -> NoReturn:
    """Print the one-line reason and exit non-zero; used for every expected error."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)
