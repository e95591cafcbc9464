"""Leaderboards from a metrics JSON: one table per task, measured rows apart from published ones.

Published numbers of the ViMed-PET paper (DOMAIN.md) are reference rows: they were measured on
the real cohort with other tooling, so they are printed in their own table, marked as such,
and never sorted or ranked together with the rows this run measured.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

# (column title, section path inside results[model], score name)
REPORT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("BLEU-1", "report/nlg", "bleu_1"),
    ("BLEU-2", "report/nlg", "bleu_2"),
    ("BLEU-3", "report/nlg", "bleu_3"),
    ("BLEU-4", "report/nlg", "bleu_4"),
    ("ROUGE-L", "report/nlg", "rouge_l"),
    ("METEOR", "report/nlg", "meteor"),
    ("CIDEr-D", "report/nlg", "cider_d"),
    ("F1-T", "report/clinical", "F1-T"),
    ("F1-TP", "report/clinical", "F1-TP"),
    ("F1-TF", "report/clinical", "F1-TF"),
    ("F1-TPF", "report/clinical", "F1-TPF"),
    ("CRG-TPF", "report/clinical", "CRG-TPF"),
)
# Columns shown only when some measured row has a value (CRG is scored on request, `evaluate(crg=True)`),
# so a leaderboard of metrics without them keeps its bytes.
OPTIONAL_COLUMNS = frozenset({"CRG-TPF"})
VQA_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("closed acc.", "vqa/closed", "accuracy"),
    ("open BLEU-1", "vqa/open", "bleu_1"),
    ("open BLEU-4", "vqa/open", "bleu_4"),
    ("open ROUGE-L", "vqa/open", "rouge_l"),
    ("open METEOR", "vqa/open", "meteor"),
)
TASK_COLUMNS = {"report": REPORT_COLUMNS, "vqa": VQA_COLUMNS}
SORT_COLUMN = {"report": "F1-T", "vqa": "closed acc."}

# ViMed-PET paper (arXiv 2509.24739), real cohort; scale x100 as published. None: not published.
PUBLISHED_REPORT_ROWS: tuple[dict[str, Any], ...] = (
    {"model": "LLaVA-Med zero-shot (paper)", "BLEU-4": 0.01},
    {"model": "M3D zero-shot (paper)", "BLEU-4": 0.04},
    {"model": "RadFM zero-shot (paper)", "BLEU-4": 0.06},
    {"model": "GPT-4o few-shot (paper)", "F1-T": 24.21, "F1-TP": 13.62, "F1-TF": 20.57, "F1-TPF": 7.87},
    {"model": "best fine-tuned (paper, approx.)", "BLEU-4": 58.0, "F1-T": 51.0, "F1-TPF": 23.0},
)


@dataclass
class Cell:
    value: float | None
    ci95: tuple[float, float] | None = None

    def text(self, with_ci: bool = True) -> str:
        if self.value is None:
            return "–"
        if with_ci and self.ci95 is not None:
            return f"{self.value:.2f} [{self.ci95[0]:.2f}, {self.ci95[1]:.2f}]"
        return f"{self.value:.2f}"


def _lookup(model_results: dict[str, Any], section: str, score: str) -> Cell:
    node: Any = model_results
    for part in section.split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    scores = (node or {}).get("scores", {}) if isinstance(node, dict) else {}
    entry = scores.get(score)
    if not isinstance(entry, dict):
        return Cell(None)
    # `--bootstrap 0` stores intervals as [None, None], and an undefined score (no reference
    # lesions for CRG) as a None value: both are shown as absent, never as a number.
    value, ci = entry.get("value"), entry.get("ci95")
    interval = (float(ci[0]), float(ci[1])) if ci and None not in ci else None
    return Cell(None if value is None else float(value), interval)


def measured_table(metrics: dict[str, Any], task: str) -> list[dict[str, Any]]:
    """Rows {model, <column>: Cell} for every model that has samples of `task`, best first."""
    columns = TASK_COLUMNS[task]
    rows = []
    for model, model_results in sorted(metrics.get("results", {}).items()):
        if task not in model_results:
            continue
        row: dict[str, Any] = {"model": model}
        row.update({title: _lookup(model_results, section, score) for title, section, score in columns})
        rows.append(row)
    key = SORT_COLUMN[task]
    rows.sort(key=lambda r: (-(r[key].value if r[key].value is not None else float("-inf")), r["model"]))
    return rows


def published_table(task: str) -> list[dict[str, Any]]:
    """The paper's rows for `task` as Cells (no intervals were published)."""
    if task != "report":
        return []
    titles = [title for title, _, _ in REPORT_COLUMNS]
    return [{"model": r["model"], **{t: Cell(r.get(t)) for t in titles}} for r in PUBLISHED_REPORT_ROWS]


