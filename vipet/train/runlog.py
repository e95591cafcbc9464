"""Run logs: a long-format CSV (`step,split,name,value`) plus TensorBoard, and the curve PNG.

Long format because the set of logged values differs between stages and grows with the
evaluation suite; a reader pivots it. On resume, rows logged after the checkpoint (by the run
that was killed) are dropped so the file describes exactly one history.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

METRICS_CSV = "metrics.csv"
CSV_FIELDS = ("step", "split", "name", "value")


class RunLogger:
    def __init__(self, run_dir: str | Path, resume_step: int = 0, enabled: bool = True):
        self.enabled = enabled
        self.path = Path(run_dir) / METRICS_CSV
        self.writer = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_metrics(self.path) if int(r["step"]) <= resume_step] if resume_step else []
        with self.path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows({k: row[k] for k in CSV_FIELDS} for row in kept)
        from torch.utils.tensorboard import SummaryWriter  # tensorboard is a dependency: never dropped quietly

        self.writer = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=resume_step + 1 if resume_step else None)

    def log(self, step: int, split: str, values: dict[str, Any]) -> None:
        if not self.enabled or not values:
            return
        rows = [(name, float(v)) for name, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            for name, value in rows:
                writer.writerow([step, split, name, repr(value)])
        if self.writer is not None:
            for name, value in rows:
                if math.isfinite(value):
                    self.writer.add_scalar(f"{split}/{name}", value, step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [{**row, "step": int(row["step"]), "value": float(row["value"])} for row in csv.DictReader(handle)]


def plot_training_curves(run_dir: str | Path, out_png: str | Path | None = None, val_metrics: tuple[str, ...] = ()) -> Path:
    """Training loss (and chosen validation metrics on a second axis) against optimizer steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(Path(run_dir) / METRICS_CSV)
    out_png = Path(out_png) if out_png else Path(run_dir) / "training_curve.png"
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for name, style, colour in (("loss", "-", "C0"), ("lm_loss", "--", "C1"), ("aux_loss", ":", "C2")):
        points = sorted((r["step"], r["value"]) for r in rows if r["split"] == "train" and r["name"] == name)
        if points:
            ax.plot(*zip(*points), style, color=colour, label=f"train {name}")
    val_loss = sorted((r["step"], r["value"]) for r in rows if r["split"] == "val" and r["name"] == "loss")
    if val_loss:
        ax.plot(*zip(*val_loss), "o-", color="C3", label="val loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if val_metrics:
        ax2 = ax.twinx()
        for number, name in enumerate(val_metrics):
            points = sorted((r["step"], r["value"]) for r in rows if r["split"] == "val" and r["name"] == name)
            if points:
                ax2.plot(*zip(*points), "s-", color=f"C{4 + number}", alpha=0.8, label=f"val {name}")
        ax2.set_ylabel("validation score")
        more_h, more_l = ax2.get_legend_handles_labels()
        handles, labels = handles + more_h, labels + more_l
    ax.legend(handles, labels, fontsize=8, loc="upper right")
    ax.set_title(Path(run_dir).name)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png)
    plt.close(fig)
    return out_png
