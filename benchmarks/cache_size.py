"""Cache size per study, loader throughput and the model inputs' error, against the previous layout.

    python benchmarks/cache_size.py [--studies 2] [--data runs/bench_full] [--target 64,128,128] [--seconds 10]

Full-size synthetic studies (CT 512x512, PET 256x256, ~300 slices, ViMed-PET layout, as in
benchmarks/build_speed.py; written once into --data and reused) are built once with `vipet build`.
Printed side by side, all in this one process (one torch thread, one Blosc2 thread):

- size: bytes per study of the cache as built (Blosc2 `.b2nd`, zstd-1 + shuffle, lossless) and of
  the same arrays as the previous layout wrote them (`.npy`, written here beside it), per array;
  extrapolated to the real cohort (2,757 studies, ~570 slices) by scaling the whole-body arrays
  with the slice count at the measured compression ratio (the model-ready volumes have a fixed size);
- loader: items/s of `ReportDataset` over the region volumes (decompress + CRC + float32 copy), of
  the previous loader over the previous layout (memory map + NumPy float32 copy, page cache warm) and
  of decoding the npz and
  cutting the same region on the fly (decode both volumes, resample the chest box, scale, window);
  the issue asks cache >= 20x on the fly;
- difference: the cached model-ready volumes against the previous layout's bytes (must be 0) and
  against the float32 model inputs recomputed here from the source with the recorded transforms
  (the float16 rounding, which both layouts share), with the bound the sidecar records.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

REAL_STUDIES = 2757
REAL_SLICES_PER_STUDY = 1_567_062 / 2757
REGIONS = ("head_neck", "chest", "abdomen_pelvis")


def build(data: Path, out: Path, target: tuple[int, int, int]) -> float:
    from vipet.data.build import build_dataset
    from vipet.data.config import BuildConfig

    report = build_dataset(data, out, BuildConfig(target_shape=target), workers=1, exports=(), progress=False)
    if report["failed"]:
        raise SystemExit(f"build failed on {report['failed']}")
    return report["seconds"]


def write_previous_layout(out: Path, previous: Path) -> None:
    """The same arrays as `.npy` (what `save_array` wrote before compression), one folder per study."""
    from vipet.data.cache import iter_cached, open_array

    for key, meta in iter_cached(out):
        folder = previous / key
        folder.mkdir(parents=True, exist_ok=True)
        for name, info in meta["arrays"].items():
            np.save(folder / f"{name}.npy", open_array(out / "cache" / key / info["file"]), allow_pickle=False)


def sizes(out: Path, previous: Path) -> dict:
    """Bytes per study: every file of the cache folder now, and with the arrays as `.npy` instead."""
    from vipet.data.cache import iter_cached

    per_array: dict[str, dict[str, list[int]]] = {}
    studies = []
    for key, meta in iter_cached(out):
        folder = out / "cache" / key
        total_now = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        other = total_now - sum((folder / info["file"]).stat().st_size for info in meta["arrays"].values())
        total_before = other + sum((previous / key / f"{name}.npy").stat().st_size for name in meta["arrays"])
        for name, info in meta["arrays"].items():
            record = per_array.setdefault(name, {"now": [], "before": []})
            record["now"].append((folder / info["file"]).stat().st_size)
            record["before"].append((previous / key / f"{name}.npy").stat().st_size)
        studies.append({"key": key, "slices": meta["grids"]["whole"]["shape"][0], "mb_now": total_now / 1e6,
                        "mb_before": total_before / 1e6, "mb_other_files": other / 1e6})
    mean = {k: float(np.mean([s[k] for s in studies])) for k in ("mb_now", "mb_before", "mb_other_files", "slices")}
    arrays = {name: {"mb_now": float(np.mean(r["now"])) / 1e6, "mb_before": float(np.mean(r["before"])) / 1e6,
                     "ratio": float(np.sum(r["before"]) / np.sum(r["now"]))} for name, r in per_array.items()}
    scale = REAL_SLICES_PER_STUDY / mean["slices"]  # the whole-body arrays grow with the slices, volumes do not

    def real(kind: str) -> float:
        whole = sum(arrays[n][kind] for n in ("ct", "pet"))
        fixed = sum(v[kind] for n, v in arrays.items() if n not in ("ct", "pet")) + mean["mb_other_files"]
        return whole * scale + fixed

    return {"studies": studies, "mean": mean, "arrays": arrays,
            "real_cohort": {"mb_per_study_now": real("mb_now"), "mb_per_study_before": real("mb_before"),
                            "gb_now": real("mb_now") * REAL_STUDIES / 1e3,
                            "gb_before": real("mb_before") * REAL_STUDIES / 1e3,
                            "assumes": "real CT/PET compress as the synthetic ones do (not measured: no real volumes here)"}}


def write_seconds(out: Path, scratch: Path) -> dict:
    """Seconds per study to write its arrays as the build now does (`save_array`) and as the previous
    `save_array` did (the same finiteness check, then `np.save`)."""
    from vipet.data.cache import iter_cached, open_array, require_finite, save_array

    scratch.mkdir(parents=True, exist_ok=True)
    now, before = [], []
    for key, meta in iter_cached(out):
        arrays = {name: open_array(out / "cache" / key / info["file"]) for name, info in meta["arrays"].items()}
        start = time.perf_counter()
        for name, values in arrays.items():
            save_array(scratch, name, values)
        now.append(time.perf_counter() - start)
        start = time.perf_counter()
        for name, values in arrays.items():
            require_finite(values, name)
            np.save(scratch / f"{name}.npy", values, allow_pickle=False)
        before.append(time.perf_counter() - start)
    return {"b2nd_s_per_study": float(np.mean(now)), "npy_s_per_study": float(np.mean(before))}


def float32_inputs(data: Path, out: Path, key: str, meta: dict) -> dict[str, np.ndarray]:
    """The model inputs of one study in float32, from the source and the sidecar's recorded transforms."""
    from vipet.imaging.pet import SUVScale
    from vipet.imaging.resample import Grid, sample_box
    from vipet.imaging.windows import MultiWindow
    from vipet.io import discover, load_study

    ref = next(r for r in discover(data)[0] if r.key == key)
    study = load_study(ref)
    transforms = {t["name"]: t for t in meta["transforms"]}
    if "SUVScale" not in transforms:
        raise SystemExit(f"{key}: PET scale {list(transforms)} is not SUVScale; this benchmark recomputes SUV only")
    pet_scale = SUVScale(suv_max=transforms["SUVScale"]["suv_max"], suv_min=transforms["SUVScale"]["suv_min"])
    windows = MultiWindow(tuple(transforms["MultiWindow"]["names"]))
    box_record = transforms["SampleBox"]
    flipped = meta["orientation"]["flipped"]
    pet = study.pet.array[::-1] if flipped else study.pet.array
    ct = study.ct.array[::-1] if flipped else study.ct.array
    pet_grid, ct_grid = Grid(pet.shape, study.pet.spacing), Grid(ct.shape, study.ct.spacing)
    whole = Grid(tuple(meta["grids"]["whole"]["shape"]), tuple(meta["grids"]["whole"]["spacing_mm"]))
    target = tuple(box_record["target_shape"])
    inputs = {}
    for sample in meta["samples"]:
        box = tuple(tuple(b) for b in sample["box"])
        pet_part = sample_box(pet, pet_grid, whole, box, target, fill=box_record["pet_fill"], kernel=box_record["kernel"])
        ct_part = sample_box(ct, ct_grid, whole, box, target, fill=box_record["ct_fill_hu"], kernel=box_record["kernel"])
        inputs[sample["region"]] = np.concatenate([pet_scale(pet_part)[None], windows(ct_part)]).astype(np.float32)
    return inputs


