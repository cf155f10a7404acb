"""The Client against a real redis-server (and the real worker / orchestrator binaries)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import redis

from rpa_orchestrator import Client, KeyTypeError

from conftest import wait_until

FAIL_HANDLER = """
from rpa_orchestrator import serve
def run(job, state):
    if job.payload.startswith("bad"):
        raise RuntimeError("cannot do " + job.payload)
    return "done " + job.payload
serve(run)
"""


def test_enqueue_encodes_payloads_and_keeps_fifo(client: Client, url: str, prefix: str) -> None:
    raw = redis.Redis.from_url(url)
    ids = [client.enqueue("q", {"record": "R-1", "amount": "1,50 €"}), client.enqueue("q", "plain text"),
           client.enqueue("q", b"\xff\x00bin"), client.enqueue("q", "plain text")]
    assert len(set(ids)) == 4, "the same payload twice: two jobs, two ids"
    for job_id, payload in zip(ids, ['{"record":"R-1","amount":"1,50 €"}'.encode(), b"plain text", b"\xff\x00bin", b"plain text"]):
        assert raw.rpop(prefix + "q") == b"\x1erpa:1 0 0 " + job_id.encode() + b"\n" + payload


def test_results_pop_each_record_once(client: Client, url: str, prefix: str) -> None:
    raw = redis.Redis.from_url(url)
    for n in range(3):
        raw.lpush(prefix + "q:results", json.dumps({"queue": "q", "status": "ok", "output": n, "attempts": 1}))
    assert [r["output"] for r in client.results("q", block=False)] == [0, 1, 2], "oldest first"
    assert list(client.results("q", block=False)) == [], "popped: gone"
    assert list(client.results("q", block=True, timeout=0.3)) == [], "a blocking read ends after timeout with nothing"


def test_wrong_key_type_names_the_key(client: Client, url: str, prefix: str) -> None:
    redis.Redis.from_url(url).set(prefix + "q:results", "by hand")
    with pytest.raises(KeyTypeError) as caught:
        list(client.results("q", block=False))
    assert caught.value.key == prefix + "q:results" and prefix + "q:results" in str(caught.value)
    redis.Redis.from_url(url).set(prefix + "q", "by hand")
    with pytest.raises(KeyTypeError, match=prefix + "q:"):
        client.enqueue("q", "x")


def test_bad_queue_name_is_refused(client: Client) -> None:
    with pytest.raises(ValueError, match="queue name"):
        client.enqueue("a:b", "x")


def test_password_from_environment(monkeypatch: pytest.MonkeyPatch, redis_port: int, prefix: str) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{redis_port}/0")
    monkeypatch.setenv("REDIS_PASSWORD", "not-needed-here")
    c = Client(prefix=prefix)
    assert c.redis.connection_pool.connection_kwargs["password"] == "not-needed-here"
    assert c.redis.connection_pool.connection_kwargs["port"] == redis_port


def test_dead_letters_and_requeue(client: Client, handler_file: Callable[[str], str], start_worker: Callable[..., Any],
                                  tmp_path: Path) -> None:
    ids = client.enqueue_many("q", ["bad-1", "good-1", "bad-2"])
    command = handler_file(FAIL_HANDLER)
    worker = start_worker("q", command, mode="persistent", extra=["--max-attempts", "1"])
    records = {r["job_id"]: r for r in _take(client, "q", 3)}
    assert records[ids[1]]["status"] == "ok" and records[ids[0]]["status"] == "failed"
    dead = client.dead("q")
    assert [d["id"] for d in dead] == [ids[2], ids[0]], "newest first, each with its job id"
    assert "RuntimeError: cannot do bad-1" in dead[1]["error"] and dead[1]["attempts"] == 1
    worker.stop()
    assert client.requeue_dead("q", ids[0][:12]) == 1
    assert [d["id"] for d in client.dead("q")] == [ids[2]]
    assert client.redis.lrange(client.key("q"), 0, -1)[-1] == f"\x1erpa:1 0 0 {ids[0]}\nbad-1".encode(), \
        "back at the front of the queue, attempts reset, its id kept"


def _take(client: Client, queue: str, count: int) -> list:
    got = []
    for r in client.results(queue, timeout=60):
        got.append(r)
        if len(got) == count:
            break
    return got


VOLATILE = {"job_age_seconds", "last_seen_seconds"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_status_matches_orchestrator_status_json(client: Client, url: str, prefix: str, bin_dir: Path,
                                                 handler_file: Callable[[str], str], start_worker: Callable[..., Any]) -> None:
    client.enqueue_many("q", ["bad-x", "good-y"])
    start_worker("q", handler_file(FAIL_HANDLER), mode="exec", extra=["--max-attempts", "1"])
    assert len(_take(client, "q", 2)) == 2
    client.enqueue_many("q", ["later-1", "later-2"])
    raw = redis.Redis.from_url(url)
    raw.sadd(f"orchestrator:{prefix}paused", "q")  # the worker stops taking jobs: the numbers hold still
    assert wait_until(lambda: raw.llen(prefix + "q") == 2 or raw.llen(prefix + "q") == 0, timeout=10)

    def both(queues: Any) -> Dict[str, Any]:
        args = [str(bin_dir / "orchestrator"), "status", "--json", "--redis-url", url, "--prefix", prefix] + \
            sum((["--queue", q] for q in queues or []), [])
        cli = subprocess.run(args, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
        assert cli.returncode == 0, cli.stderr
        return {"cli": _stable(json.loads(cli.stdout)), "sdk": _stable(client.status(queues))}

    for queues in (None, ["q"], ["q", "other"]):
        # A heartbeat may be rewritten between the two reads (memory figures): compare again then.
        for _ in range(5):
            got = both(queues)
            if got["sdk"] == got["cli"]:
                break
        assert got["sdk"] == got["cli"], queues
    assert got["sdk"]["queues"][0]["dead_now"] == 1 and got["sdk"]["queues"][0]["paused"] is True
    assert got["sdk"]["workers"][0]["queue"] == "q"
    raw.set(prefix + "q:retry", "by hand")  # a key of the wrong type: named, the rest still read
    got = both(["q"])
    assert got["sdk"] == got["cli"]
    assert got["sdk"]["queues"][0]["readable"] is False and got["sdk"]["queues"][0]["unreadable_key"] == prefix + "q:retry"


ECHO_HANDLER = """
import os
from rpa_orchestrator import serve
def run(job, state):
    if job.payload == "die" and job.attempt == 1:  # SIGKILL our own worker (this test started it)
        with open(f"/proc/{os.getppid()}/comm") as comm:
            assert comm.read().strip() == "worker"
        os.kill(os.getppid(), 9)
    if job.payload == "bad":
        raise RuntimeError("bad payload")
    return {"id": job.id, "payload": job.payload, "attempt": job.attempt}
