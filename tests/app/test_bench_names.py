"""Bench model and baseline names become folders and files of the run: they must stay inside it
and name one row each (issue 20: `../../x` wrote and later removed a folder outside RUN; two
models with one name overwrote each other and every sample was scored twice)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import vipet.bench
from vipet.bench import BenchConfig, ModelEntry, Steps, _predict_step, _train_step, run_bench
from vipet.cli import app
from vipet.errors import BenchError, UnsafePathError


@pytest.fixture
def no_steps(monkeypatch):
    """Any step reached means the names were not checked first: fail at once instead of running a bench."""
    def reached(*args, **kwargs):
        raise AssertionError("a bench step ran before the model names were checked")

    monkeypatch.setattr(vipet.bench, "_cohort_step", reached)


@pytest.mark.parametrize("name", ["../../x", "../x", "/tmp/x", "a/b", ".hidden", "..", ".", "", "small vlm", "x\\y"])
def test_a_model_name_that_is_not_one_plain_file_name_is_refused_before_any_write(tmp_path, no_steps, name):
    out = tmp_path / "deep" / "run"
    config = BenchConfig(models=[ModelEntry(name, "small_vlm.yaml")])
    with pytest.raises(BenchError) as caught:
        run_bench(config, out, log=lambda line: None)
    assert str(caught.value) == (f"model name {name!r} is not a plain file name (letters, digits, '_', '.', '-'; "
                                 f"no leading dot, no '..')")
    assert "\n" not in str(caught.value)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written anywhere


def test_a_baseline_name_with_a_path_is_refused(tmp_path, no_steps):
    config = BenchConfig(models=[], baselines=["../../template"])
    with pytest.raises(BenchError, match=r"^baseline name '\.\./\.\./template' is not a plain file name"):
        run_bench(config, tmp_path / "run", log=lambda line: None)


def test_two_models_with_one_name_are_refused(tmp_path, no_steps):
    config = BenchConfig(models=[ModelEntry("vlm", "small_vlm.yaml"), ModelEntry("vlm", "small_vlm_vqa.yaml")])
    with pytest.raises(BenchError) as caught:
        run_bench(config, tmp_path / "run", log=lambda line: None)
    assert str(caught.value) == "model name 'vlm' is used twice (also a model); every row needs its own name"
    assert not (tmp_path / "run").exists()


def test_a_model_named_like_a_baseline_is_refused(tmp_path, no_steps):
    config = BenchConfig(models=[ModelEntry("retrieval", "small_vlm.yaml")], baselines=["template", "retrieval"])
    with pytest.raises(BenchError) as caught:
        run_bench(config, tmp_path / "run", log=lambda line: None)
    assert str(caught.value) == "baseline name 'retrieval' is used twice (also a model); every row needs its own name"


def test_a_baseline_listed_twice_is_refused(tmp_path, no_steps):
    config = BenchConfig(models=[], baselines=["template", "template"])
    with pytest.raises(BenchError, match=r"^baseline name 'template' is used twice \(also a baseline\)"):
        run_bench(config, tmp_path / "run", log=lambda line: None)


def test_plain_names_still_run(tmp_path, monkeypatch):
    """The shipped defaults and dotted/dashed names pass the check and reach the first step."""
    reached: list[str] = []

    def cohort(config, run, steps):
        reached.append("cohort")
        raise BenchError("stop here")

    monkeypatch.setattr(vipet.bench, "_cohort_step", cohort)
    config = BenchConfig(models=[ModelEntry("small-vlm_v1.2", "small_vlm.yaml")])
    with pytest.raises(BenchError, match="^stop here$"):
        run_bench(config, tmp_path / "run", log=lambda line: None)
    assert reached == ["cohort"]
    with pytest.raises(BenchError, match="^stop here$"):
        run_bench(BenchConfig(), tmp_path / "run2", log=lambda line: None)


def test_the_train_and_predict_steps_check_their_targets_themselves(tmp_path):
    """Even called without `check_names` (a caller that builds a config in code), the run folder of a
    model, its stale-run removal and its predictions file refuse a target outside RUN."""
    run, outside = tmp_path / "run", tmp_path / "x"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious", encoding="utf-8")
    steps = Steps(run, total=2, log=lambda line: None)
    with pytest.raises(UnsafePathError, match="model run folder '../../x' lies outside"):
        _train_step(ModelEntry("../../x", "small_vlm.yaml"), BenchConfig(), tmp_path / "build", "key", run, steps, None)
    with pytest.raises(UnsafePathError, match=r"predictions file '../../x.jsonl' lies outside"):
        _predict_step("../../x", "template", {}, BenchConfig(), tmp_path / "build", run, steps, ["report"])
    assert (outside / "keep.txt").read_text(encoding="utf-8") == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "x"]


def test_cli_bench_with_an_unsafe_model_name_is_one_line_and_exit_1(tmp_path, no_steps):
    config = tmp_path / "bench.yaml"
    config.write_text("models:\n  - name: ../../x\n    config: small_vlm.yaml\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["bench", "--config", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: model name '../../x' is not a plain file name (letters, digits, '_', '.', '-'; no leading dot, no '..')"]
    assert not (tmp_path / "run").exists()
