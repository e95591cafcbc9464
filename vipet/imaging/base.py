"""What every transform in `vipet.imaging` shares: its parameters are data.

A transform is a frozen dataclass whose fields are all of its parameters and whose `__call__`
does one thing (the MONAI idea). `describe()` turns it into a JSON-ready dict, so a build can
write exactly what was applied into each cache sidecar and a later run can tell whether a cached
study was made with the same recipe.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def describe(transform: Any) -> dict[str, Any]:
    """`{"name": ClassName, **fields}` of a dataclass transform, with tuples as lists (JSON)."""
    if not dataclasses.is_dataclass(transform):
        raise TypeError(f"{type(transform).__name__} is not a dataclass transform")
    params = {f.name: _jsonable(getattr(transform, f.name)) for f in dataclasses.fields(transform)}
    return {"name": type(transform).__name__, **params}


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return describe(value)
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value
