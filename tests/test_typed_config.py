"""The one config loader: typed values, partial mappings over defaults, inline fields, one-line errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from vipet.errors import BenchError, BuildError, TrainError
from vipet.typed_config import INLINE, from_mapping, known_keys, load_yaml, to_mapping


@dataclass
class Inner:
    size: tuple[int, int] = (1, 2)
    name: str = "a"


@dataclass
class Entry:
    name: str
    options: dict[str, float] = field(default_factory=dict)


@dataclass
class Outer:
    inner: Inner = field(default_factory=lambda: Inner(name="custom"))
    entries: list[Entry] = field(default_factory=list)
    limit: int | None = None
    flat: Inner = field(default_factory=Inner, metadata=INLINE)
    rate: float = 0.5


def test_values_are_typed_and_partial_mappings_keep_the_field_default():
    outer = from_mapping(Outer, {"inner": {"size": [3, 4]}, "entries": [{"name": "x", "options": {"lr": 1}}],
                                 "limit": None, "rate": 2}, error=TrainError)
    assert outer.inner == Inner(size=(3, 4), name="custom")  # name from the field's default, not the class's
    assert outer.entries == [Entry("x", {"lr": 1.0})] and isinstance(outer.entries[0].options["lr"], float)
    assert outer.rate == 2.0 and isinstance(outer.rate, float) and outer.limit is None


def test_inline_fields_read_and_write_at_the_parent_level():
    outer = from_mapping(Outer, {"size": [5, 6], "name": "b"}, error=TrainError)
    assert outer.flat == Inner((5, 6), "b")
    assert known_keys(Outer) == ["inner", "entries", "limit", "size", "name", "rate"]
    assert to_mapping(outer) == {"inner": {"size": [1, 2], "name": "custom"}, "entries": [], "limit": None,
                                 "size": [5, 6], "name": "b", "rate": 0.5}
    assert from_mapping(Outer, to_mapping(outer), error=TrainError) == outer


@pytest.mark.parametrize("values,message", [
    ({"inner": {"sise": [1, 2]}}, r"^f\.yaml: unknown key\(s\) inner\.sise; known: size, name$"),
    ({"rat": 1}, r"^f\.yaml: unknown key\(s\) rat; known: inner, entries, limit, size, name, rate$"),
    ({"inner": {"size": [1]}}, r"^f\.yaml: inner\.size: expected 2 values, got 1$"),
    ({"limit": "ten"}, r"^f\.yaml: limit: expected an integer, got 'ten'$"),
    ({"limit": True}, r"limit: expected an integer, got True"),
    ({"entries": [{"options": {}}]}, r"entries\[0\]: .*missing 1 required positional argument: 'name'"),
    ({"entries": [{"name": "x", "options": {"lr": "high"}}]}, r"entries\[0\]\.options\.lr: expected a number"),
    ({"inner": 3}, r"inner: expected a mapping, got int"),
])
def test_bad_values_are_one_line_naming_key_and_file(values, message):
    with pytest.raises(BenchError, match=message) as info:
        from_mapping(Outer, values, "f.yaml", error=BenchError)
    assert "\n" not in str(info.value)


def test_the_class_checks_are_reported_with_the_key_and_the_callers_error():
    from vipet.data.config import BuildConfig

    with pytest.raises(BuildError, match=r"^b\.json: whole grid must be one of"):
        BuildConfig.from_mapping({"whole_grid": "mri"}, "b.json")
    config = BuildConfig(target_shape=(8, 16, 16), ct_windows=("wide", "lung"))
    assert BuildConfig.from_mapping(config.to_json()) == config
    assert BuildConfig().target_shape == (32, 64, 64)  # the shipped encoders' input_size
    with pytest.raises(BuildError, match=r"unknown key\(s\) target; known: target_shape, whole_grid"):
        BuildConfig.from_mapping({"target": [1, 2, 3]})


def test_the_bench_config_loads_through_the_same_function():
    from vipet.bench import BenchConfig, ModelEntry

    config = from_mapping(BenchConfig, {"target_shape": [16, 32, 32], "models": [
        {"name": "m", "config": "small_vlm.yaml", "overrides": {"train.max_steps": 3}}]}, error=BenchError)
    assert config.target_shape == (16, 32, 32)
    assert config.models == [ModelEntry("m", "small_vlm.yaml", {"train.max_steps": 3})]
    with pytest.raises(BenchError, match=r"^unknown key\(s\) models\[0\]\.init; known: name, config, overrides, init_from, kind, group, encoder_from$"):
        from_mapping(BenchConfig, {"models": [{"name": "m", "config": "c", "init": "x"}]}, error=BenchError)


def test_load_yaml_names_the_file(tmp_path):
    with pytest.raises(TrainError, match="config file not found"):
        load_yaml(tmp_path / "absent.yaml", error=TrainError)
    bad = tmp_path / "bad.json"
    bad.write_text("{1", encoding="utf-8")
    with pytest.raises(TrainError, match=r"bad\.json: not valid JSON"):
        load_yaml(bad, error=TrainError)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(TrainError, match="must be a mapping of keys to values, got list"):
        load_yaml(listed, error=TrainError)
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    assert load_yaml(tmp_path / "empty.yaml", error=TrainError) == {}