def differences(data: Path, out: Path, previous: Path) -> dict:
    from vipet.data.cache import iter_cached, open_array

    worst_vs_previous = worst_vs_float32 = worst_ratio = 0.0
    value_range = [np.inf, -np.inf]
    precision = None
    for key, meta in iter_cached(out):
        precision = meta["storage"]["volumes"]["precision"]
        reference = float32_inputs(data, out, key, meta)
        for sample in meta["samples"]:
            name = sample["region"]
            cached = open_array(out / "cache" / key / meta["arrays"][name]["file"]).astype(np.float32)
            before = np.load(previous / key / f"{name}.npy").astype(np.float32)
            worst_vs_previous = max(worst_vs_previous, float(np.max(np.abs(cached - before))))
            error = np.abs(cached - reference[name])
            worst_vs_float32 = max(worst_vs_float32, float(error.max()))
            bound = np.maximum(precision["relative"] * np.abs(reference[name]), precision["absolute"])
            worst_ratio = max(worst_ratio, float(np.max(error / bound)))
            value_range = [min(value_range[0], float(reference[name].min())), max(value_range[1], float(reference[name].max()))]
    return {"max_abs_vs_previous_layout": worst_vs_previous, "max_abs_vs_float32_inputs": worst_vs_float32,
            "max_error_over_recorded_bound": worst_ratio, "recorded_precision": precision,
            "float32_input_range": value_range}


