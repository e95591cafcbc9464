"""A real two-node Ray cluster on one machine (issue 18): `ray start --head` and a second node joined
to it at 127.0.0.1, one CPU each, then `vipet build --engine ray --ray-address` as its own driver.

- Spread: every finished task's node id, host and pid is in `OUT/ray_tasks.jsonl`; which node a pid
  belongs to is read independently from /proc (each node's `ray start` session and its children),
  and both nodes must have built studies.
- Loss of a node: once the first results are in, the second node is killed (SIGKILL to all its
  processes) while it builds a study; the build still finishes every study, none failed.
- Same output: the manifest, the splits and every cache file equal a `--engine local` build of
  the same cohort byte for byte (a study's meta.json without its stage timings).

Ray turns 127.0.0.1 into the machine's own address and listens on all interfaces; the cluster
requires a random token of its own (RAY_AUTH_MODE=token). `ray stop` would stop every Ray of the
machine (it matches process names), so the nodes are stopped by their pids, with bounded waits.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'vipet[ray]')")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and kills processes (Linux)")

N_STUDIES = 12
BUILD_OPTIONS = ["--export", "none"]
TASK_TITLE = b"ray::_build_on_node"  # a Ray worker's process title while it runs a build task
START_TIMEOUT = 120
BUILD_TIMEOUT = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _processes() -> dict[int, tuple[int, int, int, bytes]]:
    """pid -> (parent, process group, start time, command line) of every live (non-zombie) process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                table[int(entry)] = (int(fields[1]), int(fields[2]), int(fields[19]),
                                     Path(f"/proc/{entry}/cmdline").read_bytes())
        except (OSError, IndexError, ValueError):
            continue
    return table


def _node_processes(pgid: int) -> dict[int, bytes]:
    """Live processes of one Ray node and their command lines: the process group of its `ray start`
    session (raylet, GCS, agents) and their children (Ray gives each worker process a process group
    of its own, under the raylet)."""
    table = _processes()
    members = {pid for pid, (_, group, _, _) in table.items() if group == pgid}
    children = {pid for pid, (parent, _, _, _) in table.items() if parent in members}
    return {pid: table[pid][3] for pid in sorted(members | children)}


def _signal_node(pgid: int, sig: int, seen: dict[int, int]) -> dict[int, int]:
    """Send `sig` to a node's processes and to those seen before (a worker whose raylet died has lost
    its parent), each checked by its start time so a reused pid is never hit; returns who was signalled."""
    table = _processes()
    seen = {pid: start for pid, start in seen.items() if pid in table and table[pid][2] == start}
    seen |= {pid: table[pid][2] for pid in _node_processes(pgid) if pid in table}
    for pid in seen:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return seen


def _stop_node(pgid: int) -> list[int]:
    """SIGTERM a node's processes, SIGKILL what is left after 2 s; returns what survived 10 s more."""
    seen: dict[int, int] = {}
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 10.0)):
        seen = _signal_node(pgid, sig, seen)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _still_running(seen):
            time.sleep(0.1)
    return _still_running(seen)


def _still_running(seen: dict[int, int]) -> list[int]:
    table = _processes()
    return sorted(pid for pid, start in seen.items() if pid in table and table[pid][2] == start)


