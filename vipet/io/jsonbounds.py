"""JSON parsing with a nesting bound, for every JSON file a user hands to vipet.

`json.loads` recurses once per nesting level, so a file of 100,000 `[` raises RecursionError (a
traceback, not an error message). No vipet input nests deeper than a few levels; anything deeper
than MAX_JSON_DEPTH is refused as `json.JSONDecodeError`, so every caller's existing "not valid
JSON" handling reports it on one line, naming the file.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

MAX_JSON_DEPTH = 64
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: str) -> tuple[int, int]:
    """(deepest nesting of arrays/objects, character offset where it is reached), strings ignored;
    linear in the text length (one vectorised pass)."""
    skeleton = _STRING.sub('""', text)
    codes = np.frombuffer(skeleton.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    steps = np.zeros(codes.shape, dtype=np.int64)
    steps[(codes == ord("[")) | (codes == ord("{"))] = 1
    steps[(codes == ord("]")) | (codes == ord("}"))] = -1
    if not steps.size:
        return 0, 0
    depth = np.cumsum(steps)
    deepest = int(np.argmax(depth))
    return int(depth[deepest]), deepest


def loads_bounded(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads(text)`, refusing nesting deeper than `max_depth` before parsing."""
    depth, where = json_depth(text)
    if depth > max_depth:
        raise json.JSONDecodeError(f"nested {depth} levels deep, more than the {max_depth} allowed", text, 0)
    try:
        return json.loads(text)
    except RecursionError:  # cannot happen below the bound; kept so no input ever gives a traceback
        raise json.JSONDecodeError(f"nested too deeply to parse (about {depth} levels)", text, where) from None
