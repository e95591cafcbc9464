"""Helpers of the reading-room tests: a live uvicorn on a free local port, and the test server config."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

N_STUDIES = 12
TARGET = (16, 32, 32)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LiveServer:
    """uvicorn serving `app` on 127.0.0.1 in a daemon thread; `stop()` waits at most 10 s."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start within 20 s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def make_config(build: Path, tmp: Path, **changes):
    from vipet.serve.app import ServeConfig

    values = dict(data=str(build), db=tmp / "reviews.sqlite", model="template", work=tmp / "work",
                  export_dir=tmp / "export")
    values.update(changes)
    return ServeConfig(**values)
