"""`vipet info`: what a study or a dataset holds, as JSON or as rich tables.

A dataset summary reads file headers only (npz `.npy` headers, NIfTI headers, DICOM headers
without pixels): shapes, counts per year, and the missing or corrupt files found, in seconds for a
whole cohort. A study summary loads the volumes, because value ranges and SUV need the voxels.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from vipet.errors import ReadError
from vipet.io.ref import DICOM, NIFTI, VIMED, StudyRef
from vipet.io.sources import discover, is_study_folder, read_study
from vipet.io.vimed_layout import METADATA_NAME
from vipet.progress import progress_bar

MAX_LISTED_PROBLEMS = 100
# Listing order: what loses a study first, what only loses text last.
# "duplicate_images" (a second table row over one study's files, skipped), "duplicate_key" (a study
# renamed `{key}_2`, kept) and "implausible_metadata" (a height or weight dropped) cost no images.
PROBLEM_ORDER = ("bad_row", "duplicate_images", "corrupt_volume", "missing_volume", "unreadable_study",
                 "unknown_pet_unit", "duplicate_key", "implausible_metadata", "missing_report", "missing_report_en")


def describe_path(path: str | Path, pet_unit: str | None = None, year: int | None = None) -> dict[str, Any]:
    """Summary of a dataset root or a single study (see `describe_study`, `describe_dataset`).

    `pet_unit` is the unit of a NIfTI PET; without it the pair's `study.json` must record one.
    `year` is the year of a Hugging Face part without a year folder (`vipet.io.vimed_packaging`).
    """
    text = str(path)
    candidate = Path(text)
    if candidate.is_dir() and ((candidate / METADATA_NAME).is_file() or not is_study_folder(candidate)):
        return describe_dataset(candidate, pet_unit=pet_unit, year=year)
    return describe_study(text, pet_unit=pet_unit)


def describe_study(path: str | Path, pet_unit: str | None = None) -> dict[str, Any]:
    """`Study.summary()` plus the source format and how SUV was (or was not) obtained."""
    study = read_study(path, pet_unit=pet_unit)
    summary = study.summary()
    suv_trace = study.provenance.get("suv", {})
    return {
        "kind": "study",
        "format": study.provenance.get("format"),
        **summary,
        "suv_method": suv_trace.get("method"),
    }


def describe_dataset(root: str | Path, pet_unit: str | None = None, year: int | None = None) -> dict[str, Any]:
    """Counts per year, shape statistics per modality and every problem found, from headers only.

    A NIfTI study whose PET unit neither `pet_unit` nor its `study.json` gives is listed as a
    problem: `build` would refuse it. `packaging` names the ViMed-PET packaging recognised; the
    official region crops are described per region (`describe_region_crops`).
    """
    from vipet.io.vimed_packaging import REGION_CROPS, detect_packaging

    root = Path(root)
    packaging = detect_packaging(root)
    if packaging is not None and packaging.kind == REGION_CROPS:
        return describe_region_crops(root)
    refs, problems = discover(root, pet_unit=pet_unit, year=year)
    problems.extend({"path": ref.paths["pet"], "key": ref.key, "kind": "unknown_pet_unit",
                     "reason": "NIfTI keeps no PET unit and no study.json records one: pass --pet-unit"}
                    for ref in refs if ref.format == NIFTI and ref.meta.get("pet_unit") is None)
    shapes: dict[str, list[tuple[int, ...]]] = defaultdict(list)
    dtypes: dict[str, Counter] = defaultdict(Counter)
    for ref, modality_shapes, found in _iter_headers(refs):
        problems.extend(found)
        for modality, (shape, dtype) in modality_shapes.items():
            shapes[modality].append(shape)
            dtypes[modality][dtype] += 1
    per_year = Counter(str(ref.meta.get("year", "unknown")) for ref in refs)
    problems.sort(key=lambda p: PROBLEM_ORDER.index(p["kind"]) if p.get("kind") in PROBLEM_ORDER else len(PROBLEM_ORDER))
    kinds = Counter(p.get("kind", "other") for p in problems)
    broken = {p.get("key") for p in problems if p.get("kind") in ("missing_volume", "corrupt_volume", "unreadable_study")}
    formats = sorted({ref.format for ref in refs})
    return {
        "kind": "dataset",
        "root": str(root),
        "format": formats[0] if len(formats) == 1 else "mixed",
        "packaging": packaging.kind if packaging is not None else None,
        "studies": len(refs),
        "studies_readable": len(refs) - len(broken - {None}),
        "per_year": dict(sorted(per_year.items())),
        "modalities": {m: _shape_stats(shapes[m], dtypes[m]) for m in ("CT", "PT") if shapes[m]},
        "problem_counts": dict(sorted(kinds.items())),
        "problems": problems[:MAX_LISTED_PROBLEMS],
        "problems_not_listed": max(0, len(problems) - MAX_LISTED_PROBLEMS),
    }


def _iter_headers(refs: list[StudyRef]):
    """(ref, {modality: (shape, dtype)}, problems) per study, with a progress bar on stderr."""
    with progress_bar("checking headers", len(refs), stderr=True, transient=True) as show_progress:
        for ref in refs:
            yield (ref, *_headers_of(ref))
            show_progress()


def _headers_of(ref: StudyRef) -> tuple[dict[str, tuple[tuple[int, ...], str]], list[dict[str, Any]]]:
    found: dict[str, tuple[tuple[int, ...], str]] = {}
    problems: list[dict[str, Any]] = []
    if ref.format == VIMED:
        from vipet.io.npz import volume_header

        for modality, role in (("CT", "ct"), ("PT", "pet")):
            path = Path(ref.paths[role])
            if not path.is_file():
                continue  # discovery already listed it as missing
            try:
                found[modality] = volume_header(path)  # `.npz` or `.npy`
            except ReadError as exc:
                problems.append({"path": str(path), "key": ref.key, "reason": exc.reason, "kind": "corrupt_volume"})
    elif ref.format == NIFTI:
        import nibabel as nib

        for modality, role in (("CT", "ct"), ("PT", "pet")):
            try:
                header = nib.load(ref.paths[role]).header
                found[modality] = (tuple(int(n) for n in header.get_data_shape()[:3][::-1]), str(header.get_data_dtype()))
            except Exception as exc:  # nibabel raises several types for damaged files
                problems.append({"path": ref.paths[role], "key": ref.key, "reason": f"unreadable NIfTI ({exc})",
                                 "kind": "corrupt_volume"})
    elif ref.format == DICOM:
        found, problems = _dicom_headers(ref)
    return found, problems


def _dicom_headers(ref: StudyRef) -> tuple[dict[str, tuple[tuple[int, ...], str]], list[dict[str, Any]]]:
    """Largest CT and PT series of a DICOM study folder as (slices, rows, cols), from headers only."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    series: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    problems: list[dict[str, Any]] = []
    for path in sorted(p for p in Path(ref.paths["folder"]).rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except InvalidDicomError:
            continue
        except Exception as exc:
            problems.append({"path": str(path), "key": ref.key, "reason": f"damaged DICOM file ({exc})",
                             "kind": "corrupt_volume"})
            continue
        modality = str(ds.get("Modality", ""))
        if modality in ("CT", "PT") and "Rows" in ds:
            stored = f"{'int' if ds.get('PixelRepresentation', 0) else 'uint'}{ds.get('BitsAllocated', 16)} stored"
            series[(modality, str(ds.get("SeriesInstanceUID", "")))].append((int(ds.Rows), int(ds.Columns), stored))
    found: dict[str, tuple[tuple[int, ...], str]] = {}
    for (modality, _), sizes in sorted(series.items(), key=lambda item: len(item[1])):
        found[modality] = ((len(sizes), sizes[0][0], sizes[0][1]), sizes[0][2])
    for modality in ("CT", "PT"):
        if modality not in found:
            problems.append({"path": ref.paths["folder"], "key": ref.key, "reason": f"no {modality} series",
                             "kind": "unreadable_study"})
    return found, problems


def describe_region_crops(root: str | Path) -> dict[str, Any]:
    """The official region crops: crops per region, PET shapes from `.npy` headers, and problems."""
    from vipet.io.npz import volume_header
    from vipet.io.vimed_packaging import CROP_REGIONS, REGION_CROPS, read_region_crops

    root = Path(root)
    crops, problems = read_region_crops(root)
    shapes: dict[str, list[tuple[int, ...]]] = defaultdict(list)
    dtypes: dict[str, Counter] = defaultdict(Counter)
    for crop in crops:
        try:
            shape, dtype = volume_header(crop.path)
        except ReadError as exc:
            problems.append({"path": crop.path, "key": crop.id, "reason": exc.reason, "kind": "corrupt_volume"})
            continue
        shapes[crop.region].append(shape)
        dtypes[crop.region][dtype] += 1
    kinds = Counter(p.get("kind", "other") for p in problems)
    return {
        "kind": "dataset",
        "root": str(root),
        "format": "vimed",
        "packaging": REGION_CROPS,
        "studies": len({Path(crop.image).stem for crop in crops}),  # one file name per study, one folder per region
        "studies_readable": sum(len(v) for v in shapes.values()),
        "per_year": {},
        "per_region": {region: sum(1 for c in crops if c.region == region) for region in CROP_REGIONS},
        "modalities": {f"PT {region}": _shape_stats(shapes[region], dtypes[region]) for region in CROP_REGIONS
                       if shapes[region]},
        "problem_counts": dict(sorted(kinds.items())),
        "problems": problems[:MAX_LISTED_PROBLEMS],
        "problems_not_listed": max(0, len(problems) - MAX_LISTED_PROBLEMS),
    }


def _shape_stats(shapes: list[tuple[int, ...]], dtypes: Counter) -> dict[str, Any]:
    depths = [s[0] for s in shapes]
    return {
        "volumes": len(shapes),
        "in_plane": dict(Counter(f"{s[1]}x{s[2]}" for s in shapes).most_common()),
        "slices": {"min": min(depths), "median": statistics.median(depths), "max": max(depths)},
        "dtype": dict(dtypes.most_common()),
    }


def render_info(summary: dict[str, Any]) -> None:
    """Print a summary from `describe_path` as rich tables on stdout."""
    from rich.console import Console

    console = Console()
    if summary.get("kind") == "dataset":
        _render_dataset(console, summary)
    else:
        _render_study(console, summary)


def _render_study(console, summary: dict[str, Any]) -> None:
    from rich.table import Table

    patient = summary["patient"]
    console.print(f"[bold]{summary['key']}[/bold]  ({summary.get('format')})  {summary['source']}")
    console.print(
        f"patient {patient['id'] or '?'}  sex {patient['sex'] or '?'}  height {patient['height_m'] or '?'} m  "
        f"weight {patient['weight_kg'] or '?'} kg  date {summary['study_date'] or '?'}  "
        f"head first {summary['head_first']}  report {'yes' if summary['has_report'] else 'no'}"
    )
    table = Table(title="modalities")
    table.add_column("")
    names = list(summary["modalities"])
    for name in names:
        table.add_column(name)
    rows = [
        ("shape", lambda e: " x ".join(map(str, e["shape"]))),
        ("spacing (mm)", lambda e: ", ".join(f"{s:.4g}" for s in e["spacing_mm"])),
        ("unit", lambda e: e["unit"]),
        ("dtype", lambda e: e["dtype"]),
        ("min", lambda e: _num(e["min"])),
        ("max", lambda e: _num(e["max"])),
        ("SUVmax", lambda e: _num(e.get("suv_max"))),
        ("SUVmean", lambda e: _num(e.get("suv_mean"))),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(summary["modalities"][n]) for n in names))
    console.print(table)
    pet = summary["modalities"].get("PT", {})
    if pet.get("suv_note"):
        console.print(f"[yellow]SUV unavailable:[/yellow] {pet['suv_note']}")
    for note in summary.get("notes", []):
        console.print(f"note: {note}")


