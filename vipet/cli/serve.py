"""`vipet serve`: the reading-room workstation on this machine."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this tool's commands to `app`."""
