"""Exports for other training stacks: Hugging Face `datasets` parquet and LLaVA-style JSON.

Both point at the cached `.npy` volumes by path relative to the build folder rather than
embedding arrays: a region volume is 4 MB of float16, the text a few kB, and every framework
already has a way to load an array from a path. `datasets.load_dataset("parquet",
data_files={"train": "OUT/hf/report/train.parquet", ...})` loads the parquet files as they are.

Task and split names become file names only through `fsutil.safe_name`, and every write is checked
to lie inside the build folder (`root=out`).
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vipet.schema import WHOLE
from vipet.data.tasks import qa_pairs, report_prompt
from vipet.fsutil import atomic_write_bytes, atomic_write_json, safe_name

HF_DIR = "hf"
LLAVA_DIR = "llava"
HF_COLUMNS = ("sample_id", "study_key", "region", "split", "image_path", "image_shape", "task", "prompt",
              "question", "text", "impression", "lesions_json")


def task_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per report target and per question, across every manifest row with text."""
    records = []
    full_text = {r["study_key"]: r["report_text"] for r in rows if r["region"] == WHOLE}
    for row in rows:
        if not row["report_text"].strip():
            continue
        base = {k: row[k] for k in ("sample_id", "study_key", "region", "split", "image_path", "image_shape",
                                    "impression", "lesions_json")}
        records.append(base | {"task": "report", "prompt": report_prompt(row["region"]), "question": None,
                               "text": row["report_text"]})
        for n, qa in enumerate(qa_pairs(full_text.get(row["study_key"], row["report_text"]), row["region"])):
            records.append(base | {"sample_id": f"{row['sample_id']}:q{n}", "task": "vqa", "prompt": qa["question"],
                                   "question": qa["question"], "text": qa["answer"]})
    return records


def export_hf(rows: list[dict[str, Any]], out: str | Path) -> dict[str, Any]:
    """`OUT/hf/{report,vqa}/{split}.parquet`; returns {task: {split: count}}."""
    out = Path(out).resolve()
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in task_records(rows):
        grouped[(record["task"], record["split"])].append({k: record[k] for k in HF_COLUMNS})
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    schema = pa.schema([(c, pa.list_(pa.int32()) if c == "image_shape" else pa.string()) for c in HF_COLUMNS])
    for (task, split), records in sorted(grouped.items()):
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(records, schema=schema), buffer)
        atomic_write_bytes(out / HF_DIR / safe_name(task) / f"{safe_name(split)}.parquet", buffer.getvalue(), root=out)
        counts[task][split] = len(records)
    return {"folder": HF_DIR, "counts": dict(counts)}


def export_llava(rows: list[dict[str, Any]], out: str | Path) -> dict[str, Any]:
    """`OUT/llava/{split}.json`: LLaVA conversations, `image` = the 3-D volume path (M3D style)."""
    out = Path(out).resolve()
    by_split: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in task_records(rows):
        mip = Path(record["image_path"]).parent / "mip.png"
        entry = {
            "id": record["sample_id"],
            "image": record["image_path"],
            "image_2d": str(mip) if (out / mip).is_file() else None,
            "region": record["region"],
            "task": record["task"],
            "conversations": [
                {"from": "human", "value": f"<image>\n{record['prompt']}"},
                {"from": "gpt", "value": record["text"]},
            ],
        }
        by_split[record["split"]].append(entry)
    for split, entries in sorted(by_split.items()):
        atomic_write_json(out / LLAVA_DIR / f"{safe_name(split)}.json", entries, indent=1, root=out)
    return {"folder": LLAVA_DIR, "counts": {k: len(v) for k, v in sorted(by_split.items())}}

