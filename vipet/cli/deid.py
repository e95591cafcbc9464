"""`vipet deid`: de-identify DICOM folders, ViMed-PET roots and NIfTI pairs before they leave the hospital."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

DEFAULT_SECRET_ENV = "VIPET_DEID_SECRET"


def register(app: typer.Typer) -> None:
    """Add this tool's commands to `app`."""
    app.command("deid")(deid)


def deid(
    source: Path = typer.Argument(..., help="A DICOM folder (any layout), a ViMed-PET root (metadata.csv) or NIfTI pair folders."),
    out: Path = typer.Argument(..., help="Output folder; studies already there are kept (a rerun resumes)."),
    secret_env: str = typer.Option(DEFAULT_SECRET_ENV, "--secret-env",
                                   help="Environment variable holding the secret behind UIDs, pseudonyms and date offsets."),
    seed: str = typer.Option("", "--seed", help="Use this text as the secret instead (tests and demos only: it is on the command line)."),
    allow_burned_in: bool = typer.Option(False, "--allow-burned-in", help="Accept images flagged BurnedInAnnotation YES."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """De-identify by DICOM PS3.15 Basic Profile (+ Retain Patient Characteristics, Modified Dates, Clean Descriptors) and Vietnamese report text."""
    from vipet.cli.common import fail
    from vipet.errors import VipetError
    from vipet.interop.deid_dicom import DicomDeidOptions
    from vipet.interop.deid_keys import DeidError, DeidKeys
    from vipet.interop.deid_run import deidentify_tree

    if seed:
        secret, origin = seed.encode("utf-8"), "--seed"
    else:
        value = os.environ.get(secret_env, "")
        if not value:
            fail(DeidError(f"no secret: set the environment variable {secret_env} (or pass --seed for tests); "
                           "it keys every UID, pseudonym and date offset", source))
        secret, origin = value.encode("utf-8"), f"environment variable {secret_env}"
    try:
        run = deidentify_tree(source, out, DeidKeys(secret), DicomDeidOptions(allow_burned_in=allow_burned_in),
                              secret_origin=origin, progress=progress)
    except VipetError as exc:
        fail(exc)
    summary = {"out": str(run.out), "kind": run.kind, "written": run.done, "already_present": run.skipped_existing,
               "failed": len(run.failures), "audit": str(run.audit_path), "text_spans_replaced": run.text_spans}
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{run.done} written, {run.skipped_existing} already present, {len(run.failures)} failed; "
                   f"audit {run.audit_path}")
    for where, reason in run.failures:
        typer.echo(f"error: {where}: {reason}", err=True)
    if run.failures:
        raise typer.Exit(code=1)
