"""`vipet ground`: each stated lesion number of a generated report checked against the image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vipet.cli.common import fail
from vipet.errors import VipetError


def register(app: typer.Typer) -> None:
    """Add this tool's commands to `app`."""

    @app.command()
    def ground(
        predictions: Path = typer.Argument(..., help="Predictions JSONL (vipet generate / bench); report records are checked."),
        build: Path = typer.Argument(..., help="The build folder of those studies (vipet build OUT): PET in SUV, CT, regions."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write the full result (per study and sentence) as JSON here."),
        as_json: bool = typer.Option(False, "--json", help="Print the full JSON instead of the summary."),
    ) -> None:
        """Check every stated SUVmax, size and side against the image: supported / contradicted / not checkable."""
        from vipet.fsutil import atomic_write_json
        from vipet.trust.grounding import ground_predictions

        if not (build / "cache").is_dir():
            fail(VipetError("not a build folder (no cache/ inside); run `vipet build` first", build))
        try:
            result = ground_predictions(predictions, build, progress=not as_json)
        except VipetError as exc:
            fail(exc)
        if out is not None:
            atomic_write_json(out, result)
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
            return
        summary = result["summary"]
        typer.echo(f"{summary['sentences']} lesion sentences in {len(result['samples'])} reports: "
                   f"{summary['supported']} supported, {summary['contradicted']} contradicted, "
                   f"{summary['not checkable']} not checkable")
        if summary["contradicted_facts"]:
            typer.echo("contradicted facts: " + ", ".join(f"{k} {v}" for k, v in summary["contradicted_facts"].items()))
        for skipped in result["skipped"]:
            typer.echo(f"skipped {skipped['id']}: {skipped['reason']}")
