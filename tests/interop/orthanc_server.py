"""A real Orthanc PACS for the interop tests: started once per session on loopback, stopped by pid.

Each session writes a temporary configuration (storage and index in a temporary folder, HTTP and
DICOM ports free on 127.0.0.1, remote access off, authentication on with one registered user, the
DICOMweb plugin loaded) and starts `/usr/sbin/Orthanc` on it. Where the Debian packages `orthanc`
and `orthanc-dicomweb` are not installed the tests that need it skip and say which is missing.

The fixture is imported by each test module that needs it (`from orthanc_server import orthanc`);
a module-level registry makes every import share one server per session.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

BINARY_CANDIDATES = ("/usr/sbin/Orthanc", "/usr/bin/Orthanc", "/usr/local/sbin/Orthanc", "/usr/local/bin/Orthanc")
PLUGIN_CANDIDATES = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/local/share/orthanc/plugins/libOrthancDicomWeb.so",
)
USER, PASSWORD = "vipet-test", "s3cret-for-tests"
START_TIMEOUT_S = 30.0
_SERVERS: dict[str, "OrthancServer"] = {}


@dataclass
class OrthancServer:
    """A running Orthanc: its REST root, DICOMweb root, credentials and process."""

    url: str
    dicomweb: str
    user: str
    password: str
    process: subprocess.Popen
    log: Path

    def get(self, path: str, **params) -> requests.Response:
        response = requests.get(self.url + path, params=params, auth=(self.user, self.password), timeout=10)
        response.raise_for_status()
        return response


def find_binary() -> str | None:
    for candidate in (shutil.which("Orthanc"), *BINARY_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def find_plugin() -> str | None:
    return next((p for p in PLUGIN_CANDIDATES if Path(p).is_file()), None)


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(folder: Path, binary: str, plugin: str) -> OrthancServer:
    """Start Orthanc with a fresh configuration and storage under `folder`; wait until /system answers."""
    storage = folder / "storage"
    storage.mkdir(parents=True)
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "vipet-test",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StableAge": 1,
    }
    config_path = folder / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    log = folder / "orthanc.log"
    with log.open("wb") as handle:
        process = subprocess.Popen([binary, str(config_path)], stdout=handle, stderr=subprocess.STDOUT, cwd=folder)
    url = f"http://127.0.0.1:{http_port}"
    server = OrthancServer(url=url, dicomweb=f"{url}/dicom-web", user=USER, password=PASSWORD, process=process, log=log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if requests.get(url + "/system", auth=(USER, PASSWORD), timeout=1).ok:
                return server
        except requests.exceptions.RequestException:
            pass
        time.sleep(0.2)
    stop(server)
    raise RuntimeError(f"Orthanc did not answer on {url} within {START_TIMEOUT_S:.0f} s: "
                       f"{log.read_text(errors='replace')[-2000:]}")


def stop(server: OrthancServer) -> None:
    """Terminate the server by its pid, then kill it if it does not exit in 10 s (idempotent)."""
    process = server.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory) -> OrthancServer:
    """One Orthanc for the session (skips with the reason when Orthanc or its DICOMweb plugin is absent)."""
    binary, plugin = find_binary(), find_plugin()
    if binary is None:
        pytest.skip("Orthanc not installed (Debian package `orthanc`: apt-get install orthanc)")
    if plugin is None:
        pytest.skip("Orthanc DICOMweb plugin not installed (Debian package `orthanc-dicomweb`), looked in "
                    + ", ".join(PLUGIN_CANDIDATES))
    server = _SERVERS.get("session")
    if server is None or server.process.poll() is not None:
        server = _SERVERS["session"] = start(tmp_path_factory.mktemp("orthanc"), binary, plugin)
    yield server
    stop(server)
