"""`vipet ground`: each stated lesion number of a generated report checked against the image."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this tool's commands to `app`."""
