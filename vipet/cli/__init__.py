"""The `vipet` command line: thin wiring from commands to library functions.

Every command exits 0 on success and, on bad input, prints one line naming the file and the
problem and exits 1. Heavy modules are imported inside each command so `vipet --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from vipet.cli.common import PET_UNIT_HELP, fail as _fail
from vipet.errors import VipetError

# `vipet --help` reads like the data flow: the pipeline in order, then the tools.
COMMAND_ORDER = ("synth", "info", "build", "train", "generate", "evaluate", "bench", "report", "vqa",
                 "doctor", "augment", "ground", "metrics-card", "deid", "pacs", "serve")


class _PipelineOrder(TyperGroup):
    """Lists commands in COMMAND_ORDER (any command not named there follows, in definition order)."""

    def list_commands(self, ctx) -> list[str]:
        names = list(self.commands)
        return sorted(names, key=lambda n: (COMMAND_ORDER.index(n) if n in COMMAND_ORDER else len(COMMAND_ORDER),
                                            names.index(n)))


app = typer.Typer(
    cls=_PipelineOrder,
    help="vipet: Vietnamese PET/CT report generation and VQA toolkit (offline, reproducible).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _commands() -> None:
    """Keep `vipet COMMAND ...` a command group even while only one command is registered
    (typer otherwise runs a lone command as the whole program and `vipet info PATH` fails)."""


@app.command()
def info(
    path: Path = typer.Argument(..., help="A dataset root, a study, a DICOM folder or a NIfTI pair (CT,PET)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    pet_unit: Optional[str] = typer.Option(None, "--pet-unit", help=PET_UNIT_HELP),
    year: Optional[int] = typer.Option(None, "--year", help="Year of a Hugging Face part with no PETCT{year} folder (else its metadata.csv must say)."),
) -> None:
    """Summarise a study or a dataset: shapes, spacing, units, value ranges, SUV, bad files."""
    from vipet.io.info import describe_path, render_info

    try:
        summary = describe_path(path, pet_unit=pet_unit, year=year)
    except VipetError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        render_info(summary)


@app.command()
def build(
    data: Path = typer.Argument(..., help="Dataset root (ViMed-PET with metadata.csv, DICOM or NIfTI study folders)."),
    out: Path = typer.Argument(..., help="Build folder: cache/, manifest.parquet, build_report.json, exports."),
    workers: int = typer.Option(1, "--workers", "-j", help="Studies processed in parallel."),
    engine: str = typer.Option("local", "--engine", help="local (process pool) or ray (needs the ray extra)."),
    split: str = typer.Option("temporal", "--split", help="temporal (the paper's months), random or kfold."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random and k-fold splits."),
    k: int = typer.Option(5, "--k", help="Folds for --split kfold."),
    fix_rule: str = typer.Option("earliest", "--fix-rule", help="Leak fix: earliest (split of first visit) or train."),
    target_shape: Optional[str] = typer.Option(None, "--target-shape", help="D,H,W of every model-ready volume (default: BuildConfig's, the shipped encoders' input)."),
    grid: str = typer.Option("pet", "--grid", help="Grid of the cached whole-body arrays: pet or ct."),
    ct_windows: str = typer.Option("wide", "--ct-windows", help="CT channels, comma-separated (wide,lung,bone,...)."),
    pet_norm: str = typer.Option("auto", "--pet-norm", help="auto, suv, raw (/32767) or percentile."),
    suv_max: float = typer.Option(10.0, "--suv-max", help="SUV mapped to 1.0 in the PET channel."),
    margin_mm: float = typer.Option(40.0, "--margin-mm", help="Overlap added on each side of a region boundary."),
    crop: bool = typer.Option(True, "--crop/--no-crop", help="Crop in-plane to the body before resizing."),
    slices: str = typer.Option("none", "--slices", help="Also write paired axial slices: none, npy or png."),
    renders: bool = typer.Option(True, "--renders/--no-renders", help="Write a coronal MIP and a fused PNG per study."),
    export: str = typer.Option("hf,llava", "--export", help="Exports after the build: hf, llava, both, or none."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N studies (by key)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Join a Ray cluster instead of a local one."),
    as_json: bool = typer.Option(False, "--json", help="Print the build report as JSON."),
    pet_unit: Optional[str] = typer.Option(None, "--pet-unit", help=PET_UNIT_HELP),
) -> None:
    """Build the model-ready cache, manifest and splits; reruns resume and skip finished studies."""
    from vipet.data.build import build_dataset
    from vipet.data.config import BuildConfig

    shape_option = {}
    if target_shape is not None:
        try:
            shape = tuple(int(n) for n in target_shape.split(","))
            if len(shape) != 3:
                raise ValueError
        except ValueError:
            _fail(VipetError(f"--target-shape must be three integers D,H,W, got {target_shape!r}"))
        shape_option["target_shape"] = shape
    exports = () if export.strip() in ("", "none") else tuple(e.strip() for e in export.split(",") if e.strip())
    try:
        config = BuildConfig(**shape_option, whole_grid=grid, ct_windows=tuple(w.strip() for w in ct_windows.split(",")),
                             pet_norm=pet_norm, suv_max=suv_max, margin_mm=margin_mm, body_crop=crop,
                             slices=slices, renders=renders)
        report = build_dataset(data, out, config, workers=workers, engine=engine, split=split, seed=seed, k=k,
                               fix_rule=fix_rule, limit=limit, exports=exports, progress=not as_json,
                               ray_address=ray_address, pet_unit=pet_unit)
    except VipetError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        splits, counts = report["splits"], report["summary"]
        typer.echo(f"built {counts['built']}, skipped {counts['skipped']} (already cached), failed {counts['failed']}, "
                   f"notes {counts['notes']}, discovery problems {counts['discover_problems']} "
                   f"(all in {out / 'build_report.json'}); {report['complete']} studies, {report['samples']} samples "
                   f"in {out / 'manifest.parquet'}")
        typer.echo(f"splits ({splits['mode']}): {splits['counts']}; leaks found {len(splits['leaks_found'])}, "
                   f"studies moved {splits['moves']}")
        for failure in report["failed"][:10]:
            typer.echo(f"  failed {failure['key']}: {failure['reason']}", err=True)
        if len(report["failed"]) > 10:
            typer.echo(f"  ... {len(report['failed']) - 10} more failures in {out / 'build_report.json'}", err=True)
    if not report["complete"]:  # an empty build is a failed build, whatever the reason
        if report["discovered"] or report["failed"]:
            _fail(VipetError("no study could be built (see build_report.json)", out))
        _fail(VipetError("no study found to build (an empty metadata.csv or dataset folder?); see build_report.json", data))


@app.command()
def evaluate(
    preds: Path = typer.Argument(..., help="Predictions: JSON list or JSONL of {id, task, prediction, reference, question?, model}."),
    profile: str = typer.Option("default", "--profile", help="default (Vietnamese syllables), coco (pycocoevalcap) or vipet-vlm (prior work)."),
    clinical: bool = typer.Option(False, "--clinical", help="Also score clinical F1 (T/TP/TF/TPF) on the report task."),
    expert: Optional[Path] = typer.Option(None, "--expert", help="Folder of expert lesion files used as clinical reference (implies --clinical)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics JSON instead of a table."),
    pred_key: str = typer.Option("prediction", "--pred-key", help="Record key holding the prediction."),
    ref_key: str = typer.Option("reference", "--ref-key", help="Record key holding the reference."),
    out: Optional[Path] = typer.Option(None, "--out", help="Metrics JSON path (default: PREDS with .metrics.json)."),
    compare: Optional[Path] = typer.Option(None, "--compare", help="Second predictions file: paired bootstrap of PREDS minus it."),
    n_resamples: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the 95% intervals (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    word_segmentation: bool = typer.Option(False, "--word-segmentation", help="default profile: word tokens instead of syllables."),
    embedding_model: Optional[Path] = typer.Option(None, "--embedding-model", help="Local model folder for the BERTScore-style score."),
) -> None:
    """Score predictions (language, clinical, VQA metrics with bootstrap intervals) and write the metrics JSON."""
    from vipet.eval import compare_predictions, evaluate_predictions, load_predictions
    from vipet.eval.io import file_sha256
    from vipet.eval.report import metrics_json_text, print_table, write_metrics

    if n_resamples < 0:
        _fail(VipetError(f"--bootstrap must be 0 (no intervals) or a positive number of resamples, got {n_resamples}"))
    try:
        records = load_predictions(preds, pred_key, ref_key)
        scored_clinically = clinical or expert is not None
        common = dict(profile=profile, clinical=scored_clinically, expert_dir=expert, crg=scored_clinically,
                      n_resamples=n_resamples, seed=seed, word_segmentation=word_segmentation)
        if compare is not None:
            metrics = compare_predictions(records, load_predictions(compare, pred_key, ref_key),
                                          paths=(preds.name, compare.name), **common)
            default_out = preds.with_name(f"{preds.stem}.vs.{compare.stem}.comparison.json")
        else:
            source = {"file": preds.name, "sha256": file_sha256(preds), "pred_key": pred_key, "ref_key": ref_key}
            embedder = None
            if embedding_model is not None:
                from vipet.models.token_embeddings import LocalTokenEmbedder

                embedder = LocalTokenEmbedder(embedding_model)
            metrics = evaluate_predictions(records, embedder=embedder, source=source, **common)
            default_out = preds.with_name(f"{preds.stem}.metrics.json")
        target = write_metrics(metrics, out or default_out)
    except VipetError as exc:
        _fail(exc)
    if as_json:
        typer.echo(metrics_json_text(metrics), nl=False)
    else:
        print_table(metrics)
        typer.echo(f"metrics written to {target}")


report_app = typer.Typer(help="Vietnamese report tools: sections and lesions of one report.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("parse")
def report_parse(
    file: Path = typer.Argument(..., help="A ViMed-PET report JSON, a {\"text\": ...} record or a plain text file."),
    as_json: bool = typer.Option(False, "--json", help="Print the ViMed-PET JSON layout."),
) -> None:
    """Print a report's four region sections and its impression (recovered for plain text)."""
    from vipet.reports.parse import load_report

    try:
        report = load_report(file)
    except VipetError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    for key, text in report.sections.items():
        typer.echo(f"## {key}\n{text or '(trống)'}\n")
    typer.echo(f"## Nhận định kết quả\n{report.impression or '(trống)'}")


