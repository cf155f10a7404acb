"""The example robot (examples/rpa/robot.py, written on the SDK) with real Chromium under the
real worker, in both handler modes, against the mock portal."""
from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

from rpa_orchestrator import Client

from conftest import ROOT, wait_until

EXAMPLES = ROOT / "examples" / "rpa"


class Portal:
    def __init__(self, python: str, directory: Path) -> None:
        port_file = directory / "portal.port"
        self.process = subprocess.Popen([python, str(EXAMPLES / "portal.py"), "--port", "0", "--port-file", str(port_file)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(lambda: port_file.exists() and port_file.read_text().strip() != "", timeout=20), "portal did not start"
        self.url = f"http://127.0.0.1:{port_file.read_text().strip()}"

    def stats(self) -> Dict[str, Any]:
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as answer:
            return json.loads(answer.read())


@pytest.fixture
def portal(robot_python: str, tmp_path: Path) -> Iterator[Portal]:
    p = Portal(robot_python, tmp_path)
    yield p
    p.process.terminate()
    p.process.wait(timeout=10)


def collect(client: Client, queue: str, count: int, timeout: float) -> List[Dict[str, Any]]:
    got: List[Dict[str, Any]] = []
    for record in client.results(queue, timeout=timeout):
        got.append(record)
        if len(got) == count:
            break
    return got


@pytest.mark.parametrize("mode", ["persistent", "exec"])
def test_robot_confirms_records_and_fails_a_missing_one(mode: str, robot_python: str, portal: Portal, client: Client,
                                                        start_worker: Callable[..., Any]) -> None:
    command = f"{robot_python} {EXAMPLES / 'robot.py'}" + (" --exec" if mode == "exec" else "")
    env = {"PORTAL_URL": portal.url, "RPA_USER": "robot", "RPA_PASSWORD": "secret", "ROBOT_TIMEOUT_MS": "20000",
           "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    ids = client.enqueue_many("conferencia", [{"record": "R-1"}, {"record": "missing-7"}, {"record": "R-2"}])
    worker = start_worker("conferencia", command, mode=mode, extra=["--max-attempts", "1", "--job-timeout", "120s"], env=env)
    records = collect(client, "conferencia", 3, timeout=180)
    assert len(records) == 3, worker.text()
    by_id = {r["job_id"]: r for r in records}
    confirmations = portal.stats()["confirmations"]
    for job_id, record in zip(ids, ["R-1", None, "R-2"]):
        r = by_id[job_id]
        if record is None:
            assert r["status"] == "failed" and "record missing-7 does not exist" in r["error"], r
            continue
        out = r["output"] if mode == "persistent" else json.loads(r["output"])
        assert r["status"] == "ok" and out == {"record": record, "confirmation": confirmations[record]}, r
    logins = portal.stats()["logins"]
    assert logins == (1 if mode == "persistent" else 3), f"persistent: one login per browser; exec: one per job ({logins})"
    assert worker.stop() == 0
