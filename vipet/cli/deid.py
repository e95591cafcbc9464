"""`vipet deid`: de-identify DICOM folders, ViMed-PET roots and NIfTI pairs before they leave the hospital."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this tool's commands to `app`."""
