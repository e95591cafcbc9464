"""`vipet pacs pull|push`: studies from and reports to a PACS over DICOMweb."""

from __future__ import annotations

from pathlib import Path

import typer

from vipet.cli.common import fail
from vipet.errors import VipetError

EXTRA = "pip install 'vipet[interop]'"
CREDENTIALS = "Credentials: VIPET_PACS_USER and VIPET_PACS_PASSWORD in the environment (never on the command line)."


def _pacs_module():
    """vipet.interop.pacs, or a clear error naming the extra when dicomweb-client is missing."""
    import importlib.util

    if importlib.util.find_spec("dicomweb_client") is None:
        fail(VipetError(f"`vipet pacs` needs dicomweb-client: {EXTRA}"))
    from vipet.interop import pacs

    return pacs


def register(app: typer.Typer) -> None:
    """Add this tool's commands to `app`."""
    pacs_app = typer.Typer(help=f"Pull studies from / push reports to a PACS over DICOMweb. {CREDENTIALS}",
                           no_args_is_help=True)

    @pacs_app.command("pull")
    def pull(
        url: str = typer.Argument(..., help="DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web"),
        study_uid: str = typer.Argument(..., help="StudyInstanceUID of the study to retrieve."),
        out: Path = typer.Argument(..., help="Folder; the study lands in OUT/<StudyInstanceUID>/ (PET and CT series)."),
    ) -> None:
        """Retrieve the PET and CT series of one study (QIDO-RS + WADO-RS) into a folder `vipet build` reads."""
        pacs = _pacs_module()
        try:
            result = pacs.pull_study(url, study_uid, out)
        except VipetError as exc:
            fail(exc)
        summary = ", ".join(f"{s.modality} {s.instances}" for s in result.series)
        typer.echo(f"pulled study {study_uid} ({summary} instances) into {result.folder}")

    @pacs_app.command("push")
    def push(
        url: str = typer.Argument(..., help="DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web"),
        files: list[Path] = typer.Argument(..., help="DICOM files or folders (every file below a folder)."),
    ) -> None:
        """Store DICOM files, e.g. a generated SR, on the PACS (STOW-RS)."""
        pacs = _pacs_module()
        try:
            result = pacs.push_files(url, files)
        except VipetError as exc:
            fail(exc)
        typer.echo(f"stored {result.stored} instances ({len(result.studies)} studies) on {pacs.display_url(url)}")

    app.add_typer(pacs_app, name="pacs")
