"""The build's Ray engine: study tasks spread over the nodes of a Ray cluster, surviving lost nodes.

A task reads its own files and writes its own cache folder (`build_one`), so the engine only has
to place tasks and survive failures:

- Placement: `SPREAD`, so the nodes of a cluster share the studies instead of the driver's node
  taking them all, with at most two tasks per cluster CPU in flight (no task queue of thousands of
  pickled refs in the driver).
- Failure: a task whose worker process or node dies is re-run on a live node, up to
  `TASK_RETRIES` times (Ray's `max_retries` covers exactly these system failures; `build_one`
  never raises, so `retry_exceptions` has nothing to retry). Re-running is safe: a study folder is
  written in a temporary sibling and replaces the old one whole (`fsutil.atomic_dir`), so an attempt
  that died halfway leaves only a temporary folder, and one that finished but whose result was lost
  is rewritten with the same bytes. A task that fails past its retries becomes a failed study,
  like a dead local worker; it never aborts the build.
- Cleanup: once every task is settled, the temporary folders of the attempts that died are removed
  (`cache.clean_stale`), so the cache holds complete studies only, as after a local build.
- Record: one JSON line per finished task in `OUT/ray_tasks.jsonl` (study, status, node id, host,
  pid): where each study ran, appended as results arrive so a long build can be watched; the manifest
  and cache do not depend on it.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any, Callable, Iterator

from vipet.data.cache import clean_stale
from vipet.errors import BuildError

TASK_RETRIES = 3
TASK_LOG = "ray_tasks.jsonl"
LOGGED = ("key", "status", "node_id", "host", "pid")  # the fields of a task-log line


def run_on_ray(build: Callable[..., dict[str, Any]], tasks: list[tuple], workers: int, address: str | None,
               ref_path: Callable[[Any], str]) -> Iterator[dict[str, Any]]:
    """`build(*task)` for every task as Ray tasks, results in completion order.

    Joins the cluster at `address` (`host:port` of `ray start --head`), else starts a local Ray
    instance with `workers` CPUs; a Ray already initialised in this process is used as it is.
    Every task's `out` (its second field) must be the same build folder; `ref_path` names a study
    (its first field) in the failure record of a task Ray gave up on.
    """
    try:
        import ray
    except ImportError:
        raise BuildError("engine 'ray' needs Ray: pip install 'vipet[ray]'") from None
    if not tasks:
        return
    out = Path(tasks[0][1])
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            _check_reachable(address)
            try:
                ray.init(address=address, log_to_driver=False)
            except (ConnectionError, ray.exceptions.RayError) as exc:
                raise BuildError(f"cannot join the Ray cluster at {address!r}: {exc}") from None
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        slots = max(workers, int(ray.cluster_resources().get("CPU", 0)))
        remote = ray.remote(num_cpus=1, max_retries=TASK_RETRIES, scheduling_strategy="SPREAD")(_build_on_node)
        pending: dict[Any, Any] = {}
        queue = list(tasks)
        with open(out / TASK_LOG, "a", encoding="utf-8") as log:
            while queue or pending:
                while queue and len(pending) < 2 * slots:
                    task = queue.pop(0)
                    pending[remote.remote(build, *task)] = task[0]
                done, _ = ray.wait(list(pending), num_returns=1)
                for finished in done:
                    result = _result(ray, finished, pending.pop(finished), ref_path)
                    log.write(json.dumps({k: result.get(k) for k in LOGGED}) + "\n")
                    log.flush()
                    yield result
        clean_stale(out)  # every task is settled: what is left in temporary names belongs to dead attempts
    finally:
        if started_here:
            ray.shutdown()


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Refuse a `host:port` nobody answers on within `timeout_s`: `ray.init` would wait minutes for it."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "/" in host:
        return  # `auto`, `ray://...`: Ray's own forms, left to Ray
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise BuildError(f"no Ray cluster answers at {address!r} ({exc.strerror or exc}); "
                         "start one with `ray start --head` or fix --ray-address") from None


def _build_on_node(build: Callable[..., dict[str, Any]], *task: Any) -> dict[str, Any]:
    """One task on a Ray worker: `build(*task)` plus the node, host and process it ran in."""
    import ray

    result = build(*task)
    result.update(node_id=ray.get_runtime_context().get_node_id(), host=socket.gethostname(), pid=os.getpid())
    return result


def _result(ray: Any, finished: Any, ref: Any, ref_path: Callable[[Any], str]) -> dict[str, Any]:
    """The task's result, or a failed study when Ray gave up on it (its retries spent)."""
    try:
        return ray.get(finished)
    except ray.exceptions.RayError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return {"key": ref.key, "path": ref_path(ref), "status": "failed",
                "reason": f"Ray task lost after {TASK_RETRIES} retries ({exc.__class__.__name__}: {reason})",
                "notes": [], "seconds": 0.0, "peak_rss_mb": 0.0}