@report_app.command("extract")
def report_extract(
    file: Path = typer.Argument(..., help="A ViMed-PET report JSON, a {\"text\": ...} record or a plain text file."),
    scope: str = typer.Option("thorax", "--scope", help="thorax (the expert test-set scope) or all."),
) -> None:
    """Print the report's lesions as JSON in the expert six-field format (offline, no LLM)."""
    from vipet.reports.extract import extract_lesions
    from vipet.reports.parse import load_report

    try:
        lesions = extract_lesions(load_report(file), scope=scope)
    except VipetError as exc:
        _fail(exc)
    typer.echo(json.dumps([lesion.to_expert() for lesion in lesions], ensure_ascii=False, indent=2))


@app.command()
def vqa(
    file: Path = typer.Argument(..., help="A ViMed-PET report JSON, a {\"text\": ...} record or a plain text file."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl (flat records) or llava (conversations)."),
    region: str = typer.Option("whole", "--region", help="whole, head_neck, chest or abdomen_pelvis."),
    image: str = typer.Option("", "--image", help="Image path written into each record (default: the report stem)."),
) -> None:
    """Print deterministic Vietnamese question/answer pairs generated from one report."""
    from vipet.reports.parse import load_report
    from vipet.reports.vqa import dumps_jsonl, generate_vqa, to_jsonl_records, to_llava

    if fmt not in ("jsonl", "llava"):
        _fail(VipetError(f"unknown --format {fmt!r}; expected jsonl or llava"))
    try:
        pairs = generate_vqa(load_report(file), region=region)
    except VipetError as exc:
        _fail(exc)
    sample_id = file.stem
    image_path = image or f"{sample_id}.png"
    if fmt == "llava":
        typer.echo(json.dumps(to_llava(pairs, image_path, sample_id), ensure_ascii=False, indent=2))
    else:
        typer.echo(dumps_jsonl(to_jsonl_records(pairs, image_path, sample_id)), nl=False)


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Output folder of the synthetic cohort (created; rerun to resume)."),
    n: int = typer.Option(20, "--n", help="Number of studies."),
    seed: int = typer.Option(0, "--seed", help="Cohort seed: same seed and options give byte-identical files."),
    fmt: str = typer.Option("vimed", "--format", help="vimed (npz + JSON + metadata.csv), dicom or nifti."),
    size: str = typer.Option("small", "--size", help="small (CT 128x128, PET 64x64) or full (512x512, 256x256)."),
    workers: int = typer.Option(1, "--workers", help="Parallel worker processes."),
) -> None:
    """Write a synthetic whole-body PET/CT cohort with Vietnamese reports and truth.jsonl."""
    from vipet.synth import write_cohort

    try:
        path = write_cohort(out, n=n, seed=seed, format=fmt, size=size, workers=workers, progress=True)
    except VipetError as exc:
        _fail(exc)
    typer.echo(f"wrote {n} {size} studies ({fmt}) to {path}; ground truth in {path / 'truth.jsonl'}")


