"""Fixtures: a private redis-server, the real built `worker` binary, handlers written to temp files.

The worker comes from `$RPA_BIN_DIR` (set by scripts/test) or `swift build --show-bin-path`.
Nothing here signals a process it did not start.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest
import redis

from rpa_orchestrator import Client

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn = redis.Redis(port=port, socket_timeout=2)
    assert wait_until(lambda: _pings(conn), timeout=10), "redis-server did not start"
    yield port
    server.terminate()
    server.wait(timeout=10)


def _pings(conn: "redis.Redis[bytes]") -> bool:
    try:
        return bool(conn.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    path = os.environ.get("RPA_BIN_DIR")
    if not path:
        path = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    directory = Path(path)
    if not (directory / "worker").exists():
        pytest.fail(f"no worker binary in {directory}: run `swift build` first (or scripts/test)")
    return directory


_counter = [0]


@pytest.fixture
def prefix() -> str:
    _counter[0] += 1
    return f"sdk{os.getpid()}x{_counter[0]}:"


@pytest.fixture
def url(redis_port: int) -> str:
    return f"redis://127.0.0.1:{redis_port}/0"


@pytest.fixture
def client(url: str, prefix: str) -> Iterator[Client]:
    c = Client(url, prefix=prefix)
    yield c
    c.close()


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)


@pytest.fixture
def handler_file(tmp_path: Path) -> Callable[[str], str]:
    """Writes a handler script; returns the command that runs it with this Python."""
    def write(source: str, name: str = "handler.py") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        return f"{sys.executable} {path}"
    return write


@pytest.fixture
def start_worker(bin_dir: Path, url: str, prefix: str, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: List[Worker] = []

    def start(queue: str, handler: str, mode: str = "exec", extra: Optional[List[str]] = None,
              env: Optional[dict] = None) -> Worker:
        log = tmp_path / f"worker-{queue}-{len(started)}.log"
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LOG_TO": "stderr"}
        environment.update(env or {})
        args = [str(bin_dir / "worker"), "--queue", queue, "--slot", str(len(started) + 1), "--handler", handler,
                "--handler-mode", mode, "--redis-url", url, "--prefix", prefix,
                "--health-file", str(tmp_path / f"health-{len(started)}")] + (extra or [])
        with open(log, "wb") as out:
            process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=environment)
        worker = Worker(process, log)
        started.append(worker)
        return worker

    yield start
    for w in started:
        w.stop()


@pytest.fixture(scope="session")
def robot_python() -> str:
    """The Python of the robot's venv (`RPA_PYTHON`: Playwright and this SDK), with Chromium present."""
    python = os.environ.get("RPA_PYTHON", "")
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/lib/chromium/chromium")
    if not python or not os.access(chromium, os.X_OK):
        pytest.skip("RPA_PYTHON is not set or Debian's chromium is missing: run through scripts/test, which installs both")
    return python
