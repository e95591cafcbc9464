"""`vipet generate RUN DATA`: predictions JSONL for a split, from a trained run or a named baseline.

RUN is a run folder written by `vipet train` (its `final/` model, the built-in VLM or a Hugging
Face VLM, and `config.yaml` decide the tasks, regions and decoding settings), the name of a baseline (`vipet.models.baselines.BASELINES`),
which is fitted on the build's training split first, or `api:CONFIG.yaml` / `api:URL#MODEL`, an
OpenAI-compatible endpoint shown k training examples (`vipet.models.api_chat`). The file is written once, complete: every
record carries the model name (the run's, or the one the caller gives) and its study key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from vipet.errors import TrainError
from vipet.models.registry import baseline_names, is_api_spec, is_baseline
from vipet.train.config import DataConfig, GenerationConfig, load_config
from vipet.train.generate import baseline_records, generate_to_file, write_jsonl


def predict(run: str | Path, data: str | Path, split: str = "test", out: str | Path | None = None, *,
            tasks: Sequence[str] | None = None, regions: Sequence[str] | None = None,
            max_samples: int | None = None, generation: dict[str, Any] | None = None,
            progress: bool = True, device: str | None = None, model_name: str | None = None) -> Path:
    """Write predictions for `split` of the build `data`; returns the JSONL path.

    `model_name` is the name every record carries (default: the run's `name`, or the baseline's).
    """
    name = str(run)
    if is_api_spec(name):
        return _predict_api(name, data, split, out, tasks, regions, max_samples, model_name, progress)
    if is_baseline(name) and not Path(name).is_dir():
        return _predict_baseline(name, data, split, out, tasks, regions, max_samples, model_name)
    return _predict_run(Path(run), data, split, out, tasks, regions, max_samples, generation, progress, device,
                        model_name)


def _items(data_config: DataConfig, split: str, max_samples: int | None, seed: int):
    from vipet.train.data import open_split
    from vipet.train.run import spread_subset

    return spread_subset(open_split(data_config, split, training=False, seed=seed), max_samples)


def _predict_run(run_dir: Path, data, split, out, tasks, regions, max_samples, generation, progress, device,
                 model_name: str | None) -> Path:
    import torch

    config = run_config(run_dir)
    data_config = config.data
    data_config.build = str(data)
    if tasks:
        data_config.tasks = list(tasks)
    if regions:
        data_config.regions = list(regions)
    gen = GenerationConfig(**{**config.generation.__dict__, **(generation or {})})
    items = _items(data_config, split, max_samples, config.seed)
    model = load_run_model(run_dir, data, config)
    target = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(target)
    out = Path(out) if out else run_dir / "predictions" / f"{split}.jsonl"
    return generate_to_file(model, items, gen, model_name or config.name, out, progress=progress)


def run_config(run_dir: Path):
    """The resolved config of a finished text-generating run, or a one-line reason it is not one."""
    from vipet.train.run import FINAL_DIR
    from vipet.train.stages import final_model_file

    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise TrainError(f"not a run folder (no config.yaml) and not a baseline name ({', '.join(baseline_names())})", run_dir)
    config = load_config(config_path)
    if config.stage == "contrastive":
        raise TrainError("a contrastive run trains an encoder, not a text generator; use it in an alignment config", run_dir)
    if not (run_dir / FINAL_DIR / final_model_file(config)).is_file():
        raise TrainError("run has no final model yet (training unfinished?)", run_dir)
    return config


def load_run_model(run_dir: str | Path, build: str | Path, config=None):
    """The model a run saved in `final/`, of its kind: the built-in VLM, or an HF VLM whose pictures
    read the PET and CT channels as `build` (the build predicted) stored them."""
    from vipet.train.run import FINAL_DIR

    run_dir = Path(run_dir)
    config = config if config is not None else run_config(run_dir)
    if config.model.hf_vlm is not None:
        from vipet.train.hf_stage import load_hf_vlm_for

        return load_hf_vlm_for(run_dir / FINAL_DIR, build)
    from vipet.models.vlm import VisionLanguageModel

    return VisionLanguageModel.from_pretrained(run_dir / FINAL_DIR)


def _predict_baseline(name: str, data, split, out, tasks, regions, max_samples, model_name: str | None) -> Path:
    from vipet.models.baselines import baseline_class
    from vipet.train.data import open_split

    baseline = baseline_class(name)()
    wanted = tuple(tasks) if tasks else baseline.tasks
    data_config = DataConfig(build=str(data), tasks=list(wanted), regions=list(regions) if regions else None)
    train_items = open_split(data_config, data_config.train_split, training=False, seed=0)
    if baseline.uses_images:
        train_iter = (train_items[i] for i in range(len(train_items)))
    else:
        train_iter = train_items.text_items()  # no volume loaded
    items = _items(data_config, split, max_samples, 0)
    records = baseline_records(baseline, train_iter, items, wanted, model_name)
    return write_jsonl(records, Path(out) if out else Path(f"predictions_{name}_{split}.jsonl"))


def _predict_api(spec: str, data, split, out, tasks, regions, max_samples, model_name: str | None,
                 progress: bool) -> Path:
    """Few-shot predictions from an OpenAI-compatible endpoint; `<out>.usage.json` beside the file.

    Replies are cached in `<out>.api_cache/` (or the config's `cache_dir`), so a rerun sends no
    request. A study whose request fails (a malformed reply, a server error after the retries) is
    reported and gets an empty prediction, never cached; a refused key, a wrong URL or model, or no
    server stops the batch with one line (`EndpointError`).
    """
    from vipet.data.cache import study_renders
    from vipet.fsutil import atomic_write_json
    from vipet.models.api_chat import ApiChatModel, EndpointError, parse_api_spec
    from vipet.progress import progress_bar
    from vipet.train.data import open_split
    from vipet.train.generate import make_record, study_key

    config = parse_api_spec(spec)
    wanted = tuple(tasks) if tasks else tuple(config.tasks)
    out = Path(out) if out else Path(f"predictions_{model_name or 'api'}_{split}.jsonl")

    def images(item: dict[str, Any]) -> dict[str, bytes]:
        renders = study_renders(data, study_key(str(item["sample_id"])))
        return {view: path.read_bytes() for view, path in renders.items()}

    model = ApiChatModel(config, out.with_name(out.name + ".api_cache"), images=images)
    data_config = DataConfig(build=str(data), tasks=list(wanted), regions=list(regions) if regions else None)
    train_items = open_split(data_config, data_config.train_split, training=False, seed=0)
    train_iter = (train_items[i] for i in range(len(train_items))) if model.uses_images else train_items.text_items()
    model.fit(item for item in train_iter if (item.get("task") or "report") in wanted)
    items = _items(data_config, split, max_samples, 0)
    name = model_name or f"api-{config.model}"
    records = []
    with progress_bar(f"asking {config.model}", len(items), enabled=progress) as update:
        for i in range(len(items)):
            item = items[i]
            if (item.get("task") or "report") not in wanted:
                update()
                continue
            try:
                prediction = model.predict(item)
            except EndpointError:
                raise
            except TrainError as exc:
                model.usage.failed.append({"id": str(item["sample_id"]), "reason": exc.reason})
                prediction = ""
            records.append(make_record(item, prediction, name))
            update()
    path = write_jsonl(records, out)
    atomic_write_json(out.with_name(out.stem + ".usage.json"), model.usage_record())
    if model.usage.failed:
        print(f"{len(model.usage.failed)} of {len(records)} requests failed (empty predictions); see "
              f"{out.with_name(out.stem + '.usage.json')}")
    return path
