"""The command modules of the larger tools; each defines `register(app)` and adds its commands."""

from __future__ import annotations

import importlib

import typer

# One entry per tool module under vipet/cli/; order is the order in `vipet --help` after the pipeline.
COMMAND_MODULES: tuple[str, ...] = ("doctor", "augment", "ground", "metrics_card", "deid", "pacs", "serve")


def register_all(app: typer.Typer) -> None:
    """Import every command module and let it add its commands (imports stay light: each command
    imports its heavy library inside its body)."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"vipet.cli.{name}").register(app)
