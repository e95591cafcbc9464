"""Synthetic-cohort throughput (studies/second) for `small` and `full`, beside named references.

Timed, in this process:
- small, in memory: `generate_study` for --n-small studies, one process;
- small, on disk: `write_cohort` of --n-small ViMed-PET studies with --workers processes (the
  issue's target: 100 small studies well under a minute on 2 cores);
- full, in memory: `generate_study` for --n-full studies (real proportions, 512/256, ~300 slices).
References, side by side:
- naive per-voxel loop: the liver solid painted voxel by voxel in Python, against `shapes.paint`
  (which evaluates the same solid with numpy on its bounding box);
- whole-grid numpy: every organ solid evaluated on the full CT grid (vectorised, but without the
  bounding-box restriction), against `phantom.label_volume`;
- small vs full: the ratio of studies/second between the two sizes.

    .venv/bin/python benchmarks/synth_speed.py [--n-small 100] [--n-full 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vipet.synth import generate_study, write_cohort  # noqa: E402
from vipet.synth.anatomy import sample_body  # noqa: E402
from vipet.synth.phantom import label_volume  # noqa: E402
from vipet.synth.scanner import SIZES, grids  # noqa: E402
from vipet.synth.shapes import paint  # noqa: E402
from vipet.synth.writer import write_study  # noqa: E402


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def paint_per_voxel(labels: np.ndarray, grid, center, semi, value: int, only_on, power: float) -> None:
    """The naive reference: test every voxel of the bounding box in a Python loop."""
    lo = [max(int((c - s) / sp - 0.5), 0) for c, s, sp in zip(center, semi, grid.spacing)]
    hi = [min(int((c + s) / sp - 0.5) + 2, n) for c, s, sp, n in zip(center, semi, grid.spacing, grid.shape)]
    for i in range(lo[0], hi[0]):
        for j in range(lo[1], hi[1]):
            for k in range(lo[2], hi[2]):
                pos = ((i + 0.5) * grid.spacing[0], (j + 0.5) * grid.spacing[1], (k + 0.5) * grid.spacing[2])
                dz, dy, dx = ((p - c) / s for p, c, s in zip(pos, center, semi))
                r = abs(dz) ** power + (dy * dy + dx * dx) ** (power / 2)  # the solid's rule (shapes.norm_field)
                if r <= 1.0 and labels[i, j, k] in only_on:
                    labels[i, j, k] = value


def label_volume_whole_grid(body, grid) -> np.ndarray:
    """The un-boxed reference: the profile as in label_volume, then every solid on the whole grid."""
    from vipet.synth import phantom

    labels = np.zeros(grid.shape, dtype=np.uint8)
    phantom._paint_outline(labels, body, grid)
    phantom._paint_spine(labels, body, grid)
    phantom._paint_ribs_and_sternum(labels, body, grid)
    phantom._paint_femurs(labels, body, grid)
    z, y, x = (grid.centres(a) for a in range(3))
    for solid in body.solids:
        dz = (z[:, None, None] - solid.center[0]) / solid.semi[0]
        dy = (y[None, :, None] - solid.center[1]) / solid.semi[1]
        dx = (x[None, None, :] - solid.center[2]) / solid.semi[2]
        radial = dy * dy + dx * dx
        inside = (np.abs(dz) ** solid.power + radial ** (solid.power / 2)) <= 1.0
        if solid.only_on is not None:
            inside &= np.isin(labels, solid.only_on)
        labels[inside] = solid.label
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-small", type=int, default=100)
    parser.add_argument("--n-full", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    generate_study(0, 0, "small")  # imports and first-call costs out of the timings
    t_small, _ = _timed(lambda: [generate_study(i, 0, "small") for i in range(args.n_small)])
    tmp = Path(tempfile.mkdtemp(prefix="synth_bench_"))
    try:
        t_disk, _ = _timed(lambda: write_cohort(tmp / "c", n=args.n_small, seed=0, format="vimed", size="small",
                                                workers=args.workers, progress=False))
        disk_mb = sum(p.stat().st_size for p in (tmp / "c").rglob("*") if p.is_file()) / 1e6
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t_full, _ = _timed(lambda: [generate_study(i, 0, "full") for i in range(args.n_full)])
    made = [generate_study(i, 0, "small") for i in range(10)]
    tmp = Path(tempfile.mkdtemp(prefix="synth_bench_"))
    try:
        t_write, _ = _timed(lambda: [write_study(s, t, tmp, "vimed") for s, t in made])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    body = sample_body(np.random.default_rng(0), "M", 1.70, 70.0)
    ct_small, _ = grids(body, SIZES["small"])
    ct_full, _ = grids(body, SIZES["full"])
    base = label_volume(body, ct_small)
    liver = body.solid("liver")
    fast_labels, slow_labels = base.copy(), base.copy()
    for labels in (fast_labels, slow_labels):  # clear the liver so both painters do the same work
        labels[labels == 8] = 20
    t_vec, _ = _timed(lambda: [paint(fast_labels, ct_small, liver.center, liver.semi, 8, liver.power, liver.only_on)
                               for _ in range(20)])
    t_loop, _ = _timed(lambda: paint_per_voxel(slow_labels, ct_small, liver.center, liver.semi, 8, liver.only_on,
                                                            liver.power))
    agree = float((fast_labels == slow_labels).mean())
    t_box, boxed = _timed(lambda: label_volume(body, ct_full))
    t_whole, whole = _timed(lambda: label_volume_whole_grid(body, ct_full))

    rows = [
        ("small, generate_study (1 process)", args.n_small / t_small, f"{t_small:.1f} s for {args.n_small}"),
        (f"small, write_cohort vimed ({args.workers} workers)", args.n_small / t_disk,
         f"{t_disk:.1f} s for {args.n_small}, {disk_mb:.0f} MB"),
        ("small, ViMed-PET files only (1 process)", len(made) / t_write,
         f"{t_write / len(made):.2f} s per study (npz deflate + JSON)"),
        ("full, generate_study (1 process)", args.n_full / t_full, f"{t_full:.1f} s for {args.n_full}"),
    ]
    print(f"{'run':<42} {'studies/s':>10}  detail")
    for name, rate, detail in rows:
        print(f"{name:<42} {rate:>10.2f}  {detail}")
    print(f"\nsmall vs full: {args.n_small / t_small / (args.n_full / t_full):.0f}x more studies per second at small")
    print(f"\n{'step':<42} {'vipet':>10} {'reference':>12} {'speed-up':>9}")
    print(f"{'liver solid, small CT grid (per paint)':<42} {t_vec / 20 * 1e3:>8.2f}ms "
          f"{t_loop * 1e3:>10.1f}ms {t_loop / (t_vec / 20):>8.0f}x   (per-voxel Python loop; same voxels: {agree:.4f})")
    print(f"{'label volume, full CT grid':<42} {t_box:>9.2f}s {t_whole:>11.2f}s {t_whole / t_box:>8.1f}x   "
          f"(every solid on the whole grid; same labels: {float((boxed == whole).mean()):.4f})")


if __name__ == "__main__":
    main()
