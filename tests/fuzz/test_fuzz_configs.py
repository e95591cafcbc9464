"""Bench, train and build configs on generated input (issue 19): a config is accepted or refused
with one `VipetError` line; never a TypeError or a late failure. Bench config errors of every kind
the issue found are refused before any step (no cohort, build or training) runs.
250 + 200 + 150 = 600 inputs.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from fuzzkit import count, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

import vipet.bench
from vipet.bench import BenchConfig, ModelEntry, configs_dir, resolve_config, run_bench, validate_config
from vipet.data.config import BuildConfig
from vipet.errors import BenchError, BuildError, TrainError, VipetError
from vipet.train.config import config_from_dict

ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**7), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["report", "vqa", "chest", "whole", "temporal", "kfold", "../../../X",
                                           "template", "small", "full", "default"]),
    st.lists(st.one_of(st.integers(-2, 600), st.text(max_size=6), st.sampled_from(["report", "chest", "vqa"])),
             max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
)


def _one_line_error(exc: VipetError) -> None:
    assert str(exc) and "\n" not in str(exc)


def _write_yaml(data) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="vipet-fuzz-")) / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@fuzz_settings(250)
@given(values=st.dictionaries(st.sampled_from([f.name for f in vipet.bench.dataclasses.fields(BenchConfig)] + ["bogus"]),
                              ANY_VALUE, max_size=4))
def test_a_bench_config_is_valid_or_refused_in_one_line(values):
    count("bench config")
    path = _write_yaml(values)
    try:
        validate_config(resolve_config(path))
    except BenchError as exc:
        _one_line_error(exc)


def _flat(mapping, prefix=""):
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


SMALL_VLM = yaml.safe_load((configs_dir() / "small_vlm.yaml").read_text(encoding="utf-8"))
TRAIN_KEYS = sorted(_flat(SMALL_VLM))


@fuzz_settings(200)
@given(changes=st.lists(st.tuples(st.sampled_from(TRAIN_KEYS + ["train.bogus", "stage"]), ANY_VALUE), max_size=3))
def test_a_train_config_is_valid_or_refused_in_one_line(changes):
    count("train config")
    values = copy.deepcopy(SMALL_VLM)
    for dotted, value in changes:
        node = values
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node.get(part), dict) else node.__setitem__(part, {}) or node[part]
        node[last] = value
    try:
        config_from_dict(values, "small_vlm.yaml")
    except TrainError as exc:
        _one_line_error(exc)


BUILD_KEYS = sorted(BuildConfig().to_json())


@fuzz_settings(150)
@given(values=st.dictionaries(st.sampled_from(BUILD_KEYS + ["bogus"]), ANY_VALUE, max_size=3))
def test_a_build_config_is_valid_or_refused_in_one_line(values):
    count("build config")
    try:
        BuildConfig.from_mapping(values, "build.yaml")
    except BuildError as exc:
        _one_line_error(exc)


# --- every kind of bench config error, refused before the first step -------------------------------

@pytest.fixture
def no_steps(monkeypatch):
    """A step reached means the config was not checked first: fail at once instead of running a bench."""
    def reached(*args, **kwargs):
        raise AssertionError("a bench step ran before the config was checked")

    for step in ("_cohort_step", "_build_step", "_train_step", "_predict_step"):
        monkeypatch.setattr(vipet.bench, step, reached)


BAD = {
    "unknown baseline": ({"baselines": ["template", "no-such-baseline"]}, "unknown baseline 'no-such-baseline'"),
    "unknown region": ({"regions": ["lungs"]}, "unknown region 'lungs'"),
    "too large target shape": ({"target_shape": [400, 512, 512]}, "target_shape [400, 512, 512]"),
    "unknown task": ({"tasks": ["report", "caption"]}, "unknown task 'caption'"),
    "zero workers": ({"workers": 0}, "workers must be an integer of at least 1, got 0"),
    "negative workers": ({"workers": -2}, "workers must be an integer of at least 1, got -2"),
    "duplicate model names": ({"models": [{"name": "m", "config": "small_vlm.yaml"},
                                          {"name": "m", "config": "small_vlm_vqa.yaml"}]}, "is used twice"),
    "path as model name": ({"models": [{"name": "../../../X", "config": "small_vlm.yaml"}]}, "not a plain file name"),
    "float cohort size": ({"cohort_n": 2.5}, "cohort_n: expected an integer, got 2.5"),
    "string seed": ({"seed": "zero"}, "seed: expected an integer, got 'zero'"),
    "unknown split": ({"split": "by-month"}, "unknown split 'by-month'"),
    "negative cohort": ({"cohort_n": -1}, "cohort_n must be an integer of at least 1"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_each_bench_config_error_is_refused_before_any_step_and_any_write(tmp_path, no_steps, kind):
    values, message = BAD[kind]
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    out = tmp_path / "run"
    with pytest.raises(BenchError) as refused:
        run_bench(resolve_config(path), out, log=lambda line: None)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert not out.exists()  # no run folder, no checkpoint, no prediction: nothing started
    assert not (tmp_path.parent / "X").exists()


def test_a_split_without_samples_of_a_region_is_refused_after_the_build_before_training(tmp_path, monkeypatch):
    """Feasibility from the manifest: no test sample of the requested region means nothing to score."""
    build = tmp_path / "run" / "build"
    build.mkdir(parents=True)
    trained: list[str] = []
    monkeypatch.setattr(vipet.bench, "_cohort_step", lambda config, out, steps: (tmp_path / "data", "hash"))
    monkeypatch.setattr(vipet.bench, "_build_step", lambda *a: (build, "sha", "key"))
    monkeypatch.setattr(vipet.bench, "_train_step", lambda *a: trained.append("train") or (_ for _ in ()).throw(
        AssertionError("training started")))
    rows = [{"split": "train", "region": "chest"}, {"split": "val", "region": "chest"},
            {"split": "train", "region": "head_neck"}, {"split": "test", "region": "head_neck"}]
    monkeypatch.setattr("vipet.data.manifest.read_manifest", lambda path: rows)
    config = BenchConfig(models=[ModelEntry("m", "small_vlm.yaml")], baselines=[], regions=["chest"])
    with pytest.raises(BenchError) as refused:
        run_bench(config, tmp_path / "run", log=lambda line: None)
    assert "no samples for test/chest" in str(refused.value) and "manifest.parquet" in str(refused.value)
    assert trained == [] and not (tmp_path / "run" / "models").exists()
