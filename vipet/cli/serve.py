"""`vipet serve`: the reading-room workstation on this machine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from vipet.cli.common import PET_UNIT_HELP, fail
from vipet.errors import VipetError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
EXTRA = "pip install 'vipet[serve]'"


def load_items(path: Path) -> list:
    """Report predictions (`vipet generate` JSONL) as review work items: one per record of task report."""
    from vipet.review.store import WorkItem
    from vipet.train.generate import read_jsonl

    items = []
    for record in read_jsonl(path):
        if (record.get("task") or "report") != "report":
            continue
        study = str(record.get("study") or str(record["id"]).split(":", 1)[0])
        items.append(WorkItem(str(record["id"]), study, str(record.get("prediction") or ""),
                              record.get("reference"), record.get("model")))
    return items


def register(app: typer.Typer) -> None:
    """Add this tool's commands to `app`."""

    @app.command()
    def serve(
        data: Path = typer.Argument(..., help="A build folder, a ViMed-PET root, a DICOM folder or a NIfTI pair 'ct.nii.gz,pet.nii.gz'."),
        model: Optional[str] = typer.Option(None, "--model", help="template, retrieval, majority-vqa, a run folder from `vipet train`, or an OpenAI-compatible endpoint: api:CONFIG.yaml or api:URL#MODEL."),
        db: Path = typer.Option(Path("reviews.sqlite"), "--db", help="SQLite file of reviewers, work items and reviews (created)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but this machine needs --allow-remote."),
        port: int = typer.Option(8765, "--port", help="Port to listen on."),
        password_env: Optional[str] = typer.Option(None, "--password-env", help="Environment variable holding a password every user must give (kept hashed)."),
        items: Optional[Path] = typer.Option(None, "--items", help="Predictions JSONL whose report records become review work items."),
        work: Optional[Path] = typer.Option(None, "--work", help="Folder for studies opened from a raw source and uploads (default: a temporary folder)."),
        export_dir: Optional[Path] = typer.Option(None, "--export-dir", help="Where exports go (default: review_export/ beside the DB)."),
        allow_remote: bool = typer.Option(False, "--allow-remote", help="Permit a --host other than this machine (set --password-env too)."),
        pet_unit: Optional[str] = typer.Option(None, "--pet-unit", help=PET_UNIT_HELP),
    ) -> None:
        """The reading room: view studies, draft with a model, ask questions, review and export expert lesion lists."""
        if host not in LOCAL_HOSTS and not allow_remote:
            fail(VipetError(f"--host {host} would expose patient images beyond this machine; add --allow-remote "
                            "(and --password-env) if that is intended"))
        password_hash = None
        if password_env:
            secret = os.environ.get(password_env)
            if not secret:
                fail(VipetError(f"--password-env {password_env}: that environment variable is empty or unset"))
            from vipet.serve.security import hash_password

            password_hash = hash_password(secret)
            del secret
        import importlib.util

        missing = [name for name in ("fastapi", "uvicorn", "jinja2", "multipart") if importlib.util.find_spec(name) is None]
        if missing:
            fail(VipetError(f"`vipet serve` needs {', '.join(missing)}: {EXTRA}"))
        import uvicorn

        from vipet.serve.app import ServeConfig, create_app
        hosts = ["127.0.0.1", "localhost", "testserver"] + ([host] if host not in LOCAL_HOSTS else [])
        try:
            config = ServeConfig(data=str(data), db=db, model=model, work=work, export_dir=export_dir,
                                 password_hash=password_hash, pet_unit=pet_unit, allowed_hosts=hosts)
            web = create_app(config)
            if items is not None:
                added = web.state.serve.store.add_items(load_items(items))
                typer.echo(f"{added} new work items from {items}")
        except VipetError as exc:
            fail(exc)
        typer.echo(f"vipet reading room on http://{host}:{port}/ (Ctrl-C stops it)")
        uvicorn.run(web, host=host, port=port, log_level="warning")
