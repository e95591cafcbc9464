"""`vipet pacs pull|push`: studies from and reports to a PACS over DICOMweb."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this tool's commands to `app`."""
