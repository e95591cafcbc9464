"""Reading speed of the study readers against the plain-library floor, side by side in one process.

References: for DICOM, a bare pydicom loop (`dcmread` + `pixel_array` on every file, no grouping,
sorting, rescaling or SUV); for ViMed-PET, a bare `numpy.load` of the two npz files; for a dataset
summary, the header-only `describe_dataset` against loading every study. Ratios > 1 mean vipet is
slower than the floor by that factor.

    .venv/bin/python benchmarks/io_read.py [--slices 150] [--studies 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom

from vipet.io.dicom import read_dicom_study, write_dicom_study
from vipet.io.info import describe_dataset
from vipet.io.vimed import iter_vimed, read_vimed_study, write_metadata_csv, write_vimed_study
from vipet.study import HU, SUV_BW, Patient, Study, Volume


def full_size_study(index: int, slices: int) -> Study:
    rng = np.random.default_rng(index)
    ct = rng.integers(-1000, 1500, size=(slices, 512, 512), dtype=np.int16)
    pet = rng.gamma(2.0, 0.8, size=(slices, 256, 256)).astype(np.float32)
    return Study(
        key=f"2023_11_{index + 1:02d}_patient_{index}",
        ct=Volume(ct, (3.0, 500 / 512, 500 / 512), HU),
        pet=Volume(pet, (3.0, 500 / 256, 500 / 256), SUV_BW),
        patient=Patient(id=f"patient_{index}", sex="M", height_m=1.7, weight_kg=60.0),
        study_date=dt.date(2023, 11, index + 1),
        head_first=True,
    )


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def pydicom_floor(folder: Path) -> None:
    for path in folder.rglob("*.dcm"):
        pydicom.dcmread(path).pixel_array


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=150)
    parser.add_argument("--studies", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        study = full_size_study(0, args.slices)
        folder = write_dicom_study(study, root / "dicom")
        rows = [write_vimed_study(full_size_study(i, args.slices), root / "vimed", suv_per_unit=0.001)
                for i in range(args.studies)]
        write_metadata_csv(rows, root / "vimed")
        ct_npz, pet_npz = root / "vimed" / rows[0]["ct_path"], root / "vimed" / rows[0]["pet_path"]

        def npz_floor() -> None:
            for path in (ct_npz, pet_npz):
                with np.load(path) as archive:
                    archive["data"]

        results = [
            ("DICOM study (CT+PET)", best_of(args.repeats, lambda: read_dicom_study(folder)),
             "pydicom dcmread+pixel_array", best_of(args.repeats, lambda: pydicom_floor(folder))),
            ("ViMed study (npz)", best_of(args.repeats, lambda: read_vimed_study(ct_npz, pet_npz)),
             "numpy.load of both npz", best_of(args.repeats, npz_floor)),
            (f"dataset summary ({args.studies} studies)", best_of(args.repeats, lambda: describe_dataset(root / "vimed")),
             "loading every study", best_of(1, lambda: list(iter_vimed(root / "vimed")))),
        ]
    print(f"volumes: CT {args.slices}x512x512 int16, PET {args.slices}x256x256")
    print(f"{'vipet':42s} {'s':>8s}   {'reference':32s} {'s':>8s}  ratio")
    for name, ours, ref_name, ref in results:
        print(f"{name:42s} {ours:8.3f}   {ref_name:32s} {ref:8.3f}  {ours / ref:5.2f}")


if __name__ == "__main__":
    main()
