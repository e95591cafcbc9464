"""`vipet metrics-card`: which clinical errors each metric sees, by error injection."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vipet.cli.common import fail


def _default_real() -> Path:
    """`../shared/data/real` beside the repository checkout (where the de-identified reports live)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def metrics_card(
    real: Optional[Path] = typer.Option(None, "--real", help="Folder with the real reports.jsonl (default: ../shared/data/real beside the checkout; skipped with a note when absent)."),
    out: Path = typer.Option(Path("metrics_card"), "--out", help="Output folder for card.md, card.csv, card.json and card.png."),
    synthetic: int = typer.Option(16, "--synthetic", help="Synthetic reports (vipet.synth, seed --seed) with a thoracic lesion; 0: none."),
    max_real: int = typer.Option(0, "--max-real", help="Use only the first N real reports (0: all)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic cohort and of the injections."),
    embedding_model: Optional[Path] = typer.Option(None, "--embedding-model", help="Local encoder folder for the embedding score (default: an untrained seeded tiny BERT, see card.md)."),
    no_embedding: bool = typer.Option(False, "--no-embedding", help="Leave the embedding score out (no torch needed)."),
) -> None:
    """Inject clinical errors and harmless rewrites into real and synthetic reports; write what every metric sees."""
    import tempfile

    from vipet.errors import VipetError
    from vipet.trust.card import build_card, random_encoder_embedder, real_reports, synthetic_reports, write_card

    try:
        notes: list[str] = []
        sets: dict[str, list[str]] = {}
        folder = real if real is not None else _default_real()
        if (folder / "reports.jsonl").is_file() or real is not None:
            texts = real_reports(folder)
            sets["real"] = texts[:max_real] if max_real > 0 else texts
        else:
            notes.append(f"real reports skipped: {folder / 'reports.jsonl'} not found (needs ../shared/data/real)")
        if synthetic > 0:
            sets["synthetic"] = synthetic_reports(synthetic, seed)
        if not sets:
            raise VipetError("no reports to score: no real folder and --synthetic 0")
        embedder = None
        with tempfile.TemporaryDirectory(prefix="vipet-card-") as scratch:
            if embedding_model is not None:
                from vipet.models.token_embeddings import LocalTokenEmbedder

                embedder = LocalTokenEmbedder(embedding_model)
                notes.append(f"embedding: greedy cosine F1 over the encoder in {embedding_model.name}")
            elif not no_embedding:
                import torch

                torch.set_num_threads(1)
                embedder = random_encoder_embedder([t for texts in sets.values() for t in texts], Path(scratch) / "encoder", seed)
                notes.append("embedding: greedy cosine F1 over an UNTRAINED seeded tiny BERT (no trained Vietnamese "
                             "encoder ships offline); pass --embedding-model DIR for a trained one")
            notes.append("grounding: not in the card; it needs the study images (a build), which these text-only "
                         "reports do not have")
            card = build_card(sets, embedder, seed, notes, progress=lambda step: typer.echo(f"scoring {step}", err=True))
        written = write_card(card, out)
    except VipetError as exc:
        fail(exc)
    typer.echo(Path(written["md"]).read_text(encoding="utf-8"))
    typer.echo(f"wrote {', '.join(written.values())}")


def register(app: typer.Typer) -> None:
    """Add this tool's commands to `app`."""
    app.command("metrics-card")(metrics_card)
