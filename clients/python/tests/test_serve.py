"""`serve()` under the real worker binary, in both handler modes."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from rpa_orchestrator import Client

from conftest import wait_until

MODES = ["exec", "persistent"]

HANDLER = """
import os, sys
from rpa_orchestrator import serve, Job, Restart

def setup():
    with open(os.environ["SETUPS"], "a") as f:
        f.write(f"{os.getpid()}\\n")
    return {"pid": os.getpid()}

def run(job: Job, state):
    kind = job.payload if isinstance(job.payload, str) else "bytes"
    if kind == "bytes":
        return {"type": type(job.payload).__name__, "hex": job.payload.hex()}
    if kind == "boom":
        raise ValueError("the portal said no")
    if kind == "restart":
        raise Restart("browser is beyond saving")
    if kind == "crash":
        os._exit(3)
    if kind == "print":
        print("stray print to stdout")
        os.system("echo stray child output")
        return "clean output"
    data = job.json()
    return {"confirmation": "C-" + str(data["record"]), "attempt": job.attempt, "id": job.id, "queue": job.queue,
            "pid": state["pid"]}

def teardown(state):
    print("teardown", state["pid"], file=sys.stderr)

serve(run, setup=setup, teardown=teardown)
"""


@pytest.fixture
def robot(handler_file: Callable[[str], str], start_worker: Callable[..., Any], tmp_path: Path) -> Callable[..., Any]:
    setups = tmp_path / "setups"
    setups.write_text("")

    def start(mode: str, queue: str = "q") -> Any:
        worker = start_worker(queue, handler_file(HANDLER), mode=mode, extra=["--max-attempts", "1"], env={"SETUPS": str(setups)})
        worker.setups = lambda: [line for line in setups.read_text().splitlines() if line]
        return worker
    return start


def results(client: Client, queue: str, count: int, timeout: float = 60.0) -> List[Dict[str, Any]]:
    got: List[Dict[str, Any]] = []
    for record in client.results(queue, block=True, timeout=timeout):
        got.append(record)
        if len(got) == count:
            break
    assert len(got) == count, f"{len(got)} of {count} results within {timeout}s"
    return got


def output(record: Dict[str, Any]) -> Any:
    """Persistent mode stores a dict output as JSON, exec mode stdout as a string."""
    out = record["output"]
    return json.loads(out) if isinstance(out, str) and out.startswith("{") else out


@pytest.mark.parametrize("mode", MODES)
def test_ok_output_and_job_fields(mode: str, client: Client, robot: Callable[..., Any]) -> None:
    job_id = client.enqueue("q", {"record": "R-17"})
    worker = robot(mode)
    [record] = results(client, "q", 1)
    assert record["status"] == "ok", record
    out = output(record)
    assert out["confirmation"] == "C-R-17" and out["attempt"] == 1 and out["queue"] == "q"
    assert out["id"] == job_id == record["job_id"]
    if mode == "persistent":
        assert isinstance(record["output"], dict), "a dict output is stored as JSON"
    assert worker.stop() == 0
    assert "teardown" in worker.text(), "teardown runs on stdin EOF"


@pytest.mark.parametrize("mode", MODES)
def test_exception_fails_the_job_with_type_and_message(mode: str, client: Client, robot: Callable[..., Any]) -> None:
    client.enqueue("q", "boom")
    client.enqueue("q", {"record": "R-2"})
    worker = robot(mode)
    first, second = results(client, "q", 2)
    assert first["status"] == "failed"
    assert "ValueError: the portal said no" in first["error"]
    assert second["status"] == "ok", "the handler keeps serving after a failed job"
    assert client.dead("q")[0]["error"] == first["error"]
    if mode == "persistent":
        assert len(worker.setups()) == 1, "an exception does not restart the handler"
        assert "Traceback" in worker.text(), "the traceback goes to the worker's log"


@pytest.mark.parametrize("mode", MODES)
def test_restart_fails_the_job_and_restarts_the_handler(mode: str, client: Client, robot: Callable[..., Any]) -> None:
    client.enqueue_many("q", ["restart", {"record": "R-3"}])
    worker = robot(mode)
    first, second = results(client, "q", 2)
    assert first["status"] == "failed" and "Restart: browser is beyond saving" in first["error"]
    assert second["status"] == "ok"
    setups = worker.setups()
    assert len(setups) == 2, f"setup once per handler process: {setups}"
    if mode == "persistent":
        assert output(second)["pid"] == int(setups[1]), "the next job ran in the fresh handler"


@pytest.mark.parametrize("mode", MODES)
def test_non_utf8_payload_arrives_as_bytes(mode: str, client: Client, robot: Callable[..., Any]) -> None:
    client.enqueue("q", b"\xff\x00\xfe-raw")
    robot(mode)
    [record] = results(client, "q", 1)
    assert record["status"] == "ok", record
    assert output(record) == {"type": "bytes", "hex": "ff00fe2d726177"}
    assert record["payload_encoding"] == "base64"


@pytest.mark.parametrize("mode", MODES)
def test_stray_print_goes_to_the_log_not_the_answer(mode: str, client: Client, robot: Callable[..., Any]) -> None:
    client.enqueue_many("q", ["print", {"record": "R-4"}])
    worker = robot(mode)
    first, second = results(client, "q", 2)
    assert first["status"] == "ok" and first["output"] == "clean output", first
    assert second["status"] == "ok"
    assert wait_until(lambda: "stray print to stdout" in worker.text() and "stray child output" in worker.text(), timeout=10), worker.text()
    if mode == "persistent":
        assert len(worker.setups()) == 1, "the stray output did not cost a handler restart"


@pytest.mark.parametrize("mode", MODES)
def test_handler_crashing_mid_job(mode: str, client: Client, robot: Callable[..., Any]) -> None:
    client.enqueue_many("q", ["crash", {"record": "R-5"}])
    worker = robot(mode)
    first, second = results(client, "q", 2)
    assert first["status"] == "failed", first
    assert second["status"] == "ok", "a fresh handler takes the next job"
    assert len(worker.setups()) == 2


def test_thousand_jobs_enqueued_in_batches_all_answered(client: Client, robot: Callable[..., Any]) -> None:
    ids = client.enqueue_many("q", [{"record": f"R-{i}"} for i in range(1000)])
    assert len(ids) == 1000 and len(set(ids)) == 1000
    robot("persistent")
    records = results(client, "q", 1000, timeout=120)
    assert all(r["status"] == "ok" for r in records)
    assert [output(r)["confirmation"] for r in records] == [f"C-R-{i}" for i in range(1000)], "FIFO order kept"
    assert {r["job_id"] for r in records} == set(ids)
    found = [client.wait_result(job_id, timeout=10) for job_id in ids]
    assert all(r is not None and r["status"] == "ok" for r in found)
    assert [output(r)["confirmation"] for r in found] == [f"C-R-{i}" for i in range(1000)], "each found by its own id"
