"""`vipet bench`: the whole benchmark, data to leaderboard, as a chain of cached steps.

cohort -> build -> train (each model) -> predict (models and baselines, both tasks) -> evaluate
-> leaderboard + HTML report. Every step records the hash of its inputs (upstream hashes plus
its own settings) in `RUN/steps/<step>.json`; a rerun skips a step whose hash is unchanged and
whose outputs are intact, and redoes it and everything downstream otherwise. The run folder
keeps the resolved config, seeds, package versions, git revision and the hash of every data,
prediction and metrics file, so `vipet bench --verify RUN` can recompute every metric from the
stored predictions and prove that no digit moved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from vipet import __version__
from vipet.errors import BenchError
from vipet.fsutil import atomic_write_json, atomic_write_text

STEPS_DIR = "steps"
RUN_INFO = "run.json"
METRICS = "metrics.json"
PREDICTIONS_DIR = "predictions"
BASELINE_NAMES = ("template", "retrieval", "majority-vqa")
RENDERS = {"coronal MIP (PET, SUV 0-5)": "mip.png", "fused PET/CT slice": "fused.png"}  # written by vipet build


@dataclass
class ModelEntry:
    """A trained model of the benchmark: a name, a stage config (YAML) and dotted overrides.

    `init_from` names an earlier model of the same bench whose final weights this one starts
    from (a later stage, as the paper's models are trained); its hash then keys this model too.
    """

    name: str
    config: str
    overrides: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None


@dataclass
class BenchConfig:
    """Everything that decides the benchmark's numbers; its hash keys every cached step."""

    seed: int = 0
    data: str | None = None  # None: the built-in synthetic cohort
    cohort_n: int = 400
    cohort_size: str = "small"
    workers: int = 2
    target_shape: tuple[int, int, int] = (32, 64, 64)
    split: str = "temporal"
    # Fixed step counts, never wall-clock budgets, so a slower machine trains the same model, only later.
    models: list[ModelEntry] = field(default_factory=lambda: [
        ModelEntry("small-vlm", "small_vlm.yaml", {"train.max_minutes": None}),
        ModelEntry("small-vlm-vqa", "small_vlm_vqa.yaml", init_from="small-vlm"),
    ])
    baselines: list[str] = field(default_factory=lambda: list(BASELINE_NAMES))
    tasks: list[str] = field(default_factory=lambda: ["report", "vqa"])
    # Every row is scored on the same samples: the chest region, where the clinical metric lives.
    regions: list[str] = field(default_factory=lambda: ["chest"])
    max_test_samples: int | None = None
    profile: str = "default"
    n_resamples: int = 1000
    expert_dir: str | None = None
    cases: int = 3


QUICK = {"cohort_n": 40, "n_resamples": 200, "cases": 2}
# A smoke run, not a result: 40 steps (warm-up shortened to match) keep `--quick` under 3 minutes
# on 2 cores; the small VLM does not yet beat retrieval at this length.
QUICK_TRAIN = {"train.max_steps": 40, "train.warmup_steps": 8, "train.eval_every": 0, "train.save_every": 40,
               "data.max_val_samples": 8, "generation.max_new_tokens": 96}


def configs_dir() -> Path:
    """Stage configs shipped with the package (`vipet/configs/`), so `vipet bench` runs from any folder."""
    return Path(__file__).resolve().parent / "configs"


def resolve_config(config_file: Path | None = None, *, quick: bool = False, data: Path | None = None,
                   seed: int | None = None) -> BenchConfig:
    """Defaults, then the YAML file, then `--quick`, `--data`, `--seed`; unknown keys are an error."""
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            values = yaml.safe_load(Path(config_file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise BenchError(f"cannot read bench config ({exc.__class__.__name__}: {exc})", config_file) from None
        if not isinstance(values, dict):
            raise BenchError("bench config must be a YAML mapping", config_file)
    known = {f.name for f in dataclasses.fields(BenchConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise BenchError(f"unknown bench config keys {unknown}; known: {sorted(known)}", config_file)
    if "models" in values:
        values["models"] = [ModelEntry(**m) if isinstance(m, dict) else m for m in values["models"] or []]
    if "target_shape" in values:
        values["target_shape"] = tuple(values["target_shape"])
    config = BenchConfig(**values)
    if quick:
        config = dataclasses.replace(config, **{k: v for k, v in QUICK.items() if k not in values})
        config.models = [dataclasses.replace(m, overrides={**QUICK_TRAIN, **m.overrides}) for m in config.models]
    if data is not None:
        config.data = str(data)
    if seed is not None:
        config.seed = seed
    return config


def config_dict(config: BenchConfig) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(folder: Path) -> str:
    """One hash over every file below `folder` (relative paths and contents): a trained model's identity."""
    return sha256_json({str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()})


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class Steps:
    """The step cache of one run folder, and the per-stage progress display."""

    def __init__(self, run: Path, total: int, log: Callable[[str], None]):
        self.run, self.total, self.log, self.done = run, total, log, 0
        (run / STEPS_DIR).mkdir(parents=True, exist_ok=True)

    def run_step(self, name: str, inputs: dict[str, Any], outputs: list[Path], work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run `work` unless a stamp with the same input hash exists and every output is present."""
        self.done += 1
        key = sha256_json(inputs)
        stamp_path = self.run / STEPS_DIR / f"{name}.json"
        if stamp_path.exists():
            stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
            if stamp.get("key") == key and all(p.exists() for p in outputs):
                self.log(f"[{self.done}/{self.total}] {name}: cached ({key[:12]})")
                return stamp["result"]
        self.log(f"[{self.done}/{self.total}] {name} ...")
        started = time.perf_counter()
        result = work()
        seconds = time.perf_counter() - started
        atomic_write_json(stamp_path, {"key": key, "inputs": inputs, "result": result, "seconds": round(seconds, 1)})
        self.log(f"[{self.done}/{self.total}] {name}: done in {seconds:.1f} s")
        return result


def _cohort_step(config: BenchConfig, run: Path, steps: Steps) -> tuple[Path, str]:
    """The dataset root and a hash of its content listing (metadata and truth)."""
    if config.data is not None:
        root = Path(config.data)
        if not root.exists():
            raise BenchError("data folder not found", root)
        listing = [p for p in (root / "metadata.csv", root / "truth.jsonl") if p.exists()]
        return root, sha256_json({"root": str(root.resolve()), "files": {p.name: sha256_file(p) for p in listing}})
    from vipet.synth.writer import write_cohort

    root = run / "cohort"
    inputs = {"n": config.cohort_n, "seed": config.seed, "size": config.cohort_size, "version": __version__}

    def work() -> dict[str, Any]:
        write_cohort(root, n=config.cohort_n, seed=config.seed, format="vimed", size=config.cohort_size,
                     workers=config.workers)
        return {"metadata": sha256_file(root / "metadata.csv"), "truth": sha256_file(root / "truth.jsonl")}

    result = steps.run_step("cohort", inputs, [root / "metadata.csv", root / "truth.jsonl"], work)
    return root, sha256_json(result)


def _build_step(config: BenchConfig, data: Path, data_hash: str, run: Path, steps: Steps) -> tuple[Path, str]:
    log = steps.log
    from vipet.data.build import build_dataset
    from vipet.data.config import BuildConfig

    out = run / "build"
    build_config = BuildConfig(target_shape=tuple(config.target_shape))
    inputs = {"data": data_hash, "build": dataclasses.asdict(build_config), "split": config.split, "seed": config.seed}

    def work() -> dict[str, Any]:
        report = build_dataset(data, out, build_config, workers=config.workers, split=config.split, seed=config.seed)
        failed = report.get("failed", [])
        if failed:
            log(f"build: {len(failed)} studies failed and were skipped (see {out / 'build_report.json'})")
        return {"manifest": sha256_file(out / "manifest.parquet"), "n_studies": report.get("complete"), "n_failed": len(failed)}

    result = steps.run_step("build", inputs, [out / "manifest.parquet"], work)
    return out, result["manifest"]


def _model_config(entry: ModelEntry, build: Path, seed: int, run: Path):
    from vipet.train.config import load_config
    from vipet.train.run import FINAL_DIR

    path = Path(entry.config)
    if not path.is_absolute() and not path.exists():
        path = configs_dir() / entry.config
    if not path.exists():
        raise BenchError(f"model config for {entry.name!r} not found", entry.config)
    overrides = {**entry.overrides, "data.build": str(build), "seed": seed, "name": entry.name}
    if entry.init_from:
        overrides["model.init_from"] = str(run / "models" / entry.init_from / FINAL_DIR)
    return load_config(path, overrides)


def _train_step(entry: ModelEntry, config: BenchConfig, build: Path, manifest_hash: str, run: Path,
                steps: Steps, start_hash: str | None) -> tuple[Path, str]:
    from vipet.train.config import config_to_dict
    from vipet.train.run import FINAL_DIR, train

    model_config = _model_config(entry, build, config.seed, run)
    run_dir = run / "models" / entry.name
    resolved = config_to_dict(model_config)
    resolved["data"]["build"] = "<build>"  # the build's content hash stands for it
    if entry.init_from:
        resolved["model"]["init_from"] = f"<{entry.init_from}>"  # and the starting model's hash for it
    inputs = {"manifest": manifest_hash, "config": resolved, "init_from": start_hash}

    def work() -> dict[str, Any]:
        stamp = run / STEPS_DIR / f"train-{entry.name}.json"
        if run_dir.exists() and stamp.exists():  # stale run from other inputs: start over, never mix
            shutil.rmtree(run_dir)
        summary = train(model_config, run_dir)
        return {"steps": summary.get("steps"), "stop_reason": summary.get("stop_reason"),
                "seconds": round(float(summary.get("seconds", 0.0)), 1),
                "model": sha256_tree(run_dir / FINAL_DIR)}

    result = steps.run_step(f"train-{entry.name}", inputs, [run_dir / FINAL_DIR / "vlm_config.json"], work)
    return run_dir, result["model"]  # the weights' hash: a retrained but identical model redoes nothing downstream


def _predict_step(name: str, source: str, upstream: str, config: BenchConfig, build: Path, run: Path,
                  steps: Steps, tasks: list[str]) -> Path:
    from vipet.train.predict import predict

    out = run / PREDICTIONS_DIR / f"{name}.jsonl"
    inputs = {"upstream": upstream, "tasks": tasks, "regions": config.regions, "max_samples": config.max_test_samples}

    def work() -> dict[str, Any]:
        path = predict(source, build, "test", out, tasks=tasks, regions=config.regions, max_samples=config.max_test_samples)
        _rename_model(path, name)
        return {"sha256": sha256_file(path)}

    steps.run_step(f"predict-{name}", inputs, [out], work)
    return out


def _rename_model(path: Path, name: str) -> None:
    """Give every record the benchmark's model name, so leaderboard rows read as configured."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for record in lines:
        record["model"] = name
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in lines))


def _baseline_tasks(name: str, tasks: list[str]) -> list[str]:
    from vipet.models.baselines import baseline_tasks

    return [t for t in baseline_tasks(name) if t in tasks]


def compute_metrics(prediction_files: list[Path], config: dict[str, Any]) -> dict[str, Any]:
    """Metrics JSON for the stored predictions; the same call serves the run and `--verify`."""
    from vipet.eval import evaluate_predictions
    from vipet.eval.io import load_predictions

    records = [record for path in sorted(prediction_files) for record in load_predictions(path)]
    metrics = evaluate_predictions(records, profile=config["profile"], clinical=True, expert_dir=config["expert_dir"],
                                   n_resamples=config["n_resamples"], seed=config["seed"])
    metrics["input"] = {"files": {p.name: sha256_file(p) for p in sorted(prediction_files)}, "n_records": len(records)}
    return metrics


def metrics_text(metrics: dict[str, Any]) -> str:
    from vipet.eval.report import metrics_json_text

    return metrics_json_text(metrics)


def run_bench(config: BenchConfig, out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) the benchmark into `out`; returns the run info written to `out/run.json`."""
    from vipet.eval.profiles import library_versions as eval_versions
    from vipet.provenance import git_revision
    from vipet.train.run import library_versions as train_versions

    out.mkdir(parents=True, exist_ok=True)
    resolved = config_dict(config)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(resolved, allow_unicode=True, sort_keys=True))
    baselines = [b for b in config.baselines if _baseline_tasks(b, config.tasks)]
    steps = Steps(out, total=(config.data is None) + 1 + 2 * len(config.models) + len(baselines) + 2, log=log)
    data, data_hash = _cohort_step(config, out, steps)
    build, manifest_hash = _build_step(config, data, data_hash, out, steps)
    prediction_files: list[Path] = []
    curves: list[Path] = []
    model_hashes: dict[str, str] = {}
    for entry in config.models:
        if entry.init_from is not None and entry.init_from not in model_hashes:
            raise BenchError(f"model {entry.name!r} starts from {entry.init_from!r}, which is not an earlier model of "
                             f"this bench ({sorted(model_hashes) or 'none'})")
        start_hash = model_hashes.get(entry.init_from) if entry.init_from else None
        run_dir, model_hash = _train_step(entry, config, build, manifest_hash, out, steps, start_hash)
        model_hashes[entry.name] = model_hash
        trained_tasks = _model_config(entry, build, config.seed, out).data.tasks
        tasks = [t for t in config.tasks if t in trained_tasks]  # a report-only model is not asked questions
        prediction_files.append(_predict_step(entry.name, str(run_dir), model_hash, config, build, out, steps, tasks))
        if (run_dir / "training_curve.png").exists():
            curves.append(run_dir / "training_curve.png")
    for name in baselines:
        tasks = _baseline_tasks(name, config.tasks)
        prediction_files.append(_predict_step(name, name, manifest_hash, config, build, out, steps, tasks))

    prediction_hashes = {p.name: sha256_file(p) for p in prediction_files}
    eval_inputs = {"predictions": prediction_hashes, "profile": config.profile, "n_resamples": config.n_resamples,
                   "seed": config.seed, "expert_dir": config.expert_dir}

    def evaluate() -> dict[str, Any]:
        metrics = compute_metrics(prediction_files, resolved)
        atomic_write_text(out / METRICS, metrics_text(metrics))
        return {"sha256": sha256_file(out / METRICS)}

    steps.run_step("evaluate", eval_inputs, [out / METRICS], evaluate)
    metrics = json.loads((out / METRICS).read_text(encoding="utf-8"))

    def report() -> dict[str, Any]:
        from vipet.eval.leaderboard import leaderboard_csv, leaderboard_markdown

        atomic_write_text(out / "leaderboard.md", leaderboard_markdown(metrics))
        atomic_write_text(out / "leaderboard.csv", leaderboard_csv(metrics))
        _write_html(out, metrics, build, prediction_files, curves, config)
        return {"leaderboard": sha256_file(out / "leaderboard.md")}

    steps.run_step("report", {"metrics": sha256_file(out / METRICS), "cases": config.cases},
                   [out / "leaderboard.md", out / "report.html"], report)
    info = {
        "config": resolved,
        "seed": config.seed,
        "vipet_version": __version__,
        "git_revision": git_revision(),
        "versions": {**eval_versions(), **train_versions()},
        "hashes": {"data": data_hash, "manifest": manifest_hash, "predictions": prediction_hashes,
                   "metrics": sha256_file(out / METRICS)},
        "prediction_files": [str(p.relative_to(out)) for p in prediction_files],
    }
    atomic_write_json(out / RUN_INFO, info)
    return info


def _write_html(out: Path, metrics: dict[str, Any], build: Path, prediction_files: list[Path], curves: list[Path],
                config: BenchConfig) -> None:
    from vipet.eval.html_report import render_html_report

    cases = select_cases(build, prediction_files, config.cases)
    notes = [f"Synthetic cohort of {config.cohort_n} studies (seed {config.seed})" if config.data is None
             else f"Cohort: {config.data}", f"Evaluation profile: {config.profile}; clinical F1 on thorax-scope lesions."]
    page = render_html_report(metrics, "vipet benchmark", curves=curves, cases=cases, notes=notes)
    atomic_write_text(out / "report.html", page)


def select_cases(build: Path, prediction_files: list[Path], count: int) -> list:
    """`count` test studies to show, with their renders: ones every model answered, and among
    those the ones whose reference has thorax lesions first (a normal study shows no matched or
    missed lesion), then by key so the choice is the same on every run."""
    from vipet.eval.html_report import CaseStudy, thorax_lesion_units

    by_id: dict[str, dict[str, Any]] = {}
    for path in prediction_files:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("task") != "report":
                continue
            entry = by_id.setdefault(record["id"], {"reference": record["reference"], "study": record.get("study", record["id"]), "predictions": {}})
            entry["predictions"][record["model"]] = record["prediction"]

    def rank(sample_id: str) -> tuple[int, bool, str]:
        entry = by_id[sample_id]
        return -len(entry["predictions"]), not thorax_lesion_units(entry["reference"]), sample_id

    cases = []
    for sample_id in sorted(by_id, key=rank)[:count]:
        entry = by_id[sample_id]
        study_dir = build / "cache" / str(entry["study"])
        images = {caption: study_dir / name for caption, name in RENDERS.items() if (study_dir / name).is_file()}
        cases.append(CaseStudy(sample_id, entry["reference"], entry["predictions"], images))
    return cases


def verify_run(run: Path) -> list[str]:
    """Recompute the metrics from the stored predictions; returns the differences (empty: verified)."""
    info_path = run / RUN_INFO
    if not info_path.is_file():
        raise BenchError("not a bench run folder (no run.json)", run)
    info = json.loads(info_path.read_text(encoding="utf-8"))
    problems = []
    files = [run / p for p in info["prediction_files"]]
    for path in files:
        if not path.is_file():
            raise BenchError("prediction file listed in run.json is missing", path)
        expected = info["hashes"]["predictions"].get(path.name)
        if sha256_file(path) != expected:
            problems.append(f"{path.name}: predictions changed since the run (sha256 differs)")
    stored = (run / METRICS).read_text(encoding="utf-8")
    recomputed = metrics_text(compute_metrics(files, info["config"]))
    if recomputed != stored:
        problems.extend(_json_differences(json.loads(stored), json.loads(recomputed)))
    return problems


def _json_differences(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out.extend(_json_differences(old.get(key), new.get(key), f"{path}/{key}"))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in _json_differences(a, b, f"{path}[{i}]")]
    return [] if old == new else [f"{path or '/'}: stored {old!r}, recomputed {new!r}"]