serve(run)
"""


def test_identical_payloads_are_two_jobs_each_found_by_its_id(client: Client, handler_file: Callable[[str], str],
                                                                start_worker: Callable[..., Any]) -> None:
    first, second = client.enqueue("q", "daily report"), client.enqueue("q", "daily report")
    dead = client.enqueue("q", "bad")
    start_worker("q", handler_file(ECHO_HANDLER), mode="persistent", extra=["--max-attempts", "1"])
    a, b = client.wait_result(first, timeout=60), client.wait_result(second, timeout=60)
    assert a is not None and b is not None
    assert (a["job_id"], b["job_id"]) == (first, second) and a["output"]["id"] == first and b["output"]["id"] == second
    assert a["output"]["payload"] == "daily report", "the handler sees the bare payload"
    failed = client.wait_result(dead, timeout=60)
    assert failed is not None and failed["status"] == "failed" and "bad payload" in failed["error"]
    assert client.dead("q")[0]["id"] == dead
    assert len(list(client.results("q", block=False))) == 3, "the writer's list is unchanged: one record per job"
    assert client.wait_result(first, timeout=0) == a, "still findable by id after the writer popped it"
    ttl = client.redis.pttl(client.result_key(first))
    assert 0 < ttl <= 86_400_000, f"kept for --result-ttl (24 h by default): {ttl}"


def test_plain_lpush_jobs_keep_the_payload_sha1_and_no_result_key(client: Client, url: str, prefix: str,
                                                                   handler_file: Callable[[str], str],
                                                                   start_worker: Callable[..., Any]) -> None:
    import hashlib
    redis.Redis.from_url(url).lpush(prefix + "q", "plain producer")
    start_worker("q", handler_file(ECHO_HANDLER), mode="exec")
    [record] = _take(client, "q", 1)
    assert record["job_id"] == hashlib.sha1(b"plain producer").hexdigest()
    assert json.loads(record["output"])["id"] == record["job_id"], "JOB_ID is the SHA-1"
    assert client.wait_result(record["job_id"], timeout=0) is None
    assert list(redis.Redis.from_url(url).scan_iter(match=f"orchestrator:{prefix}result:*")) == []


def test_result_ttl_option(client: Client, handler_file: Callable[[str], str], start_worker: Callable[..., Any]) -> None:
    kept, gone = client.enqueue("q", "one"), None
    start_worker("q", handler_file(ECHO_HANDLER), mode="persistent", extra=["--result-ttl", "2m"])
    assert client.wait_result(kept, timeout=60) is not None
    assert 0 < client.redis.pttl(client.result_key(kept)) <= 120_000
    client.redis.delete(client.result_key(kept))
    start_worker("r", handler_file(ECHO_HANDLER, "h2.py"), mode="persistent", extra=["--result-ttl", "0"])
    gone = client.enqueue("r", "two")
    assert len(_take(client, "r", 1)) == 1
    assert client.wait_result(gone, timeout=0) is None, "--result-ttl 0: results only in the list"


def test_a_job_whose_worker_died_keeps_its_id(client: Client, handler_file: Callable[[str], str],
                                              start_worker: Callable[..., Any]) -> None:
    job_id = client.enqueue("q", "die")
    worker = start_worker("q", handler_file(ECHO_HANDLER), mode="persistent")
    assert wait_until(lambda: worker.process.poll() is not None, timeout=60), "the handler killed its worker"
    # A standalone worker requeues a dead owner's jobs once its heartbeat expired (<= 10 s).
    start_worker("q", handler_file(ECHO_HANDLER), mode="persistent")
    record = client.wait_result(job_id, timeout=90)
    assert record is not None, "found by its id after recovery"
    assert record["status"] == "ok" and record["attempts"] == 2 and record["output"] == {"id": job_id, "payload": "die", "attempt": 2}


def _lpush_calls(conn: "redis.Redis") -> int:
    return int(conn.info("commandstats").get("cmdstat_lpush", {}).get("calls", 0))


def test_enqueue_many_is_one_round_trip_per_thousand(client: Client, url: str) -> None:
    conn = redis.Redis.from_url(url)
    before = _lpush_calls(conn)
    assert len(client.enqueue_many("q", (f"job {i}" for i in range(1000)))) == 1000
    assert _lpush_calls(conn) - before == 1
    client.enqueue_many("q", (f"job {i}" for i in range(2001)))
    assert _lpush_calls(conn) - before == 1 + 3
    assert conn.llen(client.key("q")) == 3001
