"""Write studies in every ViMed-PET packaging, so each reader is tested on the layout it must read.

The packagings are those `vipet.io.vimed_packaging` recognises: the table layout with `.npz` or
`.npy` volumes, the same folders without a table, a Hugging Face part (month folders without the
`PETCT{year}` folder, optionally beside the cohort's `metadata.csv`), and the official region crops
(`images/{region}/{id}.npy` with a LLaVA `data.json` of region reports). Every file goes through the
io writers (atomic, inside the output folder); the layouts without a table are written as the table
layout in a staging folder inside `out` and moved into place, so one writer defines the file names.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from vipet.errors import SynthError
from vipet.fsutil import atomic_write_json, inside, safe_name
from vipet.io.npz import save_npy_volume
from vipet.io.vimed import write_metadata_csv, write_vimed_study
from vipet.schema import REGION_SECTIONS, Report
from vipet.study import Study

PACKAGING_KINDS = ("npz", "npy", "layout", "hf_part", "region_crops")
STAGING = ".packaging_staging"
# The question of each region sample in the LLaVA file (the answer is the region's report section).
REGION_PROMPT = "<image>\nMô tả hình ảnh PET/CT {region_phrase}."


def write_table_layout(studies: Iterable[Study], out: str | Path, *, volume_ext: str = "npz",
                       suv_per_unit: float | None = None) -> list[dict[str, Any]]:
    """`metadata.csv` + `PETCT{year}/THANG {m}/...` with `.npz` or `.npy` volumes; returns the rows."""
    if volume_ext not in ("npz", "npy"):
        raise SynthError(f"volume_ext must be npz or npy, got {volume_ext!r}")
    out = Path(out)
    rows = [write_vimed_study(study, out, suv_per_unit=suv_per_unit, volume_ext=volume_ext) for study in studies]
    write_metadata_csv(rows, out)
    return rows


def write_layout_without_table(studies: Iterable[Study], out: str | Path, *, volume_ext: str = "npz") -> Path:
    """The `PETCT{year}/THANG {m}/...` folders alone (no `metadata.csv`): the year is the folder's."""
    out = Path(out)
    staging = _staging(out)
    write_table_layout(studies, staging, volume_ext=volume_ext)
    for year_dir in sorted(p for p in staging.iterdir() if p.is_dir()):
        _merge_into(year_dir, out / year_dir.name, out)
    shutil.rmtree(staging)
    return out


def write_hf_part(studies: Iterable[Study], out: str | Path, *, part: str = "part_1", volume_ext: str = "npy",
                  with_table: bool = True) -> Path:
    """A Hugging Face part: `out/{part}/THANG {m}/{CT,PET,reports,reports_en}/day_{d}_{id}.{npy}`.

    With `with_table` the cohort's `metadata.csv` (paths in the full `PETCT{year}` layout, as the
    release lists them) is written at `out`, one folder above the part, where the reader finds the
    year; without it the part carries no year and must be read with `--year`. Returns the part folder.
    """
    out = Path(out)
    part_dir = out / safe_name(part)
    staging = _staging(out)
    rows = write_table_layout(studies, staging, volume_ext=volume_ext)
    for year_dir in sorted(p for p in staging.iterdir() if p.is_dir()):
        for month_dir in sorted(p for p in year_dir.iterdir() if p.is_dir()):
            _merge_into(month_dir, part_dir / month_dir.name, out)
    shutil.rmtree(staging)
    if with_table:
        write_metadata_csv(rows, out)
    return part_dir


def study_region_crops(study: Study) -> list[tuple[str, str, np.ndarray, str]]:
    """(id, region, PET crop, region report) per image region, cut with the project's region split.

    The crop is the study's PET slices of the region on a head-first grid (a feet-first study is
    flipped first, as the official crops run head to feet); the report is the region's section.
    """
    from vipet.imaging.regions import RegionSplit

    if study.pet is None:
        raise SynthError(f"{study.key}: region crops need a PET volume")
    pet = np.asarray(study.pet.array)
    ct = None if study.ct is None else np.asarray(study.ct.array)
    if study.head_first is False:
        pet, ct = pet[::-1], (None if ct is None else ct[::-1])
    split = RegionSplit()(ct if ct is not None and ct.shape[0] == pet.shape[0] else None, pet, study.pet.spacing[0])
    report = study.report or Report()
    return [(study.key, region, np.ascontiguousarray(pet[start:stop]), report.sections.get(REGION_SECTIONS[region], ""))
            for region, (start, stop) in split.bounds.items()]


def write_region_crops(crops: Iterable[tuple[str, str, np.ndarray, str]], out: str | Path) -> Path:
    """`out/images/{region}/{id}.npy` and `out/data.json` (LLaVA: id, image, human question, gpt report)."""
    from vipet.schema import REGION_PHRASES

    out = Path(out)
    records = []
    for crop_id, region, array, report_text in crops:
        if region not in REGION_PHRASES:
            raise SynthError(f"unknown region {region!r}; expected one of {sorted(REGION_PHRASES)}")
        image = f"images/{region}/{safe_name(crop_id)}.npy"
        save_npy_volume(inside(out, image), array)
        records.append({
            "id": f"{safe_name(crop_id)}_{region}",
            "image": image,
            "conversations": [
                {"from": "human", "value": REGION_PROMPT.format(region_phrase=REGION_PHRASES[region])},
                {"from": "gpt", "value": report_text},
            ],
        })
    atomic_write_json(out / "data.json", records, root=out)
    return out


def write_packaged_cohort(out: str | Path, kind: str, n: int = 3, seed: int = 0, size: str = "small") -> Path:
    """A synthetic cohort (`vipet.synth.cohort`) in packaging `kind` (one of PACKAGING_KINDS); returns the
    root a reader should be given (the part folder for `hf_part`)."""
    from vipet.synth.cohort import generate_study
    from vipet.synth.writer import suv_per_unit_for

    if kind not in PACKAGING_KINDS:
        raise SynthError(f"unknown packaging {kind!r}; expected one of {PACKAGING_KINDS}")
    studies = [generate_study(index, seed, size)[0] for index in range(n)]
    out = Path(out)
    if kind in ("npz", "npy"):
        factor = suv_per_unit_for(max(float(s.pet.array.max()) for s in studies))  # type: ignore[union-attr]
        write_table_layout(studies, out, volume_ext=kind, suv_per_unit=factor)
        return out
    if kind == "layout":
        return write_layout_without_table(studies, out)
    if kind == "hf_part":
        return write_hf_part(studies, out)
    return write_region_crops((crop for study in studies for crop in study_region_crops(study)), out)


def _staging(out: Path) -> Path:
    staging = out / STAGING
    if staging.exists():
        shutil.rmtree(staging)  # left by a killed run; it lies inside `out` by construction
    staging.mkdir(parents=True)
    return staging


def _merge_into(source: Path, target: Path, root: Path) -> None:
    """Move every file below `source` to the same place below `target` (inside `root`), replacing."""
    for dirpath, _, filenames in os.walk(source):
        for name in filenames:
            src = Path(dirpath) / name
            dst = inside(root, target / src.relative_to(source))
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
