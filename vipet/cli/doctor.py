"""`vipet doctor`: data-quality findings over a cohort root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vipet.cli.common import fail

# The policy table is appended from vipet.doctor.policy (a module with no imports), so the help and
# the exit code read one definition.
_HELP = """Data-quality report over a whole root: duplicates, leakage, broken volumes, mismatched PET/CT,
reports. Exit code 1 when any finding is an error, 0 when there are only warnings or none.

\b
kind                    severity  what it means
"""


def register(app: typer.Typer) -> None:
    """Add `vipet doctor` to `app`."""

    @app.command(help=_help_text())
    def doctor(
        data: Path = typer.Argument(..., help="Dataset root (any ViMed-PET packaging, DICOM or NIfTI study folders)."),
        as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
        html_out: Optional[Path] = typer.Option(None, "--html", help="Write an HTML report with a MIP per flagged study."),
        workers: int = typer.Option(1, "--workers", "-j", help="Studies checked in parallel."),
        header_only: bool = typer.Option(False, "--header-only", help="Only metadata.csv / file names: no volume is read."),
        cache: Optional[Path] = typer.Option(None, "--cache", help="Per-study findings cache (default .vipet_doctor/<root hash>); reruns resume."),
        year: Optional[int] = typer.Option(None, "--year", help="Year of a Hugging Face part with no PETCT{year} folder."),
    ) -> None:
        from vipet.doctor.html import write_doctor_html
        from vipet.doctor.run import run_doctor
        from vipet.errors import VipetError

        if workers < 1:
            fail(VipetError(f"--workers must be at least 1, got {workers}"))
        try:
            report = run_doctor(data, workers=workers, header_only=header_only, cache=cache, year=year,
                                progress=not as_json)
            if html_out is not None:
                write_doctor_html(report, html_out)
        except VipetError as exc:
            fail(exc)
        if as_json:
            shown = {k: v for k, v in report.items() if k != "thumbnails"}
            typer.echo(json.dumps(shown, ensure_ascii=False, indent=2))
        else:
            _print_summary(report, html_out)
        raise typer.Exit(code=report["exit_code"])


def _help_text() -> str:
    """The command's help: what it does, then the policy of `vipet.doctor.policy`, one kind a line."""
    from vipet.doctor.policy import policy_lines

    return _HELP + policy_lines()


def _print_summary(report: dict, html_out: Optional[Path]) -> None:
    counts = report["counts"]
    typer.echo(f"{report['root']}: {report['studies']} studies ({report.get('packaging')}), "
               f"{counts['error']} errors, {counts['warning']} warnings in {report['flagged_studies']} studies, "
               f"{report['seconds']:g} s")
    for kind, count in report["by_kind"].items():
        typer.echo(f"  {kind}: {count}")
    for finding in report["findings"][:20]:
        typer.echo(f"  [{finding['severity']}] {finding['key'] or '(table)'}: {finding['kind']}: {finding['message']}")
    if len(report["findings"]) > 20:
        typer.echo(f"  ... {len(report['findings']) - 20} more (see --json or --html)")
    if html_out is not None:
        typer.echo(f"HTML report: {html_out}")
