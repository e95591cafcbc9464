"""What the reading room serves: a build folder, or any dataset `vipet.io` reads, as one study list.

A build folder (`vipet build` output) is served straight from its cache: the list comes from
`manifest.parquet`, a study opens by decompressing its whole-body `ct` and `pet` arrays (blosc2,
a fraction of a second; legacy `.npy` caches are memory-mapped). Decompressed studies take memory
(~80 MB synthetic, ~150 MB real), so only the `MAX_OPEN_STUDIES` most recently opened are kept. Any other source (a ViMed-PET root,
a DICOM folder, a NIfTI pair "ct.nii.gz,pet.nii.gz") is listed by `vipet.io.discover` without
opening volumes; a study is built into a private cache folder the first time it is opened, by
the same `vipet.data.build.build_one` the dataset build uses (orientation, common grid, region
bounds), so the viewer shows exactly what a model would be given. Opening is slow for DICOM, so
`Catalog.open` reports its steps to a callback (the server turns them into a progress bar).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vipet.data.cache import META_FILE, open_array, read_meta, study_dir
from vipet.data.manifest import MANIFEST_FILE, read_manifest
from vipet.errors import ReadError, VipetError
from vipet.schema import WHOLE

# Studies kept decompressed at once: a reader flips between a few studies, and each costs ~80-150 MB.
MAX_OPEN_STUDIES = 4

Progress = Callable[[float, str], None]


@dataclass
class StudyEntry:
    """One row of the study list: what search and the list page need, without any volume."""

    key: str
    year: int | None = None
    month: int | None = None
    split: str = ""
    report_text: str = ""
    source: str = ""
    ref: Any = None  # the StudyRef of a study not yet built (raw sources)
    _finding_types: list[str] | None = field(default=None, repr=False)

    def finding_types(self) -> list[str]:
        """Lesion type categories (clinical-metric vocabulary) the report states, computed once."""
        if self._finding_types is None:
            from vipet.reports.categories import type_category
            from vipet.reports.extract import extract_lesions

            try:
                lesions = extract_lesions(self.report_text, scope="all") if self.report_text.strip() else []
            except VipetError:
                lesions = []
            self._finding_types = sorted({type_category(lesion) for lesion in lesions})
        return self._finding_types


@dataclass
class StudyVolumes:
    """A study ready to look at: whole-body CT (HU) and PET on one grid, head first, and its regions."""

    key: str
    ct_hu: np.ndarray  # (z, y, x) int16
    pet: np.ndarray  # (z, y, x) in `pet_unit`
    spacing: tuple[float, float, float]  # (z, y, x) mm of the common grid
    pet_unit: str
    regions: dict[str, tuple[int, int]]
    meta: dict[str, Any]
    display: dict[str, Any] = field(default_factory=dict)  # per-study display caches (MIP PNG, PET scale)


def _entry_from_row(row: dict[str, Any]) -> StudyEntry:
    return StudyEntry(key=row["study_key"], year=row.get("year"), month=row.get("month"), split=row.get("split") or "",
                      report_text=row.get("report_text") or "", source=row.get("source") or "")


def volumes_from_cache(build: Path, key: str) -> StudyVolumes:
    """Map a cached study's whole-body arrays (`BuildError`/`UnsafePathError` naming the file)."""
    folder = study_dir(build, key)
    meta = read_meta(folder)
    arrays = meta.get("arrays") or {}
    if "ct" not in arrays or "pet" not in arrays:
        raise ReadError("cached study has no whole-body ct/pet arrays", folder / META_FILE)
    grid = (meta.get("grids") or {}).get(WHOLE) or {}
    spacing = tuple(float(s) for s in grid.get("spacing_mm") or ())
    if len(spacing) != 3:
        raise ReadError("cached study has no whole-grid spacing", folder / META_FILE)
    bounds = ((meta.get("regions") or {}).get("bounds")) or {}
    return StudyVolumes(
        key=key,
        ct_hu=open_array(folder / arrays["ct"]["file"]),
        pet=open_array(folder / arrays["pet"]["file"]),
        spacing=spacing,  # type: ignore[arg-type]
        pet_unit=str((meta.get("units") or {}).get("pet") or "UNKNOWN"),
        regions={name: (int(a), int(b)) for name, (a, b) in bounds.items()},
        meta=meta,
    )


