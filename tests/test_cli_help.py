"""`vipet --help` reads like the data flow: the pipeline commands in order, then the tools."""

from __future__ import annotations

import re

import click
import typer
from typer.testing import CliRunner

from vipet.cli import PET_UNIT_HELP, app
from vipet.study import PET_UNITS

PIPELINE_THEN_TOOLS = ["synth", "info", "build", "train", "generate", "evaluate", "bench", "report", "vqa",
                       "doctor", "augment", "ground", "metrics-card", "deid", "pacs", "serve"]


def test_help_lists_the_commands_in_pipeline_order_then_the_tools():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    listed = [m.group(1) for m in re.finditer(r"^\W*([a-z-]+)\s{2,}\S", result.stdout, flags=re.MULTILINE)
              if m.group(1) in PIPELINE_THEN_TOOLS]
    assert listed == PIPELINE_THEN_TOOLS
    group = typer.main.get_command(app)
    assert group.list_commands(click.Context(group)) == PIPELINE_THEN_TOOLS  # every command, nothing else


def test_the_pet_unit_help_names_every_unit_of_the_vocabulary():
    named = re.findall(r"[A-Za-z_]+", PET_UNIT_HELP.split(":", 1)[1])
    assert [n for n in named if n != "or"] == list(PET_UNITS)