def _render_dataset(console, summary: dict[str, Any]) -> None:
    from rich.table import Table

    console.print(
        f"[bold]{summary['root']}[/bold]  ({summary['format']}"
        f"{', ' + summary['packaging'] if summary.get('packaging') else ''})  {summary['studies']} studies, "
        f"{summary['studies_readable']} with both volumes readable"
    )
    years = Table(title="studies per year")
    years.add_column("year")
    years.add_column("studies", justify="right")
    for year, count in summary["per_year"].items():
        years.add_row(year, str(count))
    console.print(years)
    if summary["modalities"]:
        shapes = Table(title="volumes (from headers)")
        for column in ("modality", "volumes", "in-plane", "slices min/median/max", "dtype"):
            shapes.add_column(column)
        for name, stats in summary["modalities"].items():
            slices = stats["slices"]
            shapes.add_row(name, str(stats["volumes"]), ", ".join(f"{k} ({v})" for k, v in stats["in_plane"].items()),
                           f"{slices['min']} / {slices['median']:g} / {slices['max']}",
                           ", ".join(f"{k} ({v})" for k, v in stats["dtype"].items()))
        console.print(shapes)
    if summary["problem_counts"]:
        problems = Table(title="problems found")
        problems.add_column("kind")
        problems.add_column("count", justify="right")
        for kind, count in summary["problem_counts"].items():
            problems.add_row(kind, str(count))
        console.print(problems)
        for problem in summary["problems"][:20]:
            console.print(f"  {problem['path']}: {problem['reason']}", highlight=False)
        hidden = len(summary["problems"]) - 20 + summary["problems_not_listed"]
        if hidden > 0:
            console.print(f"  ... and {hidden} more (see --json)")
    else:
        console.print("no problems found")


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