class Catalog:
    """The served studies, by key; `open(key)` gives the volumes (building a raw study on first use)."""

    def __init__(self, path: str | Path, work: str | Path, pet_unit: str | None = None):
        self.path = str(path)
        self.work = Path(work)
        self.build: Path | None
        self.pet_unit = pet_unit
        self._lock = threading.Lock()
        self._open: OrderedDict[str, StudyVolumes] = OrderedDict()  # least recently opened first
        self.problems: list[dict[str, Any]] = []
        target = Path(self.path)
        if target.is_dir() and (target / MANIFEST_FILE).is_file():
            self.kind, self.build = "build", target
            rows = [r for r in read_manifest(target) if r["region"] == WHOLE]
            self.entries = {row["study_key"]: _entry_from_row(row) for row in rows}
        else:
            self.kind, self.build = "source", None
            self.entries = {ref.key: self._entry_from_ref(ref) for ref in self._discover()}
        if not self.entries:
            raise ReadError("no study to serve", self.path)

    def _discover(self) -> list[Any]:
        from vipet.io import discover
        from vipet.io.ref import NIFTI, StudyRef, path_hash_key

        text = self.path
        if "," in text and not Path(text).exists():  # a NIfTI pair "ct.nii.gz,pet.nii.gz"
            parts = [p.strip() for p in text.split(",")]
            if len(parts) != 2 or not all(Path(p).is_file() for p in parts):
                raise ReadError("a NIfTI pair is written 'ct.nii.gz,pet.nii.gz' and both files must exist", text)
            meta = {"pet_unit": self.pet_unit} if self.pet_unit else {}
            return [StudyRef(key=path_hash_key("nifti", parts[0]), format=NIFTI,
                             paths={"ct": parts[0], "pet": parts[1]}, meta=meta)]
        refs, self.problems = discover(text, pet_unit=self.pet_unit)
        return refs

    @staticmethod
    def _entry_from_ref(ref: Any) -> StudyEntry:
        report_text = ""
        if ref.paths.get("report") and Path(ref.paths["report"]).is_file():
            from vipet.reports.parse import load_report

            try:
                report_text = load_report(ref.paths["report"]).full_text()
            except VipetError:
                report_text = ""
        return StudyEntry(key=ref.key, year=ref.meta.get("year"), month=ref.meta.get("month"),
                          report_text=report_text, source=ref.source() if hasattr(ref, "source") else "", ref=ref)

    def search(self, text: str = "", year: str = "", split: str = "", finding: str = "") -> list[StudyEntry]:
        """Entries whose key contains `text`, of `year` and `split`, whose report states `finding` (a type)."""
        out = []
        for entry in self.entries.values():
            if text and text.lower() not in entry.key.lower():
                continue
            if year and str(entry.year) != year:
                continue
            if split and entry.split != split:
                continue
            if finding and finding not in entry.finding_types():
                continue
            out.append(entry)
        return sorted(out, key=lambda e: e.key)

    def entry(self, key: str) -> StudyEntry:
        if key not in self.entries:
            raise ReadError(f"no study {key!r} in this catalog", self.path)
        return self.entries[key]

    def is_open(self, key: str) -> bool:
        return key in self._open

    def cache_of(self, key: str) -> Path:
        """The build folder whose cache holds `key`: the served build, or the private work folder."""
        return self.work if self.entry(key).ref is not None else self.build

    def add_folder(self, folder: str | Path) -> StudyEntry:
        """Add one study folder (an upload: DICOM files or a NIfTI pair) to the list; built when opened."""
        from vipet.io import discover

        refs, _ = discover(folder, pet_unit=self.pet_unit)
        if len(refs) != 1:
            raise ReadError(f"expected one study in the folder, found {len(refs)}", folder)
        ref = refs[0]
        if ref.key in self.entries:
            raise ReadError(f"a study with key {ref.key!r} is already served", folder)
        entry = self._entry_from_ref(ref)
        self.entries[ref.key] = entry
        return entry

    def open(self, key: str, progress: Progress | None = None) -> StudyVolumes:
        """The study's volumes; a raw study is read and built into the work folder first."""
        entry = self.entry(key)
        with self._lock:
            if key in self._open:
                self._open.move_to_end(key)
                return self._open[key]
        report = progress or (lambda fraction, message: None)
        if entry.ref is not None and not (study_dir(self.work, key) / META_FILE).is_file():
            from vipet.data.build import build_one
            from vipet.data.config import BuildConfig

            report(0.1, f"reading and building {entry.source or key}")
            self.work.mkdir(parents=True, exist_ok=True)
            result = build_one(entry.ref, str(self.work), BuildConfig(renders=False).to_json(), None)
            if result.get("status") != "built":
                raise ReadError(f"study could not be opened: {result.get('reason')}", entry.source or key)
            if not entry.report_text:
                samples = read_meta(study_dir(self.work, key)).get("samples") or []
                entry.report_text = next((str(s.get("report_text") or "") for s in samples
                                          if s.get("region") == WHOLE), "")
        report(0.9, "mapping the cached arrays")
        volumes = volumes_from_cache(self.cache_of(key), key)
        with self._lock:
            self._open[key] = volumes
            while len(self._open) > MAX_OPEN_STUDIES:
                self._open.popitem(last=False)
        report(1.0, "ready")
        return volumes

    def years(self) -> list[str]:
        return sorted({str(e.year) for e in self.entries.values() if e.year is not None})

    def splits(self) -> list[str]:
        return sorted({e.split for e in self.entries.values() if e.split})
