"""The handler side: `serve(run, setup=..., teardown=...)` speaks the worker's handler protocol.

Persistent mode (`--handler-mode persistent`): one JSON request line per job on stdin,
`{"id","queue","attempt","payload"[,"payload_encoding":"base64"]}`, one JSON answer line on
stdout, `{"status":"ok","output":...}` or `{"status":"failed","error":...[,"restart":true]}`.
Exec mode (the worker's default): the payload is stdin, the job is described by `JOB_ID`,
`JOB_QUEUE`, `JOB_ATTEMPT`; the output is stdout, a non-zero exit status fails the attempt and the
last line of stderr is its error.

stdout carries answers only: `serve` points file descriptor 1 (and `sys.stdout`) at stderr, the
worker's log, so a stray `print()` (or a child process writing to stdout) cannot corrupt the
protocol; answers go to a private duplicate of the original stdout.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Dict, Optional, Union

__all__ = ["Job", "Restart", "serve"]

log = logging.getLogger("rpa_orchestrator")

Payload = Union[str, bytes]


class Restart(Exception):
    """Fail this job and have the worker start a fresh handler (setup again) before the next one.

    Raise it when the state is beyond saving: the browser died, the session is poisoned.
    In exec mode it fails the job like any exception (every job has a fresh process anyway).
    """


class _Terminated(BaseException):
    """SIGTERM: leave the loop (not an `Exception`, so `run` cannot swallow it)."""


@dataclass(frozen=True)
class Job:
    """One job as the handler sees it.

    `id` names this job instance (a per-instance id for jobs a `Client` enqueued, else the
    payload's SHA-1); `attempt` counts from 1; `payload` is a `str`, or `bytes` when the payload
    is not valid UTF-8.
    """

    id: str
    queue: str
    attempt: int
    payload: Payload

    def json(self) -> Any:
        """The payload parsed as JSON (raises `ValueError` when it is not JSON)."""
        return json.loads(self.payload)

    @property
    def payload_bytes(self) -> bytes:
        return self.payload.encode("utf-8") if isinstance(self.payload, str) else self.payload


def _payload(raw: bytes) -> Payload:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _error_text(error: BaseException) -> str:
    message = str(error).strip()
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def _answer_output(value: Any) -> Any:
    """What goes in the answer's `output`: any JSON value; UTF-8 bytes as a string."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise TypeError("run() returned bytes that are not UTF-8; a persistent handler's output must be JSON text") from None
    return value


def _exec_output(value: Any) -> bytes:
    """What exec mode writes to stdout: str and bytes as they are, anything else as JSON."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


class _Channel:
    """stdin and the private answer stream; fd 1 and `sys.stdout` now point at stderr."""

    def __init__(self, stdin: BinaryIO) -> None:
        sys.stdout.flush()
        self.stdin = stdin
        self.out = os.fdopen(os.dup(1), "wb", buffering=0)  # os.dup: close-on-exec, children never see it
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def write(self, data: bytes) -> None:
        self.out.write(data)


def _detect_mode(mode: Optional[str]) -> Optional[str]:
    chosen = mode or os.environ.get("RPA_HANDLER_MODE") or ("exec" if "JOB_ID" in os.environ else None)
    if chosen not in (None, "exec", "persistent"):
        raise ValueError(f"handler mode must be 'exec' or 'persistent', got {chosen!r} (mode= or RPA_HANDLER_MODE)")
    return chosen


def _request(line: bytes) -> Optional[Job]:
    """A persistent request line as a Job, or None when the line is not one."""
    try:
        request = json.loads(line)
    except ValueError:
        return None
    if not isinstance(request, dict) or not isinstance(request.get("id"), str) or "payload" not in request:
        return None
    raw = request.get("payload") or ""
    if request.get("payload_encoding") == "base64":
        payload: Payload = _payload(base64.b64decode(raw))
    else:
        payload = str(raw)
    return Job(id=request["id"], queue=str(request.get("queue", "")), attempt=int(request.get("attempt", 1)), payload=payload)


class _Server:
    def __init__(self, run: Callable[[Job, Any], Any], setup: Optional[Callable[[], Any]],
                 teardown: Optional[Callable[[Any], None]], channel: _Channel) -> None:
        self.run_job = run
        self.setup = setup
        self.teardown = teardown
        self.channel = channel
        self.state: Any = None
        self.setup_error: Optional[BaseException] = None
        self.ready = False

    def start(self) -> None:
        if self.ready:
            return
        self.ready = True
        if self.setup is None:
            return
        try:
            self.state = self.setup()
        except Exception as error:  # reported with the next job, which fails and restarts us
            traceback.print_exc()
            self.setup_error = error

    def stop(self) -> None:
        if self.teardown is not None and self.ready and self.setup_error is None:
            try:
                self.teardown(self.state)
            except Exception:
                traceback.print_exc()

    def call(self, job: Job) -> Dict[str, Any]:
        """Runs one job; the answer as a dict."""
        self.start()
        if self.setup_error is not None:
            return {"status": "failed", "error": "setup failed: " + _error_text(self.setup_error), "restart": True}
        try:
            output = _answer_output(self.run_job(job, self.state))
            json.dumps(output, allow_nan=False)  # not JSON-serializable (or NaN): a failure of this job, not of the protocol
            return {"status": "ok", "output": output}
        except Restart as error:
            log.warning("job.restart id=%s error=%s", job.id[:12], _error_text(error))
            return {"status": "failed", "error": _error_text(error), "restart": True}
        except Exception as error:
            traceback.print_exc()
            return {"status": "failed", "error": _error_text(error)}

    def persistent(self, first: Optional[bytes]) -> int:
        line = first
        while True:
            if line is None:
                line = self.channel.stdin.readline()
                if not line:
                    return 0  # EOF: the worker wants us gone
            if line.strip():
                job = _request(line)
                if job is None:
                    answer = {"status": "failed", "error": f"not a job request line: {line[:80]!r}"}
                else:
                    answer = self.call(job)
                data = json.dumps(answer, ensure_ascii=False).encode("utf-8") + b"\n"
                self.channel.write(data)
            line = None

    def exec_once(self, payload: bytes) -> int:
        job = Job(id=os.environ.get("JOB_ID", ""), queue=os.environ.get("JOB_QUEUE", os.environ.get("WORKER_QUEUE", "")),
                  attempt=int(os.environ.get("JOB_ATTEMPT", "1") or "1"), payload=_payload(payload))
        answer = self.call(job)
        if answer["status"] == "ok":
            self.channel.write(_exec_output(answer["output"]))
            return 0
        # The worker keeps the tail of stderr as the error: the message goes last.
        sys.stderr.write(answer["error"] + "\n")
        sys.stderr.flush()
        return 1


def serve(run: Callable[[Job, Any], Any], *, setup: Optional[Callable[[], Any]] = None,
          teardown: Optional[Callable[[Any], None]] = None, mode: Optional[str] = None,
          stdin: Optional[BinaryIO] = None) -> None:
    """Serves jobs to `run(job, state)` until stdin ends, then exits the process.

    `setup()` runs once per handler process (start a browser, log in) and its return value is
    the `state` passed to every `run` and to `teardown(state)` (stdin EOF or SIGTERM). `run`
    returns the output (any JSON value; in exec mode a str or bytes is written as is) or raises:
    any exception fails the job with `"<Type>: <message>"` as its error (the traceback goes to
    the worker's log); `Restart` also makes the worker start a fresh handler before the next job.
    If `setup` raises, each job fails with `setup failed: ...` and asks for a restart.

    `mode` ("exec" or "persistent") is normally found out: `RPA_HANDLER_MODE`, else exec when
    `JOB_ID` is set (the worker sets it for exec handlers only), else the first stdin line
    decides (a JSON request line means persistent). Exit status: 0, or in exec mode 1 for a
    failed job; 143 after SIGTERM. Never returns.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                            format=f"%(asctime)s %(name)s pid={os.getpid()} %(levelname)s %(message)s", datefmt="%H:%M:%S")
    chosen = _detect_mode(mode)
    channel = _Channel(stdin if stdin is not None else sys.stdin.buffer)
    server = _Server(run, setup, teardown, channel)

    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated()

    signal.signal(signal.SIGTERM, terminate)
    code = 0
    try:
        if chosen == "persistent":
            server.start()
            code = server.persistent(None)
        elif chosen == "exec":
            code = server.exec_once(channel.stdin.read())
        else:
            first = channel.stdin.readline()
            if _request(first) is not None:
                code = server.persistent(first)
            else:
                code = server.exec_once(first + channel.stdin.read())
    except _Terminated:
        code = 143
    finally:
        try:
            server.stop()
        except _Terminated:
            pass
    sys.stderr.flush()
    raise SystemExit(code)
