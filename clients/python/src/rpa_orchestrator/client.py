"""The producer and writer side: enqueue jobs, read results, dead letters and status from Redis.

Keys (prefix `fila:`, queue `q`; see the repository README, "Redis keys"): `fila:q` pending
(producers LPUSH, workers pop from the right), `fila:q:results` result records (LPUSH by workers),
`fila:q:dead` dead letters, `orchestrator:fila:stats:q` counters, and
`orchestrator:fila:result:<job id>` the result of a job this client enqueued (TTL `--result-ttl`).
A job this client enqueues carries its own id in the worker's envelope
(`\\x1erpa:1 0 0 <id>\\n<payload>`), so identical payloads are distinct jobs with distinct results.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
import uuid
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union, cast

import redis

from .errors import KeyTypeError, RPAError
from .status import collect_status

__all__ = ["Client"]

PayloadLike = Union[str, bytes, Any]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
BATCH = 1000


def payload_bytes(payload: PayloadLike) -> bytes:
    """bytes as they are, str as UTF-8, anything else as compact JSON."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def envelope(payload: bytes, job_id: str) -> bytes:
    """The queue element of a job with its own id: the worker's envelope with no attempt made
    (`\\x1erpa:1 0 0 <id>\\n<payload>`); the worker unwraps it, the handler sees the bare payload."""
    return b"\x1erpa:1 0 0 " + job_id.encode("ascii") + b"\n" + payload


def sha1_id(payload: bytes) -> str:
    """The id of a plain payload (what `JOB_ID` is for a plain `LPUSH` producer's job)."""
    return hashlib.sha1(payload).hexdigest()


def record_bytes(record: Dict[str, Any], field: str) -> bytes:
    """A record's bytes field (`payload`, `output`), base64-decoded when `<field>_encoding` says so."""
    value = record.get(field)
    if value is None:
        return b""
    if record.get(f"{field}_encoding") == "base64":
        return base64.b64decode(value)
    return value.encode("utf-8") if isinstance(value, str) else json.dumps(value).encode("utf-8")


