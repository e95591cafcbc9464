"""`vipet metrics-card`: which clinical errors each metric sees, by error injection."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this tool's commands to `app`."""
