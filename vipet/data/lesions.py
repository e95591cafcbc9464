"""Structured findings per sample: planted truth for synthetic studies, extracted lesions otherwise.

Synthetic studies come with the exact lesions that were planted (truth.jsonl), including their
voxel centre in the stored CT; carrying that centre through the orientation flip and onto the
cache grid and each sample's volume gives every manifest row the voxel where its lesions are,
which is how tests prove regions and PET/CT alignment are right. Real studies only have text, so
the report toolkit's extractor turns each sample's text into lesions in the expert format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vipet.schema import SAMPLE_REGIONS, WHOLE
from vipet.errors import BuildError
from vipet.imaging.resample import Grid, map_point
from vipet.imaging.resize import Box
from vipet.reports.extract import extract_lesions

TRUTH_FILE = "truth.jsonl"


def load_truth(root: str | Path) -> dict[str, dict[str, Any]]:
    """key -> truth entry from `root/truth.jsonl` (synthetic cohorts); empty when there is none."""
    path = Path(root) / TRUTH_FILE
    if not path.is_file():
        return {}
    out = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                out[str(entry["key"])] = entry
            except (ValueError, KeyError, TypeError) as exc:
                raise BuildError(f"line {number}: not a truth record ({exc.__class__.__name__}: {exc})", path) from None
    return out


def box_voxel(grid_index: np.ndarray, box: Box, out_shape: tuple[int, int, int]) -> list[float]:
    """Where a grid voxel centre lands in a sample volume cut by `box` and resized to `out_shape`."""
    return [round(float((g + 0.5 - b0) * n / (b1 - b0) - 0.5), 3)
            for g, (b0, b1), n in zip(grid_index, box, out_shape)]


def sample_lesions(
    truth: dict[str, Any] | None,
    texts: dict[str, str],
    boxes: dict[str, Box],
    out_shape: tuple[int, int, int],
    grid: Grid,
    ct_grid: Grid,
    *,
    flipped: bool,
    ct_depth: int,
) -> dict[str, list[dict[str, Any]]]:
    """sample name -> lesion dicts (JSON-ready) for the whole body and each region."""
    if truth is not None:
        return _truth_lesions(truth, boxes, out_shape, grid, ct_grid, flipped, ct_depth)
    return {name: extract_from_text(texts.get(name, "")) for name in SAMPLE_REGIONS}


def _truth_lesions(truth, boxes, out_shape, grid, ct_grid, flipped, ct_depth):
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in SAMPLE_REGIONS}

    def to_grid(stored_index: list[float]) -> np.ndarray:
        """A stored-CT index -> the head-first cache grid."""
        z, y, x = (float(c) for c in stored_index)
        return map_point(grid, ct_grid, (ct_depth - 1 - z if flipped else z, y, x))

    for lesion in truth.get("lesions", []):
        record = {k: v for k, v in lesion.items() if k != "expert"}
        record["expert"] = lesion.get("expert")
        record["source"] = "truth"
        centre = lesion.get("center_ct_index")
        grid_index = None
        if centre is not None:
            grid_index = to_grid(centre)
            record["center_grid_index"] = [round(float(c), 3) for c in grid_index]
        members = [to_grid(m["center_ct_index"]) for m in lesion.get("members") or [] if m.get("center_ct_index")]
        for name in SAMPLE_REGIONS:
            if name != WHOLE and lesion.get("region") != name:
                continue
            entry = dict(record)
            if grid_index is not None:
                voxel = box_voxel(grid_index, boxes[name], out_shape)
                entry["center_voxel"] = voxel
                entry["inside"] = _inside(voxel, out_shape)
            if members:  # multi-site findings (both axillae, several nodes): every site must be in view
                entry["members_inside"] = all(_inside(box_voxel(m, boxes[name], out_shape), out_shape) for m in members)
            out[name].append(entry)
    return out


def _inside(voxel: list[float], shape: tuple[int, int, int]) -> bool:
    return all(-0.5 <= v <= n - 0.5 for v, n in zip(voxel, shape))


def extract_from_text(text: str) -> list[dict[str, Any]]:
    """Lesions the report toolkit extracts from `text`, in the expert format; [] without text."""
    if not text.strip():
        return []
    return [{"expert": lesion.to_expert(), "source": "extracted"} for lesion in extract_lesions(text, scope="all")]
