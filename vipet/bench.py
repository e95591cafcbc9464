"""`vipet bench`: the whole benchmark, data to leaderboard, as a chain of cached steps.

cohort -> build -> train (each model) -> predict (models and baselines, both tasks) -> evaluate
-> leaderboard + HTML report. Every step records the hash of its inputs (upstream hashes plus
its own settings), the package version and the hash of the code it runs in `RUN/steps/<step>.json`;
a rerun skips a step whose key is unchanged and whose outputs are intact, and redoes it and
everything downstream otherwise. The data is named by its content (relative paths, sizes and
sha256 of every file, hashed once and reused by size and mtime from `RUN/data_manifest.json`),
never by where it lies: a moved data folder is still cached, a changed volume is not. The run folder
keeps the resolved config, seeds, package versions, git revision and the hash of every data,
prediction and metrics file, so `vipet bench --verify RUN` can recompute every metric from the
stored predictions and prove that no digit moved.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from vipet import __version__
from vipet.errors import BenchError
from vipet.fsutil import atomic_write_json, atomic_write_text, inside, safe_name
from vipet.hashing import (file_manifest, json_differences, json_path_text, manifest_hash, sha256_file, sha256_json,
                           sha256_tree, tree_files)
from vipet.typed_config import from_mapping, load_yaml

STEPS_DIR = "steps"
RUN_INFO = "run.json"
METRICS = "metrics.json"
PREDICTIONS_DIR = "predictions"
DATA_MANIFEST = "data_manifest.json"  # the content hashes of the data files, reused while size and mtime hold
GROUNDING, STRESS, SEED_SPREAD = "grounding.json", "stress.json", "seed_spread.json"  # vipet.trust, beside metrics.json
SEEDS_DIR = "seeds"  # models retrained with the extra `seeds`: predictions and metrics per seed
RENDER_CAPTIONS = {"mip": "coronal MIP (PET, SUV 0-5)", "fused": "fused PET/CT slice"}  # vipet.data.cache.study_renders

# The parts of vipet/ a step does NOT run. Everything else of the package is hashed into the step's
# key, so an edit there redoes the step. The layer contract (pyproject.toml) is what makes this
# safe: a layer imports only the layers below it, so a cohort (synth) never runs data, eval,
# models or train code, and a build never runs synth, eval, models or train code. bench.py itself
# counts only for the steps whose work it holds (evaluate, report); the CLI and the shipped stage
# configs (resolved into the train step's inputs) for none. Leaving out too little only redoes a
# step for nothing; leaving out too much would keep a stale one, so a new part counts by default.
_APP = ("__main__.py", "cli.py", "bench.py", "configs")
NOT_RUN_BY_STEP: dict[str, tuple[str, ...]] = {
    "cohort": (*_APP, "data", "eval", "models", "train"),
    "build": (*_APP, "eval", "synth", "models", "train"),
    "train": _APP,
    "predict": _APP,
    "evaluate": ("__main__.py", "cli.py", "configs", "data", "synth", "models", "train"),
    "report": ("__main__.py", "cli.py", "configs", "synth", "models", "train"),  # renders via vipet.data.cache
}


def check_names(config: BenchConfig) -> None:
    """Refuse model and baseline names that cannot be one file name, and names used twice.

    A name becomes `RUN/models/<name>/` (removed and rewritten when its inputs change) and
    `RUN/predictions/<name>.jsonl`, and it is the row of the leaderboard: `../../x` would put
    (and later remove) a folder outside RUN, and two entries with one name would overwrite each
    other's predictions and have every sample scored twice. A name is refused rather than
    sanitised, so that a typo in the config never renames a model quietly.
    """
    seen: dict[str, str] = {}
    entries = [("model", entry.name) for entry in config.models] + [("baseline", name) for name in config.baselines]
    for kind, name in entries:
        if not isinstance(name, str) or not name or safe_name(name, fallback="") != name:
            raise BenchError(f"{kind} name {name!r} is not a plain file name (letters, digits, '_', '.', '-'; "
                             f"no leading dot, no '..')")
        if name in seen:
            raise BenchError(f"{kind} name {name!r} is used twice (also a {seen[name]}); every row needs its own name")
        seen[name] = kind


# The largest model-ready volume a bench may ask for (D x H x W voxels): 128 x 512 x 512, the paper's
# largest encoder input is 140 x 480 x 480; anything larger cannot be batched on any machine here.
MAX_TARGET_VOXELS = 128 * 512 * 512
COHORT_SIZES = ("small", "full")


def validate_config(config: BenchConfig) -> None:
    """Refuse a bench config that cannot run, before any cohort, build or training step starts.

    Types are checked when the YAML is read (typed_config); this checks ranges and names against the
    one definition of each vocabulary (tasks, regions, split modes, profiles, registered baselines)
    and the model names (`check_names`), so a typo fails in seconds instead of after training.
    """
    from vipet.data.splits import SPLIT_MODES
    from vipet.eval.profiles import PROFILES
    from vipet.schema import SAMPLE_REGIONS
    from vipet.train.config import TASKS

    def positive(name: str, value: Any, minimum: int = 1) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise BenchError(f"{name} must be an integer of at least {minimum}, got {value!r}")

    def known(name: str, values: Any, allowed: tuple[str, ...] | list[str], empty_ok: bool = False) -> None:
        items = [values] if isinstance(values, str) else list(values)
        unknown = [v for v in items if v not in allowed]
        if unknown:
            raise BenchError(f"unknown {name} {', '.join(map(repr, unknown))}; known: {', '.join(allowed)}")
        if not items and not empty_ok:
            raise BenchError(f"{name} is empty; choose from {', '.join(allowed)}")
        repeated = sorted({v for v in items if items.count(v) > 1})
        if repeated:
            raise BenchError(f"{name} {', '.join(map(repr, repeated))} listed twice")

    check_names(config)  # first: a name with a path or used twice is refused with its own message
    for name in ("seed", *(f"seeds[{i}]" for i in range(len(config.seeds)))):
        value = config.seed if name == "seed" else config.seeds[int(name[6:-1])]
        positive(name, value, minimum=0)
    positive("cohort_n", config.cohort_n)
    positive("workers", config.workers)
    positive("n_resamples", config.n_resamples, minimum=0)
    positive("cases", config.cases, minimum=0)
    if config.max_test_samples is not None:
        positive("max_test_samples", config.max_test_samples)
    known("cohort_size", config.cohort_size, COHORT_SIZES)
    known("split", config.split, SPLIT_MODES)
    known("task", config.tasks, TASKS)
    known("region", config.regions, SAMPLE_REGIONS)
    known("profile", config.profile, PROFILES)
    from vipet.data.tasks import REPORT_LANGUAGES

    known("report_language", config.report_language, REPORT_LANGUAGES)
    if config.report_language == "en" and "vqa" in config.tasks:
        raise BenchError("report_language en scores English reports only: the VQA questions are generated from the "
                         "Vietnamese reports; use tasks: [report]")
    known("baseline", config.baselines, _registered_baselines(), empty_ok=True)
    shape = tuple(config.target_shape)
    if len(shape) != 3 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in shape):
        raise BenchError(f"target_shape must be three positive integers (D, H, W), got {list(shape)}")
    if shape[0] * shape[1] * shape[2] > MAX_TARGET_VOXELS:
        raise BenchError(f"target_shape {list(shape)} is {shape[0] * shape[1] * shape[2]} voxels per volume, more "
                         f"than the {MAX_TARGET_VOXELS} (128 x 512 x 512) a bench can batch")
    if not config.models and not config.baselines:
        raise BenchError("nothing to benchmark: no models and no baselines")
    from vipet.models.registry import LEADERBOARD_GROUPS, model_kinds

    for i, entry in enumerate(config.models):
        if entry.kind not in model_kinds():
            raise BenchError(f"model {entry.name!r}: unknown model kind {entry.kind!r}; known: {', '.join(model_kinds())}")
        if entry.group is not None and entry.group not in LEADERBOARD_GROUPS:
            raise BenchError(f"model {entry.name!r}: unknown leaderboard group {entry.group!r}; known: "
                             f"{', '.join(LEADERBOARD_GROUPS)}")
        if entry.kind != "vlm" and (entry.init_from is not None or entry.encoder_from is not None):
            raise BenchError(f"model {entry.name!r}: an {entry.kind} model trains nothing, so it cannot start from "
                             f"{entry.init_from or entry.encoder_from!r}")
        trained_before = [e.name for e in config.models[:i] if e.kind == "vlm"]
        for what, source in (("starts from", entry.init_from), ("takes its encoder from", entry.encoder_from)):
            if source is not None and source not in trained_before:
                raise BenchError(f"model {entry.name!r} {what} {source!r}, which is not an earlier model of this "
                                 f"bench that trains ({trained_before or 'none'})")
        if entry.init_from is not None and entry.encoder_from is not None:
            raise BenchError(f"model {entry.name!r}: init_from already brings the encoder; drop encoder_from")
        if not (configs_dir() / entry.config).is_file() and not Path(entry.config).is_file():
            raise BenchError(f"model {entry.name!r}: stage config {entry.config!r} not found (neither a file nor one of "
                             f"{configs_dir()})")


def check_feasible(config: BenchConfig, build: Path) -> None:
    """After the build, before training: every split the bench trains, validates and tests on holds
    samples of every requested region (each sample carries a report, so both tasks), and the built
    volumes have the target shape the bench asked for. Read from the manifest, in milliseconds."""
    from vipet.data.manifest import read_manifest

    rows = read_manifest(build / "manifest.parquet")
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        counts[(row["split"], row["region"])] = counts.get((row["split"], row["region"]), 0) + 1
    missing = [f"{split}/{region}" for split in ("train", "test") for region in config.regions
               if not counts.get((split, region))]
    if missing:
        raise BenchError(f"the build has no samples for {', '.join(missing)} (split {config.split!r}, "
                         f"{len(rows)} samples in all): nothing to train on or score; use more studies or "
                         f"another split or region", build / "manifest.parquet")


def _registered_baselines() -> list[str]:
    from vipet.models.registry import baseline_names

    return baseline_names()


@dataclass
class ModelEntry:
    """A model of the benchmark: a name, a config (YAML) and overrides, of a `kind`.

    kind `vlm` (default): a stage config trained here, dotted overrides; `init_from` names an
    earlier model of the same bench whose final weights this one starts from (a later stage, as
    the paper's models are trained); its hash then keys this model too. kind `api`: an
    `vipet.models.api_chat` config (an OpenAI-compatible endpoint shown k training examples), flat
    overrides, nothing trained. kind `lm`: a `vipet.models.fewshot_lm` config (a local causal LM, named
    as a stage config's `lm:`, shown k training examples as a text prompt), flat overrides, nothing
    trained. `encoder_from` names an earlier trained model whose final encoder weights this one's
    encoder starts from (the paper's stage-1 encoder for a stage-2 model with another LM; the rest
    of the model is built from its config); its hash keys this model. `group` places the row on a
    grouped leaderboard (default: the kind's, `vipet.models.registry.MODEL_KINDS`; an api or lm row
    with k_shots 0 is zero-shot).
    """

    name: str
    config: str
    overrides: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    kind: str = "vlm"
    group: str | None = None
    encoder_from: str | None = None


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
    baselines: list[str] = field(default_factory=_registered_baselines)
    tasks: list[str] = field(default_factory=lambda: ["report", "vqa"])
    # Every row is scored on the same samples: the chest region, where the clinical metric lives.
    regions: list[str] = field(default_factory=lambda: ["chest"])
    max_test_samples: int | None = None
    profile: str = "default"
    n_resamples: int = 1000
    expert_dir: str | None = None
    cases: int = 3
    # Extra training seeds (e.g. [0, 1, 2]): every model is trained once more per seed other than
    # `seed`, and each metric's mean and range over the seeds goes beside the bootstrap interval
    # (seed_spread.json, report.html). Empty: one training per model; metrics.json never changes.
    seeds: list[int] = field(default_factory=list)
    # The leaderboard as the paper shows it: rows grouped zero-shot / few-shot / fine-tuned, then the
    # baselines. Off by default, so the default leaderboard keeps its bytes.
    leaderboard_groups: bool = False
    # The language of the reports trained on and scored: "vi" (the Vietnamese reports) or "en" (the
    # English versions, `reports_en/`, on the same region volumes: `vipet.data.tasks.write_english_view`,
    # English tokens for the language metrics, no clinical F1). Default "vi": nothing changes.
    report_language: str = "vi"


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
    values = load_yaml(config_file, error=BenchError, what="bench config") if config_file is not None else {}
    config = from_mapping(BenchConfig, values, config_file, error=BenchError)
    if quick:
        config = dataclasses.replace(config, **{k: v for k, v in QUICK.items() if k not in values})
        config.models = [dataclasses.replace(m, overrides={**QUICK_TRAIN, **m.overrides}) if m.kind == "vlm" else m
                         for m in config.models]
    if data is not None:
        config.data = str(data)
    if seed is not None:
        config.seed = seed
    return config


def config_dict(config: BenchConfig) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def source_hash(package: Path, left_out: tuple[str, ...]) -> str:
    """sha256 of every source file below `package` (relative paths and contents) except the files
    and folders named in `left_out` (relative to `package`)."""
    skipped = [package / part for part in left_out]
    files = [p for p in tree_files(package) if p.suffix != ".pyc" and not any(p == q or q in p.parents for q in skipped)]
    return sha256_json({p.relative_to(package).as_posix(): sha256_file(p) for p in files})


@functools.lru_cache(maxsize=None)
def step_code_hash(kind: str) -> str:
    """The hash of the code a step of `kind` runs: all of vipet/ but `NOT_RUN_BY_STEP[kind]`, read once per process."""
    return source_hash(Path(__file__).resolve().parent, NOT_RUN_BY_STEP[kind])


def data_content_hash(root: Path, run: Path) -> str:
    """The identity of a data folder: relative paths, sizes and sha256 of its files (no absolute path).

    The manifest is kept in `run/data_manifest.json`; a file whose relative path, size and mtime
    are unchanged keeps its hash there, so a cohort is read in full once, not on every rerun.
    """
    cache = run / DATA_MANIFEST
    known: dict[str, Any] = {}
    if cache.is_file():
        try:
            known = json.loads(cache.read_text(encoding="utf-8")).get("files") or {}
        except (OSError, ValueError, AttributeError):
            known = {}  # only a cache of hashes: rebuilt by reading the files again
    try:
        manifest = file_manifest(root, known)
    except OSError as exc:
        raise BenchError(f"cannot read the data files ({exc.__class__.__name__}: {exc})", root) from None
    if not manifest:
        raise BenchError("data folder holds no files", root)
    if manifest != known:
        atomic_write_json(cache, {"files": manifest})
    return manifest_hash(manifest)


class Steps:
    """The step cache of one run folder, and the per-stage progress display.

    A step is named `<kind>` or `<kind>-<model>`, kind one of `NOT_RUN_BY_STEP`; its key is the hash
    of its inputs, the package version and `step_code_hash(kind)`. `keys` holds the key of every
    step run or found cached, for the steps downstream that depend on what it wrote.
    """

    def __init__(self, run: Path, total: int, log: Callable[[str], None]):
        self.run, self.total, self.log, self.done = run, total, log, 0
        self.keys: dict[str, str] = {}
        (run / STEPS_DIR).mkdir(parents=True, exist_ok=True)

    def run_step(self, name: str, inputs: dict[str, Any], outputs: list[Path], work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run `work` unless a stamp with the same key exists and every output is present."""
        self.done += 1
        code = step_code_hash(name.split("-", 1)[0])
        key = sha256_json({"inputs": inputs, "vipet_version": __version__, "code": code})
        self.keys[name] = key
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
        atomic_write_json(stamp_path, {"key": key, "inputs": inputs, "vipet_version": __version__, "code": code,
                                       "result": result, "seconds": round(seconds, 1)})
        self.log(f"[{self.done}/{self.total}] {name}: done in {seconds:.1f} s")
        return result


def _cohort_step(config: BenchConfig, run: Path, steps: Steps) -> tuple[Path, str]:
    """The dataset root and the hash of its content (every file: relative path, size, sha256)."""
    if config.data is not None:
        root = Path(config.data)
        if not root.is_dir():
            raise BenchError("data folder not found", root)
        return root, data_content_hash(root, run)
    from vipet.synth.writer import write_cohort

    root = run / "cohort"
    inputs = {"n": config.cohort_n, "seed": config.seed, "size": config.cohort_size}

    def work() -> dict[str, Any]:
        write_cohort(root, n=config.cohort_n, seed=config.seed, format="vimed", size=config.cohort_size,
                     workers=config.workers)
        return {"content": data_content_hash(root, run)}

    result = steps.run_step("cohort", inputs, [root / "metadata.csv", root / "truth.jsonl"], work)
    return root, result["content"]


def _build_step(config: BenchConfig, data: Path, data_hash: str, run: Path, steps: Steps) -> tuple[Path, str, str]:
    """The build folder, its manifest's hash and the build step's key: the key names the cached
    arrays too (a changed volume can leave the manifest's bytes as they were), so what trains on
    or looks at the images depends on the key."""
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
    return out, result["manifest"], steps.keys["build"]


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
    if entry.encoder_from:
        from vipet.models.vlm import VISION_WEIGHTS

        overrides["model.encoder.pretrained"] = str(run / "models" / entry.encoder_from / FINAL_DIR / VISION_WEIGHTS)
        overrides["model.encoder.pretrained_prefix"] = "encoder."  # the VLM's vision weights hold projector and heads too
    return load_config(path, overrides)


def _train_step(entry: ModelEntry, config: BenchConfig, build: Path, build_key: str, run: Path,
                steps: Steps, start_hash: str | None, encoder_hash: str | None = None) -> tuple[Path, str]:
    from vipet.train.config import config_to_dict
    from vipet.train.run import FINAL_DIR, train
    from vipet.train.stages import final_model_file

    model_config = _model_config(entry, build, config.seed, run)
    run_dir = run / "models" / entry.name
    inside(run / "models", entry.name, "model run folder")  # check_names made it one component; never trust that alone
    resolved = config_to_dict(model_config)
    resolved["data"]["build"] = "<build>"  # the build step's key stands for it
    if entry.init_from:
        resolved["model"]["init_from"] = f"<{entry.init_from}>"  # and the starting model's hash for it
    inputs = {"build": build_key, "config": resolved, "init_from": start_hash}
    if entry.encoder_from:  # the default keys stay as they were
        resolved["model"]["encoder"]["pretrained"] = f"<{entry.encoder_from}>"
        inputs["encoder_from"] = encoder_hash

    def work() -> dict[str, Any]:
        stamp = run / STEPS_DIR / f"train-{entry.name}.json"
        if run_dir.exists() and stamp.exists():  # stale run from other inputs: start over, never mix
            if inside(run / "models", entry.name, "stale model run folder") == (run / "models").resolve():
                raise BenchError("refusing to remove the models folder itself", run_dir)
            shutil.rmtree(run_dir)
        summary = train(model_config, run_dir)
        return {"steps": summary.get("steps"), "stop_reason": summary.get("stop_reason"),
                "seconds": round(float(summary.get("seconds", 0.0)), 1),
                "model": sha256_tree(run_dir / FINAL_DIR)}

    # The file a finished run of this model kind leaves (an HF VLM's differs), so a cached step is found.
    result = steps.run_step(f"train-{entry.name}", inputs, [run_dir / FINAL_DIR / final_model_file(model_config)], work)
    return run_dir, result["model"]  # the weights' hash: a retrained but identical model redoes nothing downstream


def _predict_step(name: str, source: str, upstream: dict[str, Any], config: BenchConfig, build: Path, run: Path,
                  steps: Steps, tasks: list[str], folder: str = PREDICTIONS_DIR) -> Path:
    """Predictions of `source` (a run folder or a baseline name), written once with the row name `name`.

    `upstream` is what the predictions depend on besides the settings here: the model's weights
    hash and decoding settings, or for a baseline the build's key.
    """
    from vipet.train.predict import predict

    out = run / folder / f"{name}.jsonl"
    inside(run / folder, f"{name}.jsonl", "predictions file")
    inputs = {"name": name, "upstream": upstream, "tasks": tasks, "regions": config.regions,
              "max_samples": config.max_test_samples}  # a baseline's name is also what runs

    def work() -> dict[str, Any]:
        path = predict(source, build, "test", out, tasks=tasks, regions=config.regions,
                       max_samples=config.max_test_samples, model_name=name)
        return {"sha256": sha256_file(path)}

    steps.run_step(f"predict-{name}", inputs, [out], work)
    return out


def _trained(config: BenchConfig) -> list[ModelEntry]:
    """The models this bench trains (kind vlm); api and lm rows are only asked."""
    return [entry for entry in config.models if entry.kind == "vlm"]


def _entry_config_path(entry: ModelEntry) -> Path:
    """The entry's config file: a path as given, else one shipped in `vipet/configs/`."""
    path = Path(entry.config)
    return path if path.is_absolute() or path.exists() else configs_dir() / entry.config


def _api_config(entry: ModelEntry):
    from vipet.models.api_chat import load_api_config

    return load_api_config(_entry_config_path(entry), entry.overrides)


def leaderboard_groups(config: BenchConfig) -> dict[str, str]:
    """Row name -> leaderboard group: the entry's `group`, else its kind's (an api row shown no
    example is zero-shot), and "baseline" for the baselines."""
    from vipet.models.registry import MODEL_KINDS

    groups = {}
    for entry in config.models:
        prompted = {"api": _api_config, "lm": _lm_config}.get(entry.kind)
        default = prompted(entry).group if prompted is not None else MODEL_KINDS[entry.kind]
        groups[entry.name] = entry.group or default
    return {**groups, **{name: "baseline" for name in config.baselines}}


def _api_predict_step(entry: ModelEntry, config: BenchConfig, build: Path, build_key: str, run: Path,
                      steps: Steps) -> Path:
    """Predictions of an api model: its resolved config goes to `RUN/models/<name>/api.yaml` (the key's
    variable name only, never the key), its replies are cached in `RUN/models/<name>/cache/`, so a
    rerun whose step key changed still sends no request it already sent."""
    from vipet.typed_config import to_mapping

    api = _api_config(entry)
    folder = inside(run / "models", entry.name, "model run folder")
    settings = {k: v for k, v in to_mapping(api).items() if k != "cache_dir"}  # where the cache lies keys nothing
    spec = folder / "api.yaml"
    atomic_write_text(spec, yaml.safe_dump({**settings, "cache_dir": str(folder / "cache")}, allow_unicode=True,
                                           sort_keys=True))
    tasks = [t for t in config.tasks if t in api.tasks]
    return _predict_step(entry.name, f"api:{spec}", {"api": settings, "build": build_key}, config, build, run, steps, tasks)


def _lm_config(entry: ModelEntry):
    from vipet.models.fewshot_lm import load_fewshot_config

    return load_fewshot_config(_entry_config_path(entry), entry.overrides)


def _lm_identity(lm: str) -> str:
    """What names a local LM's weights in a step key beside its name: the hash of its (converted) folder,
    so a folder whose weights changed under the same name redoes the row."""
    from vipet.models.gemma import names_gguf_lm, resolve_gguf_lm

    folder = Path(resolve_gguf_lm(lm) if names_gguf_lm(lm) else lm)
    if not folder.is_dir():
        raise BenchError(f"lm {lm!r} is not {', '.join(['gemma3-270m', 'a .gguf file', 'a local HF folder'])}; "
                         "a bench keys the weights by their content", lm)
    return sha256_tree(folder)


def _lm_predict_step(entry: ModelEntry, config: BenchConfig, build: Path, build_key: str, run: Path,
                     steps: Steps) -> Path:
    """Predictions of a few-shot local LM (`vipet.models.fewshot_lm`): the same test samples as every row,
    each distinct prompt generated once; its resolved config goes to `RUN/models/<name>/lm.yaml` and
    what was run to `RUN/predictions/<name>.lm.json`. Keyed by the LM's weights as well as its name."""
    from vipet.typed_config import to_mapping

    lm_config = _lm_config(entry)
    folder = inside(run / "models", entry.name, "model run folder")
    settings = to_mapping(lm_config)
    atomic_write_text(folder / "lm.yaml", yaml.safe_dump(settings, allow_unicode=True, sort_keys=True))
    out = run / PREDICTIONS_DIR / f"{entry.name}.jsonl"
    inside(run / PREDICTIONS_DIR, f"{entry.name}.jsonl", "predictions file")
    tasks = [t for t in config.tasks if t in lm_config.tasks]
    inputs = {"name": entry.name, "upstream": {"lm": settings, "weights": _lm_identity(lm_config.lm), "build": build_key},
              "tasks": tasks, "regions": config.regions, "max_samples": config.max_test_samples}

    def work() -> dict[str, Any]:
        from vipet.models.fewshot_lm import FewShotLM
        from vipet.progress import progress_bar
        from vipet.train.config import DataConfig
        from vipet.train.data import open_split
        from vipet.train.generate import make_record, write_jsonl
        from vipet.train.run import spread_subset

        model = FewShotLM(lm_config)
        data_config = DataConfig(build=str(build), tasks=tasks, regions=list(config.regions))
        train_items = open_split(data_config, data_config.train_split, training=False, seed=0)
        train_iter = (train_items[i] for i in range(len(train_items))) if model.uses_images else train_items.text_items()
        model.fit(item for item in train_iter if (item.get("task") or "report") in tasks)
        items = spread_subset(open_split(data_config, "test", training=False, seed=0), config.max_test_samples)
        items = [item for item in items if (item.get("task") or "report") in tasks]
        with progress_bar(f"prompting {lm_config.lm}", len(items)) as update:
            predictions = model.predict_many(items, progress=lambda n: update(n))
        write_jsonl([make_record(item, text, entry.name) for item, text in zip(items, predictions)], out)
        atomic_write_json(out.with_name(f"{entry.name}.lm.json"), model.usage_record())
        return {"sha256": sha256_file(out), "distinct_prompts": model.generated}

    steps.run_step(f"predict-{entry.name}", inputs, [out], work)
    return out


def _baseline_tasks(name: str, tasks: list[str]) -> list[str]:
    from vipet.models.baselines import baseline_tasks

    return [t for t in baseline_tasks(name) if t in tasks]


def compute_metrics(prediction_files: list[Path], config: dict[str, Any]) -> dict[str, Any]:
    """Metrics JSON for the stored predictions; the same call serves the run and `--verify`."""
    from vipet.eval import evaluate_predictions
    from vipet.eval.io import load_predictions

    records = [record for path in sorted(prediction_files) for record in load_predictions(path)]
    metrics = evaluate_predictions(records, profile=config["profile"], clinical=True, expert_dir=config["expert_dir"],
                                   crg=True, n_resamples=config["n_resamples"], seed=config["seed"],
                                   language=config.get("report_language", "vi"))
    metrics["input"] = {"files": {p.name: sha256_file(p) for p in sorted(prediction_files)}, "n_records": len(records)}
    return metrics


def metrics_text(metrics: dict[str, Any]) -> str:
    from vipet.eval.report import metrics_json_text

    return metrics_json_text(metrics)


def _english_step(build: Path, build_key: str, data: Path, data_hash: str, run: Path, steps: Steps) -> tuple[Path, str]:
    """The English view of the build (`RUN/build_en`: its manifest with the English report texts, arrays
    read from the build) and the step's key, which then stands for the build in every step downstream."""
    from vipet.data.tasks import write_english_view

    out = run / "build_en"

    def work() -> dict[str, Any]:
        summary = write_english_view(build, data, out)
        if summary["problems"]:
            steps.log(f"build-english: {len(summary['problems'])} studies have no usable English report (see "
                      f"{out / 'english_view.json'})")
        return {"manifest": sha256_file(out / "manifest.parquet"), "with_english": summary["with_english"]}

    steps.run_step("build-english", {"build": build_key, "data": data_hash}, [out / "manifest.parquet"], work)
    return out, steps.keys["build-english"]


def run_bench(config: BenchConfig, out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) the benchmark into `out`; returns the run info written to `out/run.json`."""
    from vipet.eval.profiles import library_versions as eval_versions
    from vipet.provenance import git_revision
    from vipet.train.run import library_versions as train_versions

    validate_config(config)  # names, ranges, vocabularies: before any step writes a file
    out.mkdir(parents=True, exist_ok=True)
    resolved = config_dict(config)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(resolved, allow_unicode=True, sort_keys=True))
    baselines = [b for b in config.baselines if _baseline_tasks(b, config.tasks)]
    extra_seeds = [s for s in dict.fromkeys(config.seeds) if s != config.seed]
    trained = _trained(config)
    seed_steps = (2 * len(trained) * len(extra_seeds) + 1) if extra_seeds and trained else 0
    steps = Steps(out, total=(config.data is None) + 1 + len(config.models) + len(trained) + len(baselines) + 2 + seed_steps
                  + (config.report_language == "en"), log=log)
    data, data_hash = _cohort_step(config, out, steps)
    build, manifest_sha, build_key = _build_step(config, data, data_hash, out, steps)
    cached_build = build  # arrays and renders; with English reports, models train and are scored on its English view
    if config.report_language == "en":
        build, build_key = _english_step(cached_build, build_key, data, data_hash, out, steps)
    check_feasible(config, build)  # before the first training step
    prediction_files: list[Path] = []
    curves: list[Path] = []
    model_hashes: dict[str, str] = {}
    for entry in config.models:
        if entry.kind == "api":  # nothing to train: its predictions straight from the endpoint
            prediction_files.append(_api_predict_step(entry, config, build, build_key, out, steps))
            continue
        if entry.kind == "lm":  # nothing to train: a local LM prompted with training examples
            prediction_files.append(_lm_predict_step(entry, config, build, build_key, out, steps))
            continue
        for source in (entry.init_from, entry.encoder_from):
            if source is not None and source not in model_hashes:
                raise BenchError(f"model {entry.name!r} starts from {source!r}, which is not an earlier model of "
                                 f"this bench ({sorted(model_hashes) or 'none'})")
        start_hash = model_hashes.get(entry.init_from) if entry.init_from else None
        encoder_hash = model_hashes.get(entry.encoder_from) if entry.encoder_from else None
        run_dir, model_hash = _train_step(entry, config, build, build_key, out, steps, start_hash, encoder_hash)
        model_hashes[entry.name] = model_hash
        model_config = _model_config(entry, build, config.seed, out)
        tasks = [t for t in config.tasks if t in model_config.data.tasks]  # a report-only model is not asked questions
        upstream = {"model": model_hash, "generation": dataclasses.asdict(model_config.generation)}
        prediction_files.append(_predict_step(entry.name, str(run_dir), upstream, config, build, out, steps, tasks))
        if (run_dir / "training_curve.png").exists():
            curves.append(run_dir / "training_curve.png")
    for name in baselines:
        tasks = _baseline_tasks(name, config.tasks)
        prediction_files.append(_predict_step(name, name, {"build": build_key}, config, build, out, steps, tasks))

    prediction_hashes = {p.name: sha256_file(p) for p in prediction_files}
    eval_inputs = {"predictions": prediction_hashes, "profile": config.profile, "n_resamples": config.n_resamples,
                   "seed": config.seed, "expert_dir": config.expert_dir}
    if config.report_language != "vi":  # the default keys stay as they were
        eval_inputs["report_language"] = config.report_language

    def evaluate() -> dict[str, Any]:
        metrics = compute_metrics(prediction_files, resolved)
        atomic_write_text(out / METRICS, metrics_text(metrics))
        return {"sha256": sha256_file(out / METRICS)}

    steps.run_step("evaluate", eval_inputs, [out / METRICS], evaluate)
    metrics = json.loads((out / METRICS).read_text(encoding="utf-8"))
    spread = _seed_runs(config, extra_seeds, build, build_key, out, steps, metrics, resolved) if seed_steps else None

    # Grounding and stress curves are recomputed on every run (a few seconds) and key the report by
    # their content: an image change that moves no hot spot redoes nothing.
    from vipet.trust.report import trust_results

    trust = trust_results(prediction_files, cached_build, data / "truth.jsonl")
    trust_inputs = {"trust": sha256_json(trust), "seed_spread": sha256_json(spread) if spread else None}

    def report() -> dict[str, Any]:
        from vipet.eval.leaderboard import leaderboard_csv, leaderboard_markdown

        groups = leaderboard_groups(config) if config.leaderboard_groups else None
        atomic_write_text(out / "leaderboard.md", leaderboard_markdown(metrics, groups))
        atomic_write_text(out / "leaderboard.csv", leaderboard_csv(metrics, groups))
        atomic_write_json(out / GROUNDING, trust["grounding"])
        atomic_write_json(out / STRESS, trust["stress"])
        _write_html(out, metrics, cached_build, prediction_files, curves, config, trust, spread)
        return {"leaderboard": sha256_file(out / "leaderboard.md")}

    report_inputs = {"groups": leaderboard_groups(config)} if config.leaderboard_groups else {}  # default keys unchanged
    steps.run_step("report", {"metrics": sha256_file(out / METRICS), "cases": config.cases, **trust_inputs, **report_inputs},
                   [out / "leaderboard.md", out / "report.html", out / GROUNDING, out / STRESS], report)
    info = {
        "config": resolved,
        "seed": config.seed,
        "vipet_version": __version__,
        "git_revision": git_revision(),
        "versions": {**eval_versions(), **train_versions()},
        "hashes": {"data": data_hash, "manifest": manifest_sha, "build": build_key, "predictions": prediction_hashes,
                   "metrics": sha256_file(out / METRICS)},
        "prediction_files": [str(p.relative_to(out)) for p in prediction_files],
    }
    atomic_write_json(out / RUN_INFO, info)
    return info


def _seed_runs(config: BenchConfig, seeds: list[int], build: Path, build_key: str, out: Path, steps: Steps,
               metrics: dict[str, Any], resolved: dict[str, Any]) -> dict[str, Any]:
    """Train and predict every model once more per seed in `seeds` (rows `<name>.seed<s>`, under
    `RUN/seeds/`), score each seed's predictions alone, and return the per-metric spread
    (`vipet.trust.seeds.seed_spread`, also written to `RUN/seed_spread.json`)."""
    from vipet.trust.seeds import seed_model_name, seed_spread

    files: dict[int, list[Path]] = {}
    for seed in seeds:
        seeded_config = dataclasses.replace(config, seed=seed)
        hashes: dict[str, str] = {}
        for entry in _trained(config):
            seeded = ModelEntry(seed_model_name(entry.name, seed), entry.config, entry.overrides,
                                seed_model_name(entry.init_from, seed) if entry.init_from else None,
                                encoder_from=seed_model_name(entry.encoder_from, seed) if entry.encoder_from else None)
            run_dir, model_hash = _train_step(seeded, seeded_config, build, build_key, out, steps,
                                              hashes.get(seeded.init_from) if seeded.init_from else None,
                                              hashes.get(seeded.encoder_from) if seeded.encoder_from else None)
            hashes[seeded.name] = model_hash
            model_config = _model_config(seeded, build, seed, out)
            tasks = [t for t in config.tasks if t in model_config.data.tasks]
            upstream = {"model": model_hash, "generation": dataclasses.asdict(model_config.generation)}
            files.setdefault(seed, []).append(_predict_step(seeded.name, str(run_dir), upstream, config, build, out,
                                                            steps, tasks, folder=f"{SEEDS_DIR}/{PREDICTIONS_DIR}"))
    outputs = {seed: out / SEEDS_DIR / f"metrics.seed{seed}.json" for seed in seeds}
    inputs = {"predictions": {str(s): {p.name: sha256_file(p) for p in paths} for s, paths in files.items()},
              "profile": config.profile, "n_resamples": config.n_resamples, "seed": config.seed,
              "expert_dir": config.expert_dir}

    def evaluate() -> dict[str, Any]:
        for seed, paths in files.items():
            atomic_write_text(outputs[seed], metrics_text(compute_metrics(paths, resolved)))
        return {str(s): sha256_file(p) for s, p in outputs.items()}

    steps.run_step("evaluate-seeds", inputs, list(outputs.values()), evaluate)
    by_seed = {seed: json.loads(path.read_text(encoding="utf-8")) for seed, path in outputs.items()}
    spread = seed_spread(metrics, config.seed, by_seed, [entry.name for entry in _trained(config)])
    atomic_write_json(out / SEED_SPREAD, spread)
    return spread


def _write_html(out: Path, metrics: dict[str, Any], build: Path, prediction_files: list[Path], curves: list[Path],
                config: BenchConfig, trust: dict[str, Any] | None = None, spread: dict[str, Any] | None = None) -> None:
    from vipet.eval.html_report import render_html_report
    from vipet.trust.report import contradicted_flags, trust_sections

    cases = select_cases(build, prediction_files, config.cases)
    flags = contradicted_flags(trust or {})
    for case in cases:
        case.contradicted = {model: flags[(model, case.key)] for model in case.predictions if (model, case.key) in flags}
    notes = [f"Synthetic cohort of {config.cohort_n} studies (seed {config.seed})" if config.data is None
             else f"Cohort: {config.data}", f"Evaluation profile: {config.profile}; clinical F1 on thorax-scope lesions."]
    page = render_html_report(metrics, "vipet benchmark", curves=curves, cases=cases, notes=notes,
                              sections=trust_sections(trust or {}, spread))
    atomic_write_text(out / "report.html", page)


def select_cases(build: Path, prediction_files: list[Path], count: int) -> list:
    """`count` test studies to show, with their renders: ones every model answered, and among
    those the ones whose reference has thorax lesions first (a normal study shows no matched or
    missed lesion), then by key so the choice is the same on every run."""
    from vipet.data.cache import study_renders
    from vipet.eval.html_report import CaseStudy, thorax_lesion_units
    from vipet.eval.io import load_predictions

    by_id: dict[str, dict[str, Any]] = {}
    for path in prediction_files:
        for record in load_predictions(path):
            if record.task != "report":
                continue
            entry = by_id.setdefault(record.id, {"reference": record.references[0], "study": record.cluster, "predictions": {}})
            entry["predictions"][record.model] = record.prediction

    def rank(sample_id: str) -> tuple[int, bool, str]:
        entry = by_id[sample_id]
        return -len(entry["predictions"]), not thorax_lesion_units(entry["reference"]), sample_id

    cases = []
    for sample_id in sorted(by_id, key=rank)[:count]:
        entry = by_id[sample_id]
        renders = study_renders(build, entry["study"])
        images = {caption: renders[name] for name, caption in RENDER_CAPTIONS.items() if name in renders}
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
    for relative in info["prediction_files"]:
        inside(run, relative, "prediction file of run.json")
    for path in files:
        if not path.is_file():
            raise BenchError("prediction file listed in run.json is missing", path)
        expected = info["hashes"]["predictions"].get(path.name)
        if sha256_file(path) != expected:
            problems.append(f"{path.name}: predictions changed since the run (sha256 differs)")
    stored = (run / METRICS).read_text(encoding="utf-8")
    recomputed = metrics_text(compute_metrics(files, info["config"]))
    if recomputed != stored:
        problems.extend(f"{json_path_text(path)}: stored {old!r}, recomputed {new!r}"
                        for path, old, new in json_differences(json.loads(stored), json.loads(recomputed)))
    return problems


