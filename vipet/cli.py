"""The `vipet` command line: thin wiring from commands to library functions.

Every command exits 0 on success and, on bad input, prints one line naming the file and the
problem and exits 1. Heavy modules are imported inside each command so `vipet --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from vipet.errors import VipetError

app = typer.Typer(
    help="vipet: Vietnamese PET/CT report generation and VQA toolkit (offline, reproducible).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _commands() -> None:
    """Keep `vipet COMMAND ...` a command group even while only one command is registered
    (typer otherwise runs a lone command as the whole program and `vipet info PATH` fails)."""


def _fail(exc: Exception) -> None:
    """Print the one-line reason and exit non-zero; used for every expected error."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)


@app.command()
def info(
    path: Path = typer.Argument(..., help="A dataset root, a study, a DICOM folder or a NIfTI pair (CT,PET)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    pet_unit: str = typer.Option("SUVbw", "--pet-unit", help="PET unit for NIfTI input (NIfTI has no SUV tags)."),
) -> None:
    """Summarise a study or a dataset: shapes, spacing, units, value ranges, SUV, bad files."""
    from vipet.io.info import describe_path, render_info

    try:
        summary = describe_path(path, pet_unit=pet_unit)
    except VipetError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        render_info(summary)


def main() -> None:  # pragma: no cover - console entry for `python -m vipet`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