class Client:
    """A connection to the queues of one prefix.

    `url` defaults to `REDIS_URL` (else `redis://127.0.0.1:6379/0`); the password may come from
    `REDIS_PASSWORD` instead of the URL. `socket_timeout` bounds every call that does not block
    on purpose. `connection` lets you pass a `redis.Redis` of your own (bytes replies).
    """

    def __init__(self, url: Optional[str] = None, *, prefix: str = "fila:", password: Optional[str] = None,
                 socket_timeout: float = 10.0, connection: Optional["redis.Redis"] = None) -> None:
        self.prefix = prefix
        self.socket_timeout = socket_timeout
        if connection is not None:
            self.redis = connection
            return
        url = url or os.environ.get("REDIS_URL") or DEFAULT_URL
        password = password if password is not None else os.environ.get("REDIS_PASSWORD") or None
        options: Dict[str, Any] = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout}
        if password is not None and "@" not in url:
            options["password"] = password
        self.redis = redis.Redis.from_url(url, **options)

    # --- keys ---------------------------------------------------------------------------------
    def key(self, queue: str, suffix: str = "") -> str:
        """`<prefix><queue>` and its sub-keys: `key(q, "results")` is `fila:q:results`."""
        if not queue or any(c in queue for c in " *?[]:,/\n\r"):
            raise ValueError(f"queue name {queue!r} must not be empty nor contain spaces, ':', ',', '/' or glob characters")
        return self.prefix + queue + (f":{suffix}" if suffix else "")

    @property
    def namespace(self) -> str:
        return f"orchestrator:{self.prefix}"

    def _call(self, key: str, command: str, *args: Any, **options: Any) -> Any:
        try:
            return self.redis.execute_command(command, key, *args, **options)  # type: ignore[no-untyped-call]
        except redis.ResponseError as error:
            raise _keyed(error, key) from error

    # --- producing ----------------------------------------------------------------------------
    def enqueue(self, queue: str, payload: PayloadLike) -> str:
        """Pushes one job (dict/list/number → JSON, str/bytes as is); returns its job id."""
        return self.enqueue_many(queue, [payload])[0]

    def enqueue_many(self, queue: str, payloads: Iterable[PayloadLike]) -> List[str]:
        """Pushes jobs in order (the first is worked first), one round trip per 1,000; their ids."""
        key = self.key(queue)
        ids: List[str] = []
        batch: List[bytes] = []
        for payload in payloads:
            element, job_id = self._element(payload)
            batch.append(element)
            ids.append(job_id)
            if len(batch) == BATCH:
                self._call(key, "LPUSH", *batch)
                batch = []
        if batch:
            self._call(key, "LPUSH", *batch)
        return ids

    def _element(self, payload: PayloadLike) -> Tuple[bytes, str]:
        job_id = uuid.uuid4().hex
        return envelope(payload_bytes(payload), job_id), job_id

    # --- results ------------------------------------------------------------------------------
    def results(self, queue: str, *, block: bool = True, timeout: Optional[float] = None) -> Iterator[Dict[str, Any]]:
        """Pops each result record of `queue` once, oldest first, as a dict.

        `block=False` stops when the list is empty; `block=True` waits for more, forever, or
        until no result came for `timeout` seconds. What is popped is gone from Redis: this is
        what a writer does.
        """
        key = self.key(queue, "results")
        waited_since = time.monotonic()
        while True:
            if not block:
                raw = self._call(key, "RPOP")
            else:
                step = 1.0 if timeout is None else max(0.01, min(1.0, timeout - (time.monotonic() - waited_since)))
                raw = self._brpop(key, step)
            if raw is None:
                if not block or (timeout is not None and time.monotonic() - waited_since >= timeout):
                    return
                continue
            waited_since = time.monotonic()
            yield self._record(key, raw)

    def _brpop(self, key: str, timeout: float) -> Optional[bytes]:
        try:
            reply = self.redis.brpop([key], timeout=timeout)
        except redis.ResponseError as error:
            raise _keyed(error, key) from error
        return None if reply is None else cast(bytes, reply[1])

    @staticmethod
    def _record(key: str, raw: bytes) -> Dict[str, Any]:
        try:
            record = json.loads(raw)
        except ValueError as error:
            raise RPAError(f"{key}: an entry is not JSON: {raw[:80]!r}") from error
        if not isinstance(record, dict):
            raise RPAError(f"{key}: an entry is not a JSON object: {raw[:80]!r}")
        return record

    def result_key(self, job_id: str) -> str:
        """`orchestrator:<prefix>result:<job id>`: where a job's result waits, for `--result-ttl`."""
        return f"{self.namespace}result:{job_id}"

    def wait_result(self, job_id: str, timeout: float = 60.0) -> Optional[Dict[str, Any]]:
        """The result record of a job this client enqueued, waiting up to `timeout` seconds (0:
        look once); None if it has not finished by then. The record stays for `--result-ttl`
        (default 24 h) after the job ended, whether or not a writer popped it from the list."""
        key = self.result_key(job_id)
        deadline = time.monotonic() + timeout
        pause = 0.01
        while True:
            raw = self._call(key, "GET")
            if raw is not None:
                return self._record(key, raw)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.25)

    # --- dead letters -------------------------------------------------------------------------
    def dead(self, queue: str, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """Dead letters of `queue`, newest first, each with `id` (its job id) added."""
        key = self.key(queue, "dead")
        stop = -1 if limit is None else max(0, limit - 1)
        entries = []
        for raw in self._call(key, "LRANGE", 0, stop):
            entries.append(self._dead_entry(key, raw))
        return entries

    def _dead_entry(self, key: str, raw: bytes) -> Dict[str, Any]:
        try:
            entry = json.loads(raw)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            entry = {"payload": raw.decode("utf-8", "replace"), "error": "not a dead-letter record"}
        entry["id"] = entry.get("job_id") or sha1_id(record_bytes(entry, "payload"))
        entry["_raw"] = raw
        return entry

    def requeue_dead(self, queue: str, job_id: str) -> int:
        """Moves the dead jobs whose id starts with `job_id` (8+ characters) back to the front of
        the queue, attempts reset, each in one atomic step; returns how many moved."""
        if len(job_id) < 8:
            raise ValueError("job_id: give at least 8 characters of the id")
        key = self.key(queue, "dead")
        moved = 0
        for entry in self.dead(queue):
            if not entry["id"].startswith(job_id.lower()):
                continue
            element = self._requeue_element(entry)
            try:
                moved += int(self.redis.eval(_REQUEUE_DEAD, 2, key, self.key(queue), entry["_raw"], element))
            except redis.ResponseError as error:
                raise _keyed(error, key) from error
        return moved

    @staticmethod
    def _requeue_element(entry: Dict[str, Any]) -> bytes:
        """The bare payload, or for a job with its own id an envelope keeping that id."""
        payload = record_bytes(entry, "payload")
        job_id = entry.get("job_id") or ""
        if job_id and job_id != sha1_id(payload) and _INSTANCE_ID.match(job_id):
            return envelope(payload, job_id)
        return payload

    # --- status -------------------------------------------------------------------------------
    def status(self, queues: Optional[List[str]] = None) -> Dict[str, Any]:
        """What `orchestrator status --json` prints, read from Redis."""
        return collect_status(self.redis, self.prefix, queues)

    def close(self) -> None:
        self.redis.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# The same script as the orchestrator's `dead --requeue` (QueueScripts.requeueDead): remove the
# entry; only if it was there, push the job to the front of the queue.
_REQUEUE_DEAD = """
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
"""


_INSTANCE_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def _keyed(error: redis.ResponseError, key: str) -> RPAError:
    text = str(error)
    if text.startswith("WRONGTYPE"):
        return KeyTypeError(key, text)
    return RPAError(f"{key}: {text}")
