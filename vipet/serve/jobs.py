"""Long work (opening a DICOM study, drafting) in a background thread, polled by the page for progress.

A job is a function of one argument, `progress(fraction, message)`; its state is what the page
polls (`GET /api/jobs/<id>`): fraction done, the current step, and at the end the result or the
one-line error. Expected errors (`VipetError`) give their message; anything else gives the type and
message, so a page never hangs on a job that died.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from vipet.errors import VipetError

MAX_KEPT = 200  # finished jobs kept for polling; older ones are forgotten


@dataclass
class JobState:
    id: str
    kind: str
    fraction: float = 0.0
    message: str = "queued"
    done: bool = False
    error: str | None = None
    result: Any = None
    started: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "fraction": round(self.fraction, 3), "message": self.message,
                "done": self.done, "error": self.error, "result": self.result}


class Jobs:
    def __init__(self) -> None:
        self._jobs: dict[str, JobState] = {}
        self._lock = threading.Lock()

    def start(self, kind: str, work: Callable[[Callable[[float, str], None]], Any]) -> JobState:
        state = JobState(id=secrets.token_hex(8), kind=kind)
        with self._lock:
            self._jobs[state.id] = state
            finished = [j for j in self._jobs.values() if j.done]
            for old in sorted(finished, key=lambda j: j.started)[: max(0, len(finished) - MAX_KEPT)]:
                del self._jobs[old.id]

        def progress(fraction: float, message: str) -> None:
            state.fraction, state.message = max(state.fraction, min(1.0, float(fraction))), message

        def run() -> None:
            try:
                state.result = work(progress)
                state.fraction, state.message = 1.0, "done"
            except VipetError as exc:
                state.error = str(exc)
            except Exception as exc:  # a bug must reach the page as a message, not a hung progress bar
                state.error = f"{exc.__class__.__name__}: {exc}"
            state.done = True

        threading.Thread(target=run, name=f"vipet-job-{kind}", daemon=True).start()
        return state

    def get(self, job_id: str) -> JobState | None:
        with self._lock:
            return self._jobs.get(job_id)