class Cluster:
    """A head node and a second node, each `ray start` in a session of its own, started in a
    background thread (tens of seconds under load) while the cohort and the local build are made;
    `ready()` waits for both nodes."""

    def __init__(self, base: Path):
        port = _free_port()
        self.address = f"127.0.0.1:{port}"
        self.env = dict(os.environ,
                        RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),  # this cluster's own token
                        RAY_USAGE_STATS_ENABLED="0",
                        # notice a dead node within ~2 s instead of Ray's default ~15 s
                        RAY_health_check_initial_delay_ms="1000", RAY_health_check_period_ms="500",
                        RAY_health_check_timeout_ms="500", RAY_health_check_failure_threshold="3")
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats",
                  "--object-store-memory=100000000", "--include-log-monitor=false"]
        self.nodes = [
            (base / "head.log", ["--head", f"--port={port}", f"--temp-dir={base}/h", "--include-dashboard=false",
                                 f"--dashboard-port={_free_port()}", f"--ray-client-server-port={_free_port()}",
                                 f"--dashboard-agent-listen-port={_free_port()}", *common]),
            (base / "worker.log", [f"--address={self.address}", f"--temp-dir={base}/w",
                                   f"--dashboard-agent-listen-port={_free_port()}", *common]),
        ]
        self.groups: list[int] = []  # the process group (= session) of each node's `ray start`
        self.error: str | None = None
        self._thread = threading.Thread(target=self._start, daemon=True)
        self._thread.start()

    @property
    def head_group(self) -> int:
        return self.groups[0]

    @property
    def worker_group(self) -> int:
        return self.groups[1]

    def _start(self) -> None:
        try:
            self._start_nodes()
        except Exception as exc:  # reported by ready(), in the test's thread
            self.error = f"starting the Ray nodes failed: {exc!r}"

    def _start_nodes(self) -> None:
        """`ray start` the head, then the second node as soon as the head's GCS port answers (the
        node waits for the rest of the head itself: it reads the session from the GCS, with retries)."""
        ray = Path(sys.executable).with_name("ray")
        procs = []
        for n, (log, args) in enumerate(self.nodes):
            if n:
                host, port = self.address.split(":")
                deadline = time.monotonic() + START_TIMEOUT
                while not _answers(host, int(port)) and time.monotonic() < deadline and procs[0].poll() in (None, 0):
                    time.sleep(0.1)
            with open(log, "wb") as out:
                procs.append(subprocess.Popen([str(ray), "start", *args], stdout=out, stderr=subprocess.STDOUT,
                                              env=self.env, start_new_session=True))
            self.groups.append(procs[-1].pid)
        for proc, (log, args) in zip(procs, self.nodes):
            try:
                rc = proc.wait(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = "timeout"
            if rc != 0 and not self.error:
                self.error = f"`ray start {' '.join(args)}` failed ({rc}):\n{log.read_text(errors='replace')[-3000:]}"

    def ready(self) -> "Cluster":
        self._thread.join(timeout=2 * START_TIMEOUT + 30)
        if self._thread.is_alive() or self.error:
            pytest.fail(self.error or "the Ray nodes did not start")
        return self

    def stop(self) -> dict[int, list[int]]:
        """Stop every process of both nodes (by process group and parent, never `ray stop`, which
        stops every Ray of the machine); returns the pids that survived SIGKILL, per node."""
        self._thread.join(timeout=START_TIMEOUT + 30)
        return {group: left for group in reversed(self.groups) if (left := _stop_node(group))}


@pytest.fixture(scope="module")
def cluster():
    # Ray's socket paths must stay under ~107 characters: a short folder under /tmp, not tmp_path.
    base = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))
    nodes = Cluster(base)
    try:
        yield nodes
    finally:
        left = nodes.stop()
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"Ray processes still running after SIGKILL: {left}"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    from vipet.synth import write_cohort

    return write_cohort(tmp_path_factory.mktemp("cohort") / "root", n=N_STUDIES, seed=7, format="vimed",
                        size="small", progress=False)


