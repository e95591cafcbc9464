"""A bench of several model kinds (a trained VLM, the few-shot and zero-shot API rows against a loopback
server, baselines) on a tiny synthetic cohort, and the leaderboard grouped as the paper groups it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from test_bench import TINY_TRAIN
from vipet.bench import BenchConfig, ModelEntry, leaderboard_groups, resolve_config, run_bench, validate_config
from vipet.cli import app
from vipet.errors import BenchError
from vipet.eval.leaderboard import leaderboard_csv, leaderboard_markdown
from vipet.models.testing_chat import ZERO_SHOT_REPLY, ChatServer

SECRET = "sk-bench-5d1e0b77-must-stay-in-the-environment"
KEY_ENV = "VIPET_BENCH_TEST_KEY"


def write_api_config(path: Path, url: str, **settings) -> Path:
    values = {"base_url": url, "model": "tiny-vi", "api_key_env": KEY_ENV, **settings}
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def kinds_config(folder: Path, url: str) -> BenchConfig:
    few = write_api_config(folder / "few.yaml", url, k_shots=2, images=["mip"])
    zero = write_api_config(folder / "zero.yaml", url, k_shots=0)
    models = [ModelEntry("tiny-vlm", "small_vlm.yaml", TINY_TRAIN),
              ModelEntry("api-few", str(few), kind="api"),
              ModelEntry("api-zero", str(zero), kind="api")]
    return BenchConfig(seed=0, cohort_n=6, workers=1, target_shape=(16, 32, 32), n_resamples=20, cases=1,
                       max_test_samples=4, models=models, baselines=["template", "retrieval"], tasks=["report"],
                       leaderboard_groups=True)


@pytest.fixture(scope="module")
def kinds_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kinds")
    before = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = SECRET
    lines: list[str] = []
    try:
        with ChatServer() as server:
            config = kinds_config(folder, server.url)
            run_bench(config, folder / "run", log=lines.append)
            first_requests = list(server.requests)
            server.requests.clear()
            run_bench(config, folder / "run", log=lines.append)  # a rerun: every step cached
            yield folder, config, first_requests, list(server.requests), lines, server
    finally:
        if before is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = before


def test_every_kind_is_scored_on_the_same_samples_and_grouped(kinds_run):
    folder, config, requests, _, _, _ = kinds_run
    out = folder / "run"
    board = (out / "leaderboard.md").read_text(encoding="utf-8")
    sections = board.split("### Published")[0].split("#### ")
    headings = [s.split("\n", 1)[0] for s in sections[1:]]
    assert headings == ["Zero-shot", "Few-shot", "Fine-tuned", "Baseline"]
    rows = {h: [line.split(" | ")[0].strip("| ") for line in s.splitlines() if line.startswith("| ") and
                not line.startswith("| model")] for h, s in zip(headings, sections[1:])}
    assert rows["Zero-shot"] == ["api-zero"] and rows["Few-shot"] == ["api-few"] and rows["Fine-tuned"] == ["tiny-vlm"]
    assert sorted(rows["Baseline"]) == ["retrieval", "template"]
    assert "Published reference rows" in board
    csv_rows = (out / "leaderboard.csv").read_text(encoding="utf-8").splitlines()
    assert csv_rows[0].endswith(",group") and any(r.startswith("report,measured,api-few,") and r.endswith(",few-shot")
                                                   for r in csv_rows)
    ids = {}
    for name in ("tiny-vlm", "api-few", "api-zero", "template", "retrieval"):
        records = [json.loads(x) for x in (out / "predictions" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
        ids[name] = sorted(r["id"] for r in records)
        if name == "api-zero":
            assert {r["prediction"] for r in records} == {ZERO_SHOT_REPLY}
    assert len(set(map(tuple, ids.values()))) == 1 and len(ids["api-few"]) >= 1
    # The few-shot row: two example turns, the study's MIP as a data URL, the key in the header only.
    few = [r for r in requests if len(r["body"]["messages"]) == 6]
    assert few and all(r["auth"] == f"Bearer {SECRET}" for r in requests)
    assert all(part["image_url"]["url"].startswith("data:image/png;base64,")
               for r in few for part in r["body"]["messages"][-1]["content"] if part["type"] == "image_url")
    usage = json.loads((out / "predictions" / "api-few.usage.json").read_text(encoding="utf-8"))
    assert usage["calls"] == len(ids["api-few"]) and usage["requests"] == len(few) and usage["estimated"] == 0
    assert usage["prompt_tokens"] > 0 and usage["failed"] == []
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["results"]) == {"tiny-vlm", "api-few", "api-zero", "template", "retrieval"}


def test_rerun_sends_no_request_and_the_key_is_in_no_file_or_log(kinds_run):
    folder, _, _, rerun_requests, lines, _ = kinds_run
    assert rerun_requests == []
    assert any("predict-api-few: cached" in line for line in lines)
    assert not any(SECRET in line for line in lines)
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    api = yaml.safe_load((folder / "run" / "models" / "api-few" / "api.yaml").read_text(encoding="utf-8"))
    assert api["api_key_env"] == KEY_ENV and api["k_shots"] == 2


def test_generate_and_the_workstation_take_an_api_model(kinds_run, tmp_path, monkeypatch):
    folder, _, _, _, _, server = kinds_run
    monkeypatch.setenv(KEY_ENV, SECRET)
    build = folder / "run" / "build"
    with ChatServer() as live:
        spec = write_api_config(tmp_path / "few.yaml", live.url, k_shots=1)
        out = tmp_path / "preds.jsonl"
        result = CliRunner().invoke(app, ["generate", f"api:{spec}", str(build), "--out", str(out), "--max-samples", "2"])
        assert result.exit_code == 0, result.output
        records = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert len(records) == 2 and all(r["task"] == "report" and r["model"] == "api-tiny-vi" for r in records)
        assert records[0]["prediction"] == live.requests[0]["body"]["messages"][2]["content"]
        bad = write_api_config(tmp_path / "bad.yaml", live.url + "/missing")
        result = CliRunner().invoke(app, ["generate", f"api:{bad}", str(build), "--out", str(tmp_path / "x.jsonl")])
        assert result.exit_code == 1 and result.output.count("\n") == 1 and "HTTP 404" in result.output

        from vipet.serve.drafting import Drafter
        from vipet.serve.sources import Catalog

        catalog = Catalog(build, tmp_path / "work")
        drafter = Drafter(f"api:{live.url}#tiny-vi", catalog)
        key = sorted(catalog.entries)[0]
        steps = []
        draft = drafter.draft(key, lambda fraction, message: steps.append(message))
        assert draft == live.requests[-1]["body"]["messages"][2]["content"] and drafter.tasks == ("report",)
        assert any("asking tiny-vi" in m for m in steps)


def test_kinds_are_validated(tmp_path):
    config = BenchConfig(models=[ModelEntry("x", "small_vlm.yaml", kind="hf")])
    with pytest.raises(BenchError, match="unknown model kind 'hf'; known: vlm, api"):
        validate_config(config)
    with pytest.raises(BenchError, match="unknown leaderboard group"):
        validate_config(BenchConfig(models=[ModelEntry("x", "small_vlm.yaml", group="one-shot")]))
    spec = write_api_config(tmp_path / "a.yaml", "http://127.0.0.1:9")
    with pytest.raises(BenchError, match="trains nothing"):
        validate_config(BenchConfig(models=[ModelEntry("v", "small_vlm.yaml"),
                                            ModelEntry("a", str(spec), kind="api", init_from="v")]))
    bench_file = tmp_path / "bench.yaml"
    bench_file.write_text(yaml.safe_dump({"models": [{"name": "a", "config": str(spec), "kind": "api", "group": "zero-shot"}],
                                          "baselines": ["template"], "leaderboard_groups": True}), encoding="utf-8")
    quick = resolve_config(bench_file, quick=True)
    assert quick.models[0].overrides == {}  # --quick's training overrides are not an api config's keys
    assert leaderboard_groups(quick) == {"a": "zero-shot", "template": "baseline"}


def test_ungrouped_leaderboard_keeps_its_bytes():
    cell = {"value": 0.5, "ci95": [0.25, 0.75]}
    metrics = {"results": {"m": {"report": {"clinical": {"scores": {"F1-T": cell}}, "nlg": {"scores": {"bleu_1": cell}}}},
                           "template": {"report": {"clinical": {"scores": {"F1-T": {"value": 0.1}}}}}}}
    plain = leaderboard_markdown(metrics)
    assert "####" not in plain and leaderboard_markdown(metrics, None) == plain
    assert leaderboard_csv(metrics, None) == leaderboard_csv(metrics)
    grouped = leaderboard_markdown(metrics, {"m": "few-shot", "template": "baseline"})
    table = plain.split("\n\n")[1]  # the one measured table, best first
    header = table.splitlines()[:2]
    assert grouped.split("\n\n")[1:5] == ["#### Few-shot", "\n".join(header + [table.splitlines()[2]]),
                                          "#### Baseline", "\n".join(header + [table.splitlines()[3]])]