def loader(data: Path, out: Path, previous: Path, seconds: float) -> dict:
    """Items/s three ways over the same region samples, interleaved in one process."""
    from vipet.data.cache import iter_cached
    from vipet.data.dataset import ReportDataset
    from vipet.imaging.pet import SUVScale
    from vipet.imaging.resample import Grid, sample_box
    from vipet.imaging.windows import MultiWindow
    from vipet.io import discover, load_study

    dataset = ReportDataset(out, split=None, regions=REGIONS)
    if not len(dataset):
        raise SystemExit("no region samples with text in the build")
    npy_paths = [previous / row["study_key"] / f"{row['region']}.npy" for row in dataset.rows]

    def from_cache() -> None:
        for i in range(len(dataset)):
            dataset[i]["image"]

    def from_previous() -> None:
        for path in npy_paths:
            np.array(np.load(path, mmap_mode="r"), dtype=np.float32)

    refs = {r.key: r for r in discover(data)[0]}
    metas = list(iter_cached(out))

    def on_the_fly() -> None:
        key, meta = metas[on_the_fly.turn % len(metas)]
        on_the_fly.turn += 1
        study = load_study(refs[key])  # decode both npz
        sample = next(s for s in meta["samples"] if s["region"] == "chest")
        whole = Grid(tuple(meta["grids"]["whole"]["shape"]), tuple(meta["grids"]["whole"]["spacing_mm"]))
        target = tuple(meta["config"]["target_shape"])
        parts = []
        for volume, fill in ((study.pet, 0.0), (study.ct, -1000.0)):
            array = volume.array[::-1] if meta["orientation"]["flipped"] else volume.array
            parts.append(sample_box(array, Grid(array.shape, volume.spacing), whole, sample["box"], target, fill=fill))
        np.concatenate([SUVScale(meta["config"]["suv_max"])(parts[0])[None], MultiWindow(("wide",))(parts[1])])

    on_the_fly.turn = 0
    counts = {"cache": 0, "previous_npy": 0, "on_the_fly": 0}
    spent = {name: 0.0 for name in counts}
    runs = {"cache": (from_cache, len(dataset)), "previous_npy": (from_previous, len(npy_paths)), "on_the_fly": (on_the_fly, 1)}
    for name, (run, items) in runs.items():
        run()  # warm: page cache, imports
    while min(spent.values()) < seconds:
        for name, (run, items) in runs.items():
            if spent[name] >= seconds:
                continue
            start = time.perf_counter()
            run()
            spent[name] += time.perf_counter() - start
            counts[name] += items
    rates = {name: counts[name] / spent[name] for name in counts}
    return {"items_per_s": rates, "items": len(dataset),
            "cache_vs_on_the_fly": rates["cache"] / rates["on_the_fly"],
            "cache_vs_previous_npy": rates["cache"] / rates["previous_npy"],
            "note": "files warm in the page cache; one thread"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("runs/bench_full"))
    parser.add_argument("--target", default="64,128,128")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("bench_out/cache_size.json"))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from vipet.synth import write_cohort

    target = tuple(int(n) for n in args.target.split(","))
    results: dict = {"studies": args.studies, "target_shape": list(target), "cpu_count": os.cpu_count(),
                     "torch_threads": torch.get_num_threads(), "load_average_at_start": os.getloadavg()}
    print(f"cohort: {args.studies} full-size synthetic studies in {args.data} (written once, ~20-45 s each)")
    write_cohort(args.data, n=args.studies, seed=0, format="vimed", size="full", progress=False)
    work = Path(tempfile.mkdtemp(prefix="vipet_cache_size_"))
    out, previous = work / "build", work / "previous_layout"
    results["build_seconds"] = build(args.data, out, target)
    write_previous_layout(out, previous)
    results["size"] = sizes(out, previous)
    results["write"] = write_seconds(out, work / "scratch")
    results["difference"] = differences(args.data, out, previous)
    results["loader"] = loader(args.data, out, previous, args.seconds)
    results["load_average_at_end"] = os.getloadavg()
    _print(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten {args.out} (work folder {work})")


def _print(results: dict) -> None:
    size = results["size"]
    print(f"\nload average {results['load_average_at_start']} at start, {results['load_average_at_end']} at end "
          f"({results['cpu_count']} CPUs, torch threads {results['torch_threads']})")
    print(f"\n{'array':<16}{'.npy MB':>10}{'.b2nd MB':>10}{'ratio':>8}")
    for name, a in size["arrays"].items():
        print(f"{name:<16}{a['mb_before']:>10.2f}{a['mb_now']:>10.2f}{a['ratio']:>7.1f}x")
    m, real = size["mean"], size["real_cohort"]
    print(f"{'study (all)':<16}{m['mb_before']:>10.2f}{m['mb_now']:>10.2f}{m['mb_before'] / m['mb_now']:>7.1f}x"
          f"   ({m['slices']:.0f} slices; renders + meta.json {m['mb_other_files']:.2f} MB)")
    print(f"real cohort (2,757 x {REAL_SLICES_PER_STUDY:.0f} slices, extrapolated): {real['mb_per_study_before']:.0f} -> "
          f"{real['mb_per_study_now']:.1f} MB/study, {real['gb_before']:.0f} -> {real['gb_now']:.0f} GB ({real['assumes']})")
    w = results["write"]
    print(f"writing a study's arrays: {w['b2nd_s_per_study']:.2f} s compressed vs {w['npy_s_per_study']:.2f} s as .npy "
          f"(build total {results['build_seconds']:.1f} s for {len(size['studies'])} studies)")
    lo = results["loader"]
    rates = lo["items_per_s"]
    print(f"\nloader items/s: cache {rates['cache']:.1f}, previous .npy {rates['previous_npy']:.1f}, on the fly "
          f"{rates['on_the_fly']:.2f}; cache / on the fly = {lo['cache_vs_on_the_fly']:.0f}x (target >= 20x), "
          f"cache / previous .npy = {lo['cache_vs_previous_npy']:.2f}x")
    d = results["difference"]
    print(f"model inputs: max |cache - previous .npy| = {d['max_abs_vs_previous_layout']:.3g}; max |cache - float32| = "
          f"{d['max_abs_vs_float32_inputs']:.3g} (float32 inputs in {d['float32_input_range']}), "
          f"{d['max_error_over_recorded_bound']:.3f} of the recorded bound {d['recorded_precision']}")


if __name__ == "__main__":
    main()
