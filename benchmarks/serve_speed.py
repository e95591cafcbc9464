"""Reading-room speed: time to first paint of a study from a build cache, and server time per slice change.

First paint is every request the viewer page makes before a study is on screen, for a study not
opened before in this process: the page, the study info, the coronal MIP and the middle axial
plane. A slice change is one `plane/<plane>/<i>.png` request (the slider's only request). Both go
through the whole ASGI app in-process (FastAPI's TestClient: routing, session and CSRF middleware,
PNG encoding), so network time on 127.0.0.1 is the only thing not counted.

References, in the same process on the same cached study:
- `read`: the floor, reading the two cached arrays' slice straight from the memory map;
- `render`: the same picture made by direct calls (`vipet.imaging.render.fused_slice_rgb` + PNG),
  no web stack; the gap to the server time is what the app adds.
Aims (issue 14): first paint < 1 s, slice change < 100 ms on 2 cores.

    .venv/bin/python benchmarks/serve_speed.py [--size full|small] [--slices 60] [--build DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def build_cohort(size: str, work: Path) -> Path:
    from vipet.data.build import build_dataset
    from vipet.data.config import BuildConfig
    from vipet.synth import write_cohort

    cohort = write_cohort(work / "cohort", n=2, seed=0, format="vimed", size=size, progress=False)
    build_dataset(cohort, work / "build", BuildConfig(renders=False), workers=1, exports=(), progress=False)
    return work / "build"


def study_api(key: str) -> str:
    """The workstation's JSON and picture routes of one study (`vipet.serve.app`)."""
    return "/".join(("", "api", "study", key))


def ms(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"median {statistics.median(ordered) * 1e3:7.1f} ms  p95 {p95 * 1e3:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="full", choices=("full", "small"))
    parser.add_argument("--slices", type=int, default=60, help="slice changes timed per plane")
    parser.add_argument("--build", type=Path, help="an existing build folder (default: a 2-study synthetic one)")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)  # nothing here uses torch; pinned so a loaded machine is comparable
    except ImportError:
        pass
    import numpy as np
    from fastapi.testclient import TestClient

    from vipet.imaging.render import fused_slice_rgb
    from vipet.imaging.windows import WINDOWS
    from vipet.serve.app import ServeConfig, create_app
    from vipet.serve.images import png_bytes

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        build = args.build or build_cohort(args.size, work)
        print(f"build ready in {time.perf_counter() - started:.1f} s: {build}")
        app = create_app(ServeConfig(data=str(build), db=work / "reviews.sqlite", work=work / "work"))
        client = TestClient(app)
        keys = sorted(app.state.serve.catalog.entries)
        client.get("/studies")  # warm the app once (templates compiled, imports done)

        paints = []
        for key in keys:  # each study opened for the first time in this process
            t0 = time.perf_counter()
            assert client.get(f"/study/{key}").status_code == 200
            api = study_api(key)
            info = client.get(f"{api}/info").json()
            assert client.get(f"{api}/mip.png").status_code == 200
            middle = info["planes"]["axial"] // 2
            assert client.get(f"{api}/plane/axial/{middle}.png").status_code == 200
            paints.append(time.perf_counter() - t0)
        key = keys[0]
        volumes = app.state.serve.catalog.open(key)
        shape = volumes.ct_hu.shape
        print(f"study {key}: grid {shape} (z, y, x), spacing {volumes.spacing} mm, PET {volumes.pet_unit}")
        print(f"first paint (page + info + MIP + axial plane) of each study, never opened before: "
              + ", ".join(f"{p * 1e3:.0f} ms" for p in paints)
              + " (the first includes the server's one-time lazy imports: PIL, scipy, the report toolkit)")

        for plane, axis in (("axial", 0), ("coronal", 1), ("sagittal", 2)):
            indices = np.linspace(0, shape[axis] - 1, args.slices).astype(int)
            served, read, render = [], [], []
            for index in indices:
                t0 = time.perf_counter()
                response = client.get(f"{study_api(key)}/plane/{plane}/{index}.png?window=soft_tissue")
                served.append(time.perf_counter() - t0)
                assert response.status_code == 200
                cut = (slice(None),) * axis + (int(index),)
                t0 = time.perf_counter()
                ct, pet = np.asarray(volumes.ct_hu[cut]), np.asarray(volumes.pet[cut], dtype=np.float32)
                read.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                png_bytes(fused_slice_rgb(ct, pet, WINDOWS["soft_tissue"]))
                render.append(time.perf_counter() - t0)
            ratio = statistics.median(served) / statistics.median(render)
            print(f"slice change {plane:8s} server {ms(served)} | read {ms(read)} | render {ms(render)} "
                  f"| server/render {ratio:.2f}x")
    load = os.getloadavg()
    print(f"cores {os.cpu_count()}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (1/5/15 min), torch threads 1")


if __name__ == "__main__":
    main()