def _markdown(rows: list[dict[str, Any]], titles: list[str], with_ci: bool) -> str:
    lines = ["| model | " + " | ".join(titles) + " |", "|---|" + "---:|" * len(titles)]
    for row in rows:
        lines.append(f"| {row['model']} | " + " | ".join(row[t].text(with_ci) for t in titles) + " |")
    return "\n".join(lines)


@dataclass
class TaskTables:
    """One task's tables as every renderer shows them: measured rows, then the paper's rows apart."""

    label: str
    titles: list[str]
    measured: list[dict[str, Any]]
    published: list[dict[str, Any]]


def shown_titles(task: str, rows: list[dict[str, Any]]) -> list[str]:
    """The column titles of `task`, optional ones only when a measured row has a value there."""
    titles = [title for title, _, _ in TASK_COLUMNS[task]]
    return [t for t in titles if t not in OPTIONAL_COLUMNS or any(r[t].value is not None for r in rows)]


def task_tables(metrics: dict[str, Any]) -> list[TaskTables]:
    """The tasks that have measured rows, in display order (shared by markdown and HTML)."""
    tables = []
    for task in TASK_COLUMNS:
        rows = measured_table(metrics, task)
        if rows:
            label = "Report generation" if task == "report" else "Visual question answering"
            tables.append(TaskTables(label, shown_titles(task, rows), rows, published_table(task)))
    return tables


# The paper's grouping of rows (zero-shot, few-shot, fine-tuned), baselines after them; a row the
# caller did not place is "other", last.
GROUP_ORDER = ("zero-shot", "few-shot", "fine-tuned", "baseline", "other")


def grouped_rows(rows: list[dict[str, Any]], groups: dict[str, str]) -> list[tuple[str, list[dict[str, Any]]]]:
    """`rows` (best first) split by `groups[model]`, in `GROUP_ORDER`, each keeping its order; empty groups left out."""
    order = {name: i for i, name in enumerate(GROUP_ORDER)}
    names = sorted({groups.get(r["model"], "other") for r in rows}, key=lambda g: (order.get(g, len(order)), g))
    return [(g, [r for r in rows if groups.get(r["model"], "other") == g]) for g in names]


def leaderboard_markdown(metrics: dict[str, Any], groups: dict[str, str] | None = None) -> str:
    """All tasks: measured rows with 95% intervals, then the paper's reference rows in their own table.

    With `groups` (model -> zero-shot / few-shot / fine-tuned / baseline) the measured rows are
    shown as one table per group, as the paper groups them; without, one table (the default bytes).
    """
    parts = []
    for table in task_tables(metrics):
        heading = f"### {table.label} (measured in this run; value [95% bootstrap interval])"
        if groups is None:
            parts.append(heading + "\n\n" + _markdown(table.measured, table.titles, True))
        else:
            parts.append(heading)
            parts.extend(f"#### {group.capitalize()}\n\n" + _markdown(rows, table.titles, True)
                         for group, rows in grouped_rows(table.measured, groups))
        if table.published:
            parts.append(
                "### Published reference rows (ViMed-PET paper, real cohort; not measured here, not comparable "
                "to synthetic-cohort rows)\n\n" + _markdown(table.published, table.titles, False)
            )
    return "\n\n".join(parts) + "\n"


def leaderboard_csv(metrics: dict[str, Any], groups: dict[str, str] | None = None) -> str:
    """One long CSV: task, source (measured/published), model, metric, value, ci_low, ci_high
    (and, with `groups`, a last column `group`: the measured row's group, "published" for the paper's)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["task", "source", "model", "metric", "value", "ci_low", "ci_high"] + (["group"] if groups is not None else []))
    for task in TASK_COLUMNS:
        measured = measured_table(metrics, task)
        titles = shown_titles(task, measured)
        for source, rows in (("measured", measured), ("published", published_table(task))):
            for row in rows:
                for title in titles:
                    cell: Cell = row[title]
                    if cell.value is None:
                        continue
                    low, high = cell.ci95 if cell.ci95 else ("", "")
                    group = [] if groups is None else [groups.get(row["model"], "other") if source == "measured" else source]
                    writer.writerow([task, source, row["model"], title, f"{cell.value:.6f}",
                                     f"{low:.6f}" if low != "" else "", f"{high:.6f}" if high != "" else ""] + group)
    return buffer.getvalue()
