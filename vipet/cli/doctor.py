"""`vipet doctor`: data-quality findings over a cohort root."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this tool's commands to `app`."""
