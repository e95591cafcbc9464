"""The spread that training itself adds: one model trained with several seeds, scored on one test set.

The bootstrap interval of a score covers test-sample noise only; retraining with another seed moves
the score too. `seed_spread` puts the two side by side per model and metric: the value of every
seed, their mean and range, and the bootstrap interval of the main run (the bench's `seed`).
"""

from __future__ import annotations

from typing import Any


def seed_model_name(name: str, seed: int) -> str:
    """The row name of `name` retrained with `seed` (one plain file name: letters, digits, '.', '-')."""
    return f"{name}.seed{seed}"


def metric_values(metrics: dict[str, Any], model: str) -> dict[str, dict[str, Any]]:
    """"task/family/score" -> {"value", "ci95"} of one model in a metrics JSON (per-type scores left out)."""
    out = {}
    for task, families in sorted((metrics.get("results", {}).get(model) or {}).items()):
        if not isinstance(families, dict):
            continue
        for family, block in sorted(families.items()):
            scores = block.get("scores") if isinstance(block, dict) else None
            for name, entry in sorted((scores or {}).items()):
                if "[" in name or not isinstance(entry, dict) or not isinstance(entry.get("value"), (int, float)):
                    continue
                out[f"{task}/{family}/{name}"] = {"value": float(entry["value"]), "ci95": entry.get("ci95")}
    return out


def seed_spread(main: dict[str, Any], main_seed: int, by_seed: dict[int, dict[str, Any]], models: list[str]) -> dict[str, Any]:
    """model -> metric -> {"values": {seed: value}, "mean", "min", "max", "ci95"}.

    `main` is the run's metrics (models under their own names, trained with `main_seed`); `by_seed`
    holds the metrics of each other seed, with the models named `seed_model_name(model, seed)`.
    """
    out: dict[str, Any] = {}
    for model in models:
        base = metric_values(main, model)
        others = {seed: metric_values(metrics, seed_model_name(model, seed)) for seed, metrics in sorted(by_seed.items())}
        rows = {}
        for path, entry in base.items():
            values = {str(main_seed): entry["value"]}
            values.update({str(seed): found[path]["value"] for seed, found in others.items() if path in found})
            numbers = list(values.values())
            rows[path] = {"values": values, "mean": round(sum(numbers) / len(numbers), 6), "min": min(numbers),
                          "max": max(numbers), "ci95": entry["ci95"]}
        out[model] = rows
    return out


def spread_table(spread: dict[str, Any]) -> list[list[str]]:
    """Header row + one row per (model, metric): mean, range over seeds, bootstrap 95% interval of the main run."""
    rows = [["model", "metric", "seeds", "mean", "range (min - max)", "bootstrap 95% CI (main seed)"]]
    for model, metrics in spread.items():
        for path, row in metrics.items():
            ci = row["ci95"]
            rows.append([model, path, str(len(row["values"])), f"{row['mean']:.2f}", f"{row['min']:.2f} - {row['max']:.2f}",
                         f"{ci[0]:.2f} - {ci[1]:.2f}" if ci else "–"])
    return rows