@app.command()
def train(
    config: Path = typer.Argument(..., help="Stage config (YAML): contrastive, alignment or finetune; see vipet/configs/."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: runs/<config name>). Rerun to resume."),
    data: Optional[Path] = typer.Option(None, "--data", help="Build folder overriding data.build of the config."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Override train.max_steps."),
    stop_at: Optional[int] = typer.Option(None, "--stop-at", help="Pause after this step with a checkpoint (rerun to continue)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override the config seed."),
) -> None:
    """Train one stage; the run folder keeps the resolved config, seed, git revision, logs, checkpoints, model."""
    from vipet.train.config import load_config
    from vipet.train.run import train as train_run

    overrides = {k: v for k, v in {"data.build": str(data) if data else None, "train.max_steps": max_steps,
                                   "seed": seed}.items() if v is not None}
    try:
        run_config = load_config(config, overrides)
        run_dir = out or Path("runs") / config.stem
        summary = train_run(run_config, run_dir, stop_at=stop_at)
    except VipetError as exc:
        _fail(exc)
    last = {k: round(v, 4) for k, v in summary.get("last", {}).items()}
    typer.echo(f"{summary['steps']} steps ({summary['stop_reason']}) in {summary['seconds']:.0f} s; "
               f"data share {summary['data_share']:.1%}; last {last}")
    typer.echo(f"run folder: {run_dir}")


@app.command()
def generate(
    run: str = typer.Argument(..., help="Run folder from `vipet train`, a baseline: template, retrieval, majority-vqa, or an OpenAI-compatible endpoint: api:CONFIG.yaml or api:URL#MODEL (key from the config's api_key_env)."),
    data: Path = typer.Argument(..., help="Build folder (from `vipet build`)."),
    split: str = typer.Option("test", "--split", help="Split to predict."),
    out: Optional[Path] = typer.Option(None, "--out", help="Predictions JSONL (default: RUN/predictions/<split>.jsonl)."),
    task: Optional[list[str]] = typer.Option(None, "--task", help="report and/or vqa (default: the run's tasks)."),
    region: Optional[list[str]] = typer.Option(None, "--region", help="Regions to predict (default: the run's)."),
    max_samples: Optional[int] = typer.Option(None, "--max-samples", help="Only this many samples, spread over the split."),
    num_beams: Optional[int] = typer.Option(None, "--num-beams", help="Beam search width (1: greedy)."),
    sample: bool = typer.Option(False, "--sample", help="Sample instead of greedy/beam decoding."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Longest answer in tokens."),
    repetition_penalty: Optional[float] = typer.Option(None, "--repetition-penalty", help="> 1 discourages repeats."),
    hospital_formats: Optional[str] = typer.Option(None, "--hospital-formats", help="Also write per-study hospital outputs next to the predictions: json, sr, fhir (comma-separated; needs the interop extra)."),
) -> None:
    """Write predictions JSONL {id, task, prediction, reference, question?, model, study} for a split."""
    from vipet.train.predict import predict

    if hospital_formats is not None:
        from vipet.interop.outputs import parse_formats, require_libraries

        try:
            require_libraries(parse_formats(hospital_formats))  # refused before any generation
        except VipetError as exc:
            _fail(exc)

    generation = {k: v for k, v in {"num_beams": num_beams, "max_new_tokens": max_new_tokens,
                                    "repetition_penalty": repetition_penalty}.items() if v is not None}
    if sample:
        generation["do_sample"] = True
    try:
        path = predict(run, data, split, out, tasks=task, regions=region, max_samples=max_samples,
                       generation=generation)
    except VipetError as exc:
        _fail(exc)
    typer.echo(f"predictions written to {path}")
    if hospital_formats is not None:
        from vipet.interop.outputs import write_prediction_outputs

        try:
            summary = write_prediction_outputs(path, data, hospital_formats)
        except VipetError as exc:
            _fail(exc)
        typer.echo(f"hospital outputs ({','.join(summary['formats'])}) for {len(summary['written'])} studies in "
                   f"{summary['folder']}")
        for key, reasons in list(summary["failed"].items())[:10]:
            for fmt, reason in reasons.items():
                typer.echo(f"  {fmt} failed for {key}: {reason}", err=True)
        if summary["failed"] and not summary["written"]:
            _fail(VipetError("no hospital output could be written (see hospital_outputs.json)", summary["folder"]))


@app.command()
def bench(
    data: Optional[Path] = typer.Option(None, "--data", help="A real cohort root (default: the built-in synthetic cohort)."),
    quick: bool = typer.Option(False, "--quick", help="Small cohort and short training: a smoke run in minutes."),
    config: Optional[Path] = typer.Option(None, "--config", help="Bench config YAML (keys of vipet.bench.BenchConfig)."),
    out: Path = typer.Option(Path("bench_out"), "--out", help="Run folder; rerun to resume, only changed steps redo."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for the cohort, splits, training and bootstrap."),
    verify: Optional[Path] = typer.Option(None, "--verify", help="Recompute every metric of a finished RUN and compare."),
) -> None:
    """The main job: cohort -> build -> train -> predict -> evaluate -> leaderboard and HTML report."""
    from vipet.bench import resolve_config, run_bench, verify_run

    try:
        if verify is not None:
            problems = verify_run(verify)
            if problems:
                typer.echo(f"error: {verify}: {len(problems)} metric(s) differ from the stored ones: {problems[0]}", err=True)
                raise typer.Exit(code=1)
            typer.echo(f"verified: every metric of {verify} recomputes to the same digits")
            return
        bench_config = resolve_config(config, quick=quick, data=data, seed=seed)
        run_bench(bench_config, out, log=lambda line: typer.echo(line, err=True))
    except VipetError as exc:
        _fail(exc)
    typer.echo((out / "leaderboard.md").read_text(encoding="utf-8"))
    typer.echo(f"run folder: {out} (report.html, metrics.json, leaderboard.csv, run.json)")


# Commands of the larger tools live in their own modules, each with `register(app)`, so that a tool's
# wiring stays beside nothing else and this file stays the pipeline's.
from vipet.cli import commands as _commands_modules  # noqa: E402  (needs `app` above)

_commands_modules.register_all(app)


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry (`vipet`, `python -m vipet`): the app inside the one error boundary
    (vipet.cli.boundary): expected errors keep their line and code, anything else exits 2 with the
    traceback in a log file (printed with --debug)."""
    from vipet.cli.boundary import run_cli

    sys.exit(run_cli(app, argv))


if __name__ == "__main__":  # pragma: no cover
    main()
