"""`vipet bench` end to end on a tiny synthetic cohort: caching (keys that cannot go stale),
byte-identical reruns, --verify, HTML."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import vipet.bench
from vipet.bench import BenchConfig, ModelEntry, Steps, resolve_config, run_bench, select_cases, verify_run
from vipet.cli import app
from vipet.errors import BenchError

TINY_TRAIN = {
    "model.small_lm": {"vocab_size": 400, "n_layer": 1, "n_embd": 32, "n_head": 2, "n_positions": 512, "dropout": 0.0},
    "model.encoder.channels": [4, 8, 8, 16],
    "model.encoder.out_dim": 32,
    "model.encoder.input_size": [16, 32, 32],  # the tiny build's target_shape below
    "train.max_steps": 3,
    "train.eval_every": 0,
    "train.save_every": 3,
    "train.batch_size": 4,
    "data.max_val_samples": 2,
    "generation.max_new_tokens": 12,
    "generation.batch_size": 8,
}


TINY_VQA_TRAIN = {key: TINY_TRAIN[key] for key in TINY_TRAIN if key.split(".")[0] in ("train", "data", "generation")}


def tiny_config(seed: int = 0) -> BenchConfig:
    models = [ModelEntry("tiny-vlm", "small_vlm.yaml", TINY_TRAIN),
              ModelEntry("tiny-vqa", "small_vlm_vqa.yaml", TINY_VQA_TRAIN, init_from="tiny-vlm")]
    return BenchConfig(seed=seed, cohort_n=6, workers=1, target_shape=(16, 32, 32), n_resamples=20, cases=1,
                       max_test_samples=4, models=models)


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("bench") / "run"
    lines: list[str] = []
    run_bench(tiny_config(), out, log=lines.append)
    return out, lines


def test_run_writes_leaderboard_metrics_and_provenance(bench_run):
    out, lines = bench_run
    board = (out / "leaderboard.md").read_text(encoding="utf-8")
    for model in ("tiny-vlm", "template", "retrieval"):
        assert f"| {model} |" in board
    assert "Published reference rows" in board
    info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert info["seed"] == 0 and info["versions"] and "git_revision" in info
    assert set(info["hashes"]["predictions"]) >= {"tiny-vlm.jsonl", "template.jsonl", "retrieval.jsonl"}
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert "F1-T" in metrics["results"]["tiny-vlm"]["report"]["clinical"]["scores"]
    assert any(line.startswith("[1/") for line in lines)
    ids = {}
    for name in ("tiny-vlm", "template", "retrieval"):
        records = [json.loads(x) for x in (out / "predictions" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
        ids[name] = sorted(r["id"] for r in records if r["task"] == "report")
        assert all(r["id"].endswith(":chest") for r in records if r["task"] == "report")
    assert ids["tiny-vlm"] == ids["template"] == ids["retrieval"]  # every row scored on the same samples
    vqa = [json.loads(x) for x in (out / "predictions" / "tiny-vqa.jsonl").read_text(encoding="utf-8").splitlines()]
    assert vqa and {r["task"] for r in vqa} == {"vqa"}
    majority = [json.loads(x) for x in (out / "predictions" / "majority-vqa.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in vqa) == sorted(r["id"] for r in majority)
    assert "| tiny-vqa |" in board.split("Visual question answering")[1]
    import yaml

    vqa_config = yaml.safe_load((out / "models" / "tiny-vqa" / "config.yaml").read_text(encoding="utf-8"))
    assert Path(vqa_config["model"]["init_from"]) == out / "models" / "tiny-vlm" / "final"


def test_rerun_is_cached_and_byte_identical(bench_run):
    out, _ = bench_run
    before = (out / "metrics.json").read_bytes()
    lines: list[str] = []
    run_bench(tiny_config(), out, log=lines.append)
    assert all("cached" in line for line in lines if line.startswith("[")), lines
    assert (out / "metrics.json").read_bytes() == before


def test_changed_setting_redoes_only_downstream_steps(bench_run, tmp_path):
    out, _ = bench_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    config = tiny_config()
    config.n_resamples = 30
    lines: list[str] = []
    run_bench(config, copy, log=lines.append)
    redone = [line.split()[1].rstrip(":") for line in lines if line.endswith("...")]
    assert redone == ["evaluate", "report"]


def _redone(lines: list[str]) -> list[str]:
    return [line.split()[1].rstrip(":") for line in lines if line.endswith("...")]


def test_a_retrained_first_stage_retrains_the_stage_that_starts_from_it(bench_run, tmp_path):
    out, _ = bench_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    config = tiny_config()
    config.models[0].overrides = {**TINY_TRAIN, "data.tasks": ["report", "vqa"]}
    lines: list[str] = []
    run_bench(config, copy, log=lines.append)
    # Other weights: both models retrain and predict again. The first is now also asked the bench's
    # questions, so its file gains the VQA records and scoring is redone.
    assert _redone(lines) == ["train-tiny-vlm", "predict-tiny-vlm", "train-tiny-vqa", "predict-tiny-vqa",
                              "evaluate", "report"]
    tasks = [json.loads(x)["task"] for x in (copy / "predictions" / "tiny-vlm.jsonl").read_text(encoding="utf-8").splitlines()]
    assert set(tasks) == {"report", "vqa"} and len(tasks) == 4  # max_test_samples over both tasks


def test_a_retrained_but_identical_model_redoes_nothing_downstream(bench_run, tmp_path):
    out, _ = bench_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    config = tiny_config()
    config.models[0].overrides = {**TINY_TRAIN, "train.log_every": 1}  # logging only: the same weights
    lines: list[str] = []
    run_bench(config, copy, log=lines.append)
    assert _redone(lines) == ["train-tiny-vlm"]
    assert (copy / "metrics.json").read_bytes() == (out / "metrics.json").read_bytes()


def test_new_decoding_settings_predict_again_without_retraining_downstream(bench_run, tmp_path):
    out, _ = bench_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    config = tiny_config()
    config.models[1].overrides = {**TINY_VQA_TRAIN, "generation.max_new_tokens": 1}
    lines: list[str] = []
    run_bench(config, copy, log=lines.append)
    # The config changed, so tiny-vqa retrains (to the same weights), and predicts with one new token.
    # Greedy decoding: one token starts what twelve tokens began with. The 3-step tiny model answers
    # every question with the empty text, so one token gives the same bytes and scoring stays cached.
    assert _redone(lines) == ["train-tiny-vqa", "predict-tiny-vqa"]

    def predictions(run: Path) -> list[str]:
        lines = (run / "predictions" / "tiny-vqa.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["prediction"] for line in lines]

    assert predictions(out) == predictions(copy) == [""] * 4


def test_a_stage_must_start_from_an_earlier_model(tmp_path):
    config = tiny_config()
    config.models = config.models[::-1]
    with pytest.raises(BenchError, match="not an earlier model"):
        run_bench(config, tmp_path / "run", log=lambda line: None)


def test_verify_passes_then_catches_a_changed_digit(bench_run, tmp_path):
    out, _ = bench_run
    assert verify_run(out) == []
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    metrics = json.loads((copy / "metrics.json").read_text(encoding="utf-8"))
    block = metrics["results"]["template"]["report"]["nlg"]["scores"]["bleu_4"]
    block["value"] = block["value"] + 1e-6
    (copy / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    problems = verify_run(copy)
    assert problems and "bleu_4" in problems[0]
    result = CliRunner().invoke(app, ["bench", "--verify", str(copy)])
    assert result.exit_code == 1 and "differ" in result.output


def test_data_flag_reads_an_existing_cohort_instead_of_synthesising(bench_run, tmp_path):
    out, _ = bench_run
    config = tiny_config()
    config.data, config.models = str(out / "cohort"), []  # baselines only: the data path is what is tested
    lines: list[str] = []
    run_bench(config, tmp_path / "run", log=lines.append)
    assert not any(" cohort" in line for line in lines) and not (tmp_path / "run" / "cohort").exists()
    assert lines[0].startswith("[1/6] build") and lines[-1].startswith("[6/6] report")
    # Same cohort, same build settings and seed: the same test samples and the same template reports.
    same = [(out / "predictions" / "template.jsonl"), (tmp_path / "run" / "predictions" / "template.jsonl")]
    assert same[0].read_bytes() == same[1].read_bytes()
    config.data = str(tmp_path / "absent")
    with pytest.raises(BenchError, match="data folder not found"):
        run_bench(config, tmp_path / "other", log=lines.append)


def _baselines_on(data: Path, run: Path, baselines: list[str]) -> list[str]:
    config = tiny_config()
    config.data, config.models, config.baselines = str(data), [], baselines
    lines: list[str] = []
    run_bench(config, run, log=lines.append)
    return lines


def test_data_is_keyed_by_content_not_by_where_it_lies(bench_run, tmp_path):
    out, _ = bench_run
    first, moved, run = tmp_path / "a" / "cohort", tmp_path / "b" / "cohort", tmp_path / "run"
    shutil.copytree(out / "cohort", first)
    baselines = ["template", "majority-vqa"]  # both read only the report texts
    assert _redone(_baselines_on(first, run, baselines)) == ["build", "predict-template", "predict-majority-vqa",
                                                             "evaluate", "report"]
    manifest = json.loads((run / "data_manifest.json").read_text(encoding="utf-8"))["files"]
    assert set(manifest) == {p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file()}
    moved.parent.mkdir()
    first.rename(moved)
    assert _redone(_baselines_on(moved, run, baselines)) == []  # moved, same content: every step cached
    # One voxel of one PET volume changes: the build is redone; the text-only baselines then write
    # the same bytes, so scoring stays cached.
    pet = sorted(moved.rglob("PET/*.npz"))[0]
    volume = np.load(pet)["data"]
    volume[0, 0, 0] += 1
    np.savez_compressed(pet, data=volume)
    before = (run / "predictions" / "template.jsonl").read_bytes()
    assert _redone(_baselines_on(moved, run, baselines)) == ["build", "predict-template", "predict-majority-vqa"]
    assert (run / "predictions" / "template.jsonl").read_bytes() == before


def test_a_code_change_in_a_steps_modules_redoes_that_step(bench_run, tmp_path, monkeypatch):
    out, _ = bench_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    real = vipet.bench.step_code_hash
    monkeypatch.setattr(vipet.bench, "step_code_hash", lambda kind: "edited" if kind == "evaluate" else real(kind))
    lines: list[str] = []
    run_bench(tiny_config(), copy, log=lines.append)
    assert _redone(lines) == ["evaluate"]  # the same metrics come out, so the report stays cached


def test_step_key_holds_the_inputs_the_package_version_and_the_code(tmp_path, monkeypatch):
    calls: list[int] = []

    def work() -> dict:
        calls.append(1)
        return {"call": len(calls)}

    def run(inputs: dict) -> dict:
        return Steps(tmp_path, 1, log=lambda line: None).run_step("evaluate", inputs, [], work)

    assert run({"a": 1}) == {"call": 1} and run({"a": 1}) == {"call": 1}  # cached
    assert run({"a": 2}) == {"call": 2}
    monkeypatch.setattr(vipet.bench, "__version__", "0.0.0-other")
    assert run({"a": 2}) == {"call": 3}
    real = vipet.bench.step_code_hash
    monkeypatch.setattr(vipet.bench, "step_code_hash", lambda kind: "edited" if kind == "build" else real(kind))
    assert run({"a": 2}) == {"call": 3}  # another step's code: still cached
    monkeypatch.setattr(vipet.bench, "step_code_hash", lambda kind: "edited")
    assert run({"a": 2}) == {"call": 4}
    stamp = json.loads((tmp_path / "steps" / "evaluate.json").read_text(encoding="utf-8"))
    assert (stamp["code"], stamp["vipet_version"], stamp["inputs"]) == ("edited", "0.0.0-other", {"a": 2})


def test_source_hash_follows_the_files_a_step_runs(tmp_path):
    from vipet.bench import NOT_RUN_BY_STEP, source_hash

    package = tmp_path / "vipet"
    for name in ("schema.py", "synth/writer.py", "train/loop.py", "cli.py", "synth/__pycache__/writer.pyc"):
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(f"# {name}\n", encoding="utf-8")
    before = {kind: source_hash(package, NOT_RUN_BY_STEP[kind]) for kind in ("cohort", "train")}
    (package / "train" / "loop.py").write_text("# edited\n", encoding="utf-8")
    (package / "cli.py").write_text("# edited\n", encoding="utf-8")
    (package / "synth" / "__pycache__" / "writer.pyc").write_text("# compiled again\n", encoding="utf-8")
    after = {kind: source_hash(package, NOT_RUN_BY_STEP[kind]) for kind in ("cohort", "train")}
    assert after["cohort"] == before["cohort"]  # a cohort runs no train code, and no step runs the CLI
    assert after["train"] != before["train"]
    (package / "schema.py").write_text("# edited\n", encoding="utf-8")
    assert source_hash(package, NOT_RUN_BY_STEP["cohort"]) != after["cohort"]  # every step runs the bottom layer


def test_html_report_has_leaderboard_and_images(bench_run):
    out, _ = bench_run
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Leaderboard" in page and page.count("data:image/png;base64,") >= 2


def test_cases_prefer_studies_with_lesions_then_key_order(tmp_path):
    normal = "Không phát hiện hình ảnh tăng chuyển hóa FDG khu trú, bất thường ở nhu mô phổi hai bên."
    lesion = "Hình ảnh nốt mờ ở thùy trên phổi phải, kích thước 12 mm, tăng chuyển hóa FDG (SUVmax: 5,2)."
    records = [{"id": "a_normal:chest", "study": "a_normal", "reference": normal},
               {"id": "b_lesion:chest", "study": "b_lesion", "reference": lesion},
               {"id": "c_lesion:chest", "study": "c_lesion", "reference": lesion}]
    files = []
    for model in ("small-vlm", "template"):
        path = tmp_path / f"{model}.jsonl"
        answered = records if model == "small-vlm" else records[:2]  # c_ has one model's report only
        path.write_text("".join(json.dumps({**r, "model": model, "task": "report", "prediction": normal}) + "\n"
                                for r in answered), encoding="utf-8")
        files.append(path)
    keys = [case.key for case in select_cases(tmp_path / "build", files, 3)]
    assert keys == ["b_lesion:chest", "a_normal:chest", "c_lesion:chest"]


def test_bad_config_and_missing_run_are_one_line_errors(tmp_path):
    bad = tmp_path / "bench.yaml"
    bad.write_text("cohort_size: small\nbogus: 1\n", encoding="utf-8")
    with pytest.raises(BenchError, match=r"unknown key\(s\) bogus; known: seed, data, cohort_n"):
        resolve_config(bad)
    result = CliRunner().invoke(app, ["bench", "--verify", str(tmp_path)])
    assert result.exit_code == 1 and "no run.json" in result.output


def test_quick_preset_shrinks_cohort_and_training():
    config = resolve_config(None, quick=True)
    assert (config.cohort_n, config.n_resamples, config.cases) == (40, 200, 2)
    quick_train = {"train.max_steps": 40, "train.warmup_steps": 8, "train.eval_every": 0, "train.save_every": 40,
                   "data.max_val_samples": 8, "generation.max_new_tokens": 96}
    assert [m.overrides for m in config.models] == [{**quick_train, "train.max_minutes": None}, quick_train]
    assert (BenchConfig().cohort_n, BenchConfig().n_resamples) == (400, 1000)  # the full run is untouched


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (.ci/run installs it with apt-get)")
def test_report_opens_in_headless_chromium(bench_run, tmp_path):
    out, _ = bench_run
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1400,2000", (out / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", (out / "report.html").as_uri()],
                         check=True, capture_output=True, timeout=120, text=True).stdout
    assert "Leaderboard" in dom and "coronal MIP" in dom and "<table" in dom
    from PIL import Image

    image = Image.open(shot).convert("L")
    assert image.size[0] >= 1000 and len(image.getcolors(maxcolors=1 << 16) or range(17)) > 16  # rendered content, not a blank page


def test_readme_bench_config_example_resolves(tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "bench.yaml").write_text(example, encoding="utf-8")
    config = resolve_config(tmp_path / "bench.yaml")
    assert [m.name for m in config.models] == ["small-vlm", "small-vlm-vqa"]
    assert config.models[1].init_from == "small-vlm"
    from vipet.bench import _model_config

    first = _model_config(config.models[0], tmp_path / "build", 0, tmp_path)
    second = _model_config(config.models[1], tmp_path / "build", 0, tmp_path)
    assert first.train.max_steps == 800 and first.data.tasks == ["report"]
    assert second.data.tasks == ["vqa"] and Path(second.model.init_from) == tmp_path / "models" / "small-vlm" / "final"
