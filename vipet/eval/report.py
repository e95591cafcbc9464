"""Metrics JSON on disk and as a terminal table.

The JSON is written atomically with sorted keys and every float rounded to a fixed number of
decimals (NaN/inf -> null), so rerunning an evaluation gives a byte-identical file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from vipet.errors import EvalError
from vipet.fsutil import atomic_write_text

FLOAT_DECIMALS = 6


def rounded(obj: Any, decimals: int = FLOAT_DECIMALS) -> Any:
    """A copy with floats rounded (and non-finite floats as None), tuples as lists."""
    if isinstance(obj, float):
        return round(obj, decimals) + 0.0 if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): rounded(v, decimals) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v, decimals) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return rounded(obj.item(), decimals)
    return obj


def metrics_json_text(metrics: dict[str, Any]) -> str:
    """The canonical text of a metrics JSON (sorted keys, rounded floats, UTF-8 kept)."""
    return json.dumps(rounded(metrics), ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_metrics(metrics: dict[str, Any], path: str | Path) -> Path:
    """Write the metrics JSON atomically; an unwritable target (a folder, no permission) is an
    `EvalError` naming it, so the CLI prints one line instead of a traceback after all the scoring."""
    text = metrics_json_text(metrics)
    if Path(path).is_dir():
        raise EvalError("metrics output is a folder; give a file path", path)
    try:
        return atomic_write_text(path, text)
    except (FileExistsError, NotADirectoryError):  # mkdir of the parents ran into a file
        raise EvalError("cannot write metrics: a parent of this path is a file", path) from None
    except OSError as exc:
        raise EvalError(f"cannot write metrics ({exc.strerror or exc})", path) from None


def _fmt(value: Any, decimals: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{decimals}f}" if isinstance(value, (int, float)) else str(value)


def _ci(ci: Any, decimals: int = 2) -> str:
    if not ci or ci[0] is None:
        return ""
    return f"[{ci[0]:.{decimals}f}, {ci[1]:.{decimals}f}]"


def _decimals(metrics: dict[str, Any], section: str) -> int:
    """4 decimals for scores on pycocoevalcap's native 0-1 scale, 2 for percentages."""
    return 4 if metrics["profile"].get("name") == "coco" and not section.startswith(("report/clinical", "vqa/closed")) else 2


def score_rows(metrics: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(model, section, metric, value, ci) rows of an evaluation or (model, section, metric, delta, ci / p) of a comparison."""
    rows = []
    if "comparison" in metrics:
        for task, parts in metrics["comparison"].items():
            for part, section in parts.items():
                d = _decimals(metrics, f"{task}/{part}")
                for name, s in section["scores"].items():
                    p = "" if s["p_value"] is None else f"p={s['p_value']:.3f}"
                    delta = f"{_fmt(s['a'], d)} − {_fmt(s['b'], d)} = {_fmt(s['delta'], d)}"
                    rows.append(("A − B", f"{task}/{part}", name, delta, f"{_ci(s['ci95'], d)} {p}".strip()))
        return rows
    for model, tasks in metrics["results"].items():
        for task, parts in tasks.items():
            for part, section in parts.items():
                d = _decimals(metrics, f"{task}/{part}")
                n = section.get("n", section.get("n_patients", ""))
                for name, s in section["scores"].items():
                    rows.append((model, f"{task}/{part} (n={n})", name, _fmt(s["value"], d), _ci(s["ci95"], d)))
    return rows


def print_table(metrics: dict[str, Any]) -> None:
    """A rich table of every score with its 95% interval."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    comparison = "comparison" in metrics
    table = Table(title=f"vipet evaluate — profile {metrics['profile'].get('name', '')}")
    for column in ("model", "section", "metric", "A − B" if comparison else "value", "95% CI"):
        table.add_column(column, justify="right" if column in ("value", "A − B", "95% CI") else "left", no_wrap=True)
    for row in score_rows(metrics):
        table.add_row(*(escape(cell) for cell in row))
    console = Console()
    console.width = max(console.width, 110)  # never truncate a score or an interval
    console.print(table)
