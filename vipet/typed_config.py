"""Typed configs from YAML/JSON mappings: the one loader for build, model, encoder, train and bench configs.

A typo in a config key must stop the run with the file and the key named, not silently fall back to a
default after an hour of work; so every mapping is checked against its dataclass fields and every value
against its annotated type (nested dataclasses, `X | None`, lists, tuples, dicts). A mapping changes only
the keys it names: a nested dataclass starts from the field's default value, so a partial mapping keeps
the rest of a non-trivial default.

A field declared with `field(metadata=INLINE)` holds a nested dataclass whose keys are written at the
parent's level (the training `ModelConfig` holds a `VLMConfig` this way, so a YAML file reads
`model: {lm: ..., encoder: ...}` rather than `model: {vlm: {lm: ...}}`); `to_mapping` writes it back the
same way, so a dumped config loads again.

This module sits at the bottom of the layers, so it raises the error type its caller passes (each layer
has its own, in `vipet.errors`): `error(reason, source)`.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")
ErrorType = Callable[[str, "str | Path | None"], Exception]
INLINE = {"inline": True}


class _Bad(Exception):
    """A value does not fit its field; `reason` names the dotted key."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def load_yaml(path: str | Path, *, error: ErrorType, what: str = "config") -> dict[str, Any]:
    """The mapping in a YAML (or JSON) file; a missing file, bad syntax or a non-mapping is one line."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} file not found", path) from None
    except OSError as exc:
        raise error(f"cannot read {what} file ({exc.__class__.__name__}: {exc})", path) from None
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise error(f"not valid {kind} ({str(exc).splitlines()[0]})", path) from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise error(f"a {what} must be a mapping of keys to values, got {type(values).__name__}", path)
    return values


def from_mapping(cls: type[T], mapping: Mapping[str, Any] | None, source: str | Path | None = None, *,
                 error: ErrorType, where: str = "", base: T | None = None) -> T:
    """`cls` built from `mapping`, every key known and every value of its annotated type.

    `base` (an instance of `cls`) supplies the values of keys the mapping leaves out; without it they
    are the class defaults. `where` prefixes key names in messages (e.g. "model.encoder"). An error
    with a `reason` raised by the class itself (a `VipetError` from its `__post_init__` checks) is
    reported the same way: one line, prefixed by where it sits, with `source` named.
    """
    try:
        return _build(cls, dict(mapping or {}), where, base)
    except _Bad as exc:
        raise error(exc.reason, source) from None


def to_mapping(value: Any) -> Any:
    """Plain dicts and lists (tuples become lists) for YAML/JSON; inline fields written at the parent's level."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = to_mapping(getattr(value, f.name))
            if f.metadata.get("inline"):
                out.update(item)
            else:
                out[f.name] = item
        return out
    if isinstance(value, (list, tuple)):
        return [to_mapping(v) for v in value]
    if isinstance(value, dict):
        return {k: to_mapping(v) for k, v in value.items()}
    return value


def known_keys(cls: type) -> list[str]:
    """The keys a mapping for `cls` may hold (inline fields contribute theirs), in field order."""
    keys: list[str] = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("inline"):
            keys += known_keys(_hints(cls)[f.name])
        elif f.init:
            keys.append(f.name)
    return keys


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _dotted(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _build(cls: type, values: dict[str, Any], where: str, base: Any = None) -> Any:
    hints = _hints(cls)
    allowed = known_keys(cls)
    unknown = [k for k in values if k not in allowed]
    if unknown:
        names = ", ".join(_dotted(where, str(k)) for k in unknown)
        raise _Bad(f"unknown key(s) {names}; known: {', '.join(allowed)}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        start = getattr(base, f.name) if base is not None else _default(f)
        if f.metadata.get("inline"):
            inner = {k: values[k] for k in known_keys(hints[f.name]) if k in values}
            if inner or start is dataclasses.MISSING:
                kwargs[f.name] = _build(hints[f.name], inner, where, None if start is dataclasses.MISSING else start)
            continue
        if f.name in values:
            kwargs[f.name] = _convert(values[f.name], hints[f.name], _dotted(where, f.name), start)
        elif base is not None:
            kwargs[f.name] = start
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field left out
        raise _Bad(f"{where or cls.__name__}: {exc}") from None
    except Exception as exc:  # the class's own checks (`__post_init__`), reported with the key's place
        reason = getattr(exc, "reason", None)
        if reason is None or getattr(exc, "path", None) is not None:
            raise
        raise _Bad(f"{where}: {reason}" if where else reason) from None


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _convert(value: Any, annotation: Any, where: str, start: Any = None) -> Any:
    """Check/convert one value against a type annotation; `where` names it in errors."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        reasons = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, where, start)
            except _Bad as exc:
                reasons.append(exc.reason)
        raise _Bad(reasons[-1] if reasons else f"{where}: bad value {value!r}")
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, Mapping):
            raise _Bad(f"{where}: expected a mapping, got {type(value).__name__}")
        return _build(annotation, dict(value), where, start if isinstance(start, annotation) else None)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Bad(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(annotation)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise _Bad(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or annotation is dict:
        if not isinstance(value, Mapping):
            raise _Bad(f"{where}: expected a mapping, got {value!r}")
        args = typing.get_args(annotation)
        item = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, item, f"{where}.{k}") for k, v in value.items()}
    if annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise _Bad(f"{where}: expected true/false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Bad(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise _Bad(f"{where}: expected text, got {value!r}")
        return value
    raise _Bad(f"{where}: unsupported config type {annotation!r}")
