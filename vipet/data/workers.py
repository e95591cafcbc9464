"""Worker processes that die with their parent.

A `ProcessPoolExecutor` shuts its workers down when the parent exits normally, but a parent killed
with SIGKILL runs no cleanup: its workers kept building studies (and writing into the cache) for
30 s or more, while a rerun had already started. Each worker therefore asks Linux to send it SIGKILL
when its parent dies (prctl PR_SET_PDEATHSIG), and, on every system, a daemon thread checks once in
a while that the parent is still the one that started it and ends the worker otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

PR_SET_PDEATHSIG = 1
PARENT_POLL_SECONDS = 0.2


def _set_parent_death_signal() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux only); True when set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:  # re-parented: the process that started us is gone
            os._exit(1)
        threading.Event().wait(PARENT_POLL_SECONDS)


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker as soon as `parent_pid` is no longer its parent."""
    _set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="vipet-parent-watch").start()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A spawn-context pool (workers start clean: no inherited threads or locks from the parent's
    progress bar) whose workers die with this process."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=die_with_parent, initargs=(os.getpid(),))
