"""A small synthetic cohort built once per session, and the reading room served on it.

Twelve small synthetic studies (train, val and test months) are written and built in-process in a
few seconds; the server is a real uvicorn on 127.0.0.1 at a free port, in a thread of the test
process, stopped by `should_exit` with a bounded wait. Browser tests drive it with headless
Chromium; the other tests use FastAPI's TestClient on the same app factory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="vipet serve needs fastapi (pip install 'vipet[serve]')")

from serve_support import N_STUDIES, TARGET  # noqa: E402  (tests/serve is on sys.path)


@pytest.fixture(scope="session")
def serve_cohort(tmp_path_factory) -> Path:
    from vipet.synth import write_cohort

    root = tmp_path_factory.mktemp("serve_cohort")
    write_cohort(root, n=N_STUDIES, seed=0, format="vimed", size="small", progress=False)
    return root


@pytest.fixture(scope="session")
def serve_build(serve_cohort, tmp_path_factory) -> Path:
    from vipet.data.build import build_dataset
    from vipet.data.config import BuildConfig

    out = tmp_path_factory.mktemp("serve_build")
    report = build_dataset(serve_cohort, out, BuildConfig(target_shape=TARGET), workers=1, exports=(), progress=False)
    assert report["complete"] == N_STUDIES
    return out