@pytest.fixture(scope="module")
def local_build(cohort, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "build"
    done = subprocess.run([sys.executable, "-m", "vipet", "build", str(cohort), str(out), "--engine", "local",
                           *BUILD_OPTIONS], capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert done.returncode == 0, done.stderr
    return out


def _ray_build(cohort: Path, out: Path, cluster: Cluster) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vipet", "build", str(cohort), str(out), "--engine", "ray",
                             "--ray-address", cluster.address, *BUILD_OPTIONS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env,
                            start_new_session=True)


def _finish(build: subprocess.Popen) -> str:
    try:
        stdout, stderr = build.communicate(timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(build.pid, signal.SIGKILL)
        build.communicate(timeout=30)
        pytest.fail("the Ray build did not finish")
    assert build.returncode == 0, stderr[-3000:]
    return stdout


def _task_log(out: Path) -> list[dict]:
    path = out / "ray_tasks.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]  # a line being written is skipped


def _tree(out: Path) -> dict[str, bytes]:
    """Every file the engines must write identically: the manifest, the splits and the whole cache.

    A study's meta.json is compared without `timings_s` (seconds each stage took, different in any
    two runs); its every other field, and every other file, byte for byte."""
    files = {name: (out / name).read_bytes() for name in ("manifest.parquet", "splits.json")}
    for path in sorted((out / "cache").rglob("*")):
        if path.is_file():
            files[path.relative_to(out).as_posix()] = path.read_bytes()
            if path.name == "meta.json":
                meta = json.loads(path.read_bytes())
                assert sorted(meta.pop("timings_s")) == ["extras", "grid", "landmarks", "orient", "volumes"]
                files[path.relative_to(out).as_posix()] = json.dumps(meta, sort_keys=True).encode()
    return files


def _assert_same_as_local(out: Path, local: Path) -> None:
    mine, theirs = _tree(out), _tree(local)
    assert sorted(mine) == sorted(theirs)  # no temporary folder of a lost attempt, no missing study
    assert sum(name.endswith("/meta.json") for name in theirs) == N_STUDIES and len(theirs) > 4 * N_STUDIES
    differing = [name for name in theirs if mine[name] != theirs[name]]
    assert differing == []
    report = json.loads((out / "build_report.json").read_text(encoding="utf-8"))
    assert report["engine"] == "ray" and report["failed"] == [] and len(report["built"]) == N_STUDIES


@pytest.mark.slow
def test_a_two_node_build_spreads_the_studies_and_survives_losing_a_node_mid_build(cluster, cohort, local_build,
                                                                                 tmp_path):
    """One test, one cluster (the Ray nodes are the slow part; pytest-xdist could give two tests two
    clusters): a build over both nodes, then a build during which the second node is killed."""
    cluster.ready()
    second_node = _build_spreads_over_both_nodes(cohort, tmp_path / "spread", cluster, local_build)
    _build_survives_losing_the_second_node(cohort, tmp_path / "killed", cluster, local_build, second_node)


def _build_spreads_over_both_nodes(cohort: Path, out: Path, cluster: Cluster, local_build: Path) -> str:
    """Both nodes build studies; returns the Ray node id of the second node."""
    build = _ray_build(cohort, out, cluster)
    workers_seen: dict[int, set[int]] = {cluster.head_group: set(), cluster.worker_group: set()}
    deadline = time.monotonic() + BUILD_TIMEOUT
    while build.poll() is None and time.monotonic() < deadline:  # each node's task processes, from /proc
        for group, seen in workers_seen.items():
            seen.update(pid for pid, cmd in _node_processes(group).items() if cmd.startswith(b"ray::"))
        time.sleep(0.02)
    _finish(build)
    log = _task_log(out)
    assert sorted(r["key"] for r in log) == sorted(p.name for p in (local_build / "cache").iterdir())
    assert {r["status"] for r in log} == {"built"}
    per_group = Counter(next((g for g, seen in workers_seen.items() if r["pid"] in seen), None) for r in log)
    per_node = Counter(r["node_id"] for r in log)
    print(f"studies per node: {dict(per_node)}; per process group: {dict(per_group)}")
    assert per_group[cluster.head_group] >= 1 and per_group[cluster.worker_group] >= 1
    assert sum(per_group.values()) == N_STUDIES and None not in per_group
    node_of_group = {(g, r["node_id"]) for r in log for g, seen in workers_seen.items() if r["pid"] in seen}
    assert len(node_of_group) == len(per_node) == 2  # what Ray says ran where agrees with /proc
    _assert_same_as_local(out, local_build)
    return next(node for group, node in node_of_group if group == cluster.worker_group)


def _build_survives_losing_the_second_node(cohort: Path, out: Path, cluster: Cluster, local_build: Path,
                                           second_node: str) -> None:
    """The second node is killed (SIGKILL to all its processes) once the first results are in and
    while it builds a study; that study's task is re-run on the head, and nothing is lost or torn."""
    build = _ray_build(cohort, out, cluster)
    killed_while_running = None
    deadline = time.monotonic() + BUILD_TIMEOUT
    while build.poll() is None and time.monotonic() < deadline:
        members = _node_processes(cluster.worker_group)
        running = [pid for pid, cmd in members.items() if cmd.startswith(TASK_TITLE)]
        log = _task_log(out)
        if running and log:  # the first results are in and the second node is building a study
            done_there = [r for r in log if r["pid"] in members]
            _signal_node(cluster.worker_group, signal.SIGKILL, {})  # raylet, agents and workers at once
            temporary = [p.name for p in (out / "cache").iterdir() if p.name.endswith(".tmp")]
            killed_while_running = (running, done_there, temporary)
            break
        time.sleep(0.005)
    assert killed_while_running, "the build finished before the second node was seen mid-study; use more studies"
    _finish(build)
    running, done_there, temporary = killed_while_running
    log = _task_log(out)
    per_node = Counter(r["node_id"] for r in log)
    print(f"killed the second node (pids {running} running a study) after it built {len(done_there)}, "
          f"temporary folders then {temporary}; studies per node: {dict(per_node)}")
    assert {r["node_id"] for r in done_there} <= {second_node}
    assert len(done_there) <= per_node[second_node] <= len(done_there) + len(running)  # at most a result in flight
    assert sorted(r["key"] for r in log) == sorted(p.name for p in (local_build / "cache").iterdir())  # each once
    assert {r["status"] for r in log} == {"built"}
    _assert_same_as_local(out, local_build)


def test_a_task_ray_gave_up_on_is_one_failed_study_not_a_failed_build():
    import ray

    from vipet.data.build import _ref_path
    from vipet.data.ray_cluster import TASK_RETRIES, _result

    crash = ray.exceptions.WorkerCrashedError()  # what a task whose worker died raises from ray.get

    def lost(_):
        raise crash

    ref = SimpleNamespace(key="2018_03_02_patient_1", paths={"ct": "/data/CT/day_2_patient_1.npz"})
    failed = _result(SimpleNamespace(get=lost, exceptions=ray.exceptions), object(), ref, _ref_path)
    assert failed == {"key": "2018_03_02_patient_1", "path": "/data/CT/day_2_patient_1.npz", "status": "failed",
                      "reason": f"Ray task lost after {TASK_RETRIES} retries (WorkerCrashedError: "
                                f"{str(crash).splitlines()[0]})",
                      "notes": [], "seconds": 0.0, "peak_rss_mb": 0.0}
    built = {"key": ref.key, "status": "built"}
    assert _result(SimpleNamespace(get=lambda _: built, exceptions=ray.exceptions), object(), ref, _ref_path) is built


def test_the_ray_engine_without_ray_names_the_extra(monkeypatch, tmp_path):
    from vipet.data.ray_cluster import run_on_ray
    from vipet.errors import BuildError

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(BuildError, match=r"pip install 'vipet\[ray\]'"):
        next(run_on_ray(dict, [(None, str(tmp_path))], 1, None, str))


def test_an_address_nobody_answers_on_is_a_build_error_at_once(tmp_path):
    from vipet.data.ray_cluster import run_on_ray
    from vipet.errors import BuildError

    port = _free_port()  # closed again: nothing listens there
    with pytest.raises(BuildError, match=f"no Ray cluster answers at '127.0.0.1:{port}'"):
        next(run_on_ray(dict, [(None, str(tmp_path))], 1, f"127.0.0.1:{port}", str))
