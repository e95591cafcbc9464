"""`vipet augment`: the paper's augmentation sets written as Hugging Face datasets and LLaVA JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vipet.cli.common import fail


def register(app: typer.Typer) -> None:
    """Add this tool's commands to `app`."""

    @app.command()
    def augment(
        build: Path = typer.Argument(..., help="A build folder (`vipet build DATA OUT`)."),
        out: Path = typer.Argument(..., help="Output folder: one sub-folder per set (hf/, llava.json, set.json)."),
        sets: str = typer.Option("comparison,vqa,image", "--sets",
                                 help="Comma-separated sets: comparison, paraphrase, vqa, image."),
        seed: int = typer.Option(0, "--seed", help="Seed of the pair choice and the image augmentation."),
        split: str = typer.Option("train", "--split", help="Split of the build the sets are made from."),
        regions: str = typer.Option("whole", "--regions", help="Comma-separated sample regions (whole, chest, ...)."),
        max_pairs: int = typer.Option(200, "--max-pairs", help="Comparison pairs of different persons (all same-person pairs are kept)."),
        copies: int = typer.Option(1, "--copies", help="Augmented copies per sample in the image set."),
        paraphrase_config: Optional[Path] = typer.Option(
            None, "--paraphrase-config",
            help="YAML with endpoint (OpenAI-compatible base URL), model, api_key_env, timeout_s, temperature."),
        max_paraphrases: Optional[int] = typer.Option(None, "--max-paraphrases", help="Paraphrase at most this many reports."),
    ) -> None:
        """Comparison pairs, checked LLM paraphrases, VQA pairs and augmented images from a build; deterministic by seed, resumable."""
        from vipet.data.augsets import AugmentSetsConfig, ParaphraseSettings, write_sets
        from vipet.errors import VipetError
        from vipet.schema import SAMPLE_REGIONS
        from vipet.typed_config import load_yaml

        try:
            names = [s.strip() for s in sets.split(",") if s.strip()]
            region_list = tuple(r.strip() for r in regions.split(",") if r.strip())
            unknown = [r for r in region_list if r not in SAMPLE_REGIONS]
            if unknown or not region_list:
                raise VipetError(f"unknown region(s) {', '.join(unknown) or '(none)'}; known: {', '.join(SAMPLE_REGIONS)}")
            if max_pairs < 0 or copies < 1 or seed < 0:
                raise VipetError(f"need --max-pairs >= 0, --copies >= 1 and --seed >= 0 (got {max_pairs}, {copies}, {seed})")
            settings = None
            if paraphrase_config is not None:
                from vipet.errors import BuildError

                values = load_yaml(paraphrase_config, error=BuildError, what="paraphrase config")
                settings = ParaphraseSettings.from_mapping(values, paraphrase_config)
            config = AugmentSetsConfig(seed=seed, split=split, regions=region_list, max_pairs=max_pairs, copies=copies,
                                       paraphrase=settings, max_paraphrases=max_paraphrases)
            summary = write_sets(build, out, names, config, log=typer.echo)
        except VipetError as exc:
            fail(exc)
        failed = {name: entry["error"] for name, entry in summary["sets"].items() if "error" in entry}
        if failed:
            name, reason = next(iter(failed.items()))
            fail(VipetError(f"{len(failed)} set(s) failed; {name}: {reason}"))
