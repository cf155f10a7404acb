"""`Client.status()`: the shape of `orchestrator status --json`, read from the same Redis keys
(StatusReport+Redis.swift, StatusReport+Hosts.swift)."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Set

import redis

FALLBACK_QUEUES = ["conferencia", "emissao"]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _fields(conn: "redis.Redis", key: str, skipped: Optional[List[Dict[str, str]]] = None) -> Dict[str, str]:
    """A hash's fields. With `skipped`, a key of the wrong type reads as empty and is listed there
    (as `status --json`'s `unreadable_keys`: a key holding no job must not blind the report)."""
    try:
        return {_text(k): _text(v) for k, v in conn.hgetall(key).items()}
    except redis.ResponseError as e:
        if skipped is None or not str(e).startswith("WRONGTYPE"):
            raise
        skipped.append({"key": key, "reason": str(e)})
        return {}


def _int(value: Optional[str], default: Optional[int] = 0) -> Optional[int]:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _float(value: Optional[str]) -> Optional[float]:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _iso(ms: int) -> Optional[str]:
    if ms <= 0:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _workers(conn: "redis.Redis", ns: str, now: int, skipped: List[Dict[str, str]]) -> List[Dict[str, Any]]:
    rows = []
    for key in sorted(_text(k) for k in conn.scan_iter(match=ns + "worker:*", count=1000)):
        f = _fields(conn, key, skipped)
        pid, queue = _int(f.get("pid"), None), f.get("queue")
        if pid is None or queue is None:
            continue
        started = _int(f.get("job_started_at"), None)
        rss = _int(f.get("rss_bytes")) or 0
        rows.append({
            "pid": pid, "queue": queue, "slot": _int(f.get("slot")), "state": f.get("state", "?"),
            "job_age_seconds": None if started is None else round((now - started) / 1000, 3),
            "jobs_done": _int(f.get("jobs_done")), "rss_bytes": rss, "pss_bytes": _int(f.get("pss_bytes"), rss),
            "processes": _int(f.get("processes"), 1), "host": f.get("host", ""), "id": f.get("worker", ""),
            "started_at": _iso(_int(f.get("started_at")) or 0),
        })
    rows.sort(key=lambda r: (r["queue"], r["slot"], r["pid"]))
    return rows


def _hosts(conn: "redis.Redis", ns: str, now: int) -> List[Dict[str, Any]]:
    rows = []
    for host_id in sorted(_text(m) for m in conn.smembers(ns + "fleet:hosts")):
        f = _fields(conn, ns + "fleet:host:" + host_id)
        if not f:
            continue
        per_queue = {k[len("workers:"):]: _int(v) for k, v in f.items() if k.startswith("workers:")}
        updated = _int(f.get("updated_at"), now) or now
        rows.append({
            "host_id": host_id, "pid": _int(f.get("pid")), "machine": f.get("machine", ""), "state": f.get("state", "?"),
            "capacity": _int(f.get("capacity")), "workers": _int(f.get("workers")), "workers_per_queue": per_queue,
            "last_seen_seconds": round(max(0, now - updated) / 1000, 3), "started_at": _iso(_int(f.get("started_at")) or 0),
        })
    return rows


def _queue(conn: "redis.Redis", prefix: str, ns: str, name: str, instance: Dict[str, str],
           paused: Set[str], workers: List[Dict[str, Any]]) -> Dict[str, Any]:
    pending = prefix + name
    figures = {"pending": 0, "in_flight": 0, "retrying": 0, "done": 0, "failed": 0, "dead_total": 0, "dead_now": 0}
    # A key of the wrong type does not fail the report: the row names it and keeps what was read before.
    key, unreadable = pending, None
    try:
        figures["pending"] = conn.llen(key)
        for key in (_text(k) for k in conn.scan_iter(match=pending + ":processing:*", count=1000)):
            figures["in_flight"] += conn.llen(key)
        key = pending + ":retry"
        figures["retrying"] = conn.zcard(key)
        key = ns + "stats:" + name
        stats = _fields(conn, key)
        figures.update(done=_int(stats.get("done")), failed=_int(stats.get("failed")), dead_total=_int(stats.get("dead")))
        key = pending + ":dead"
        figures["dead_now"] = conn.llen(key)
    except redis.ResponseError as error:
        unreadable = (key, str(error))
    limit = instance.get(f"limit:{name}", "").split(":")
    mine = [w for w in workers if w["queue"] == name]
    busy = sum(1 for w in mine if w["state"] == "busy")
    draining = sum(1 for w in mine if w["state"] == "draining")
    done, failed, dead_now = figures["done"], figures["failed"], figures["dead_now"]
    return {
        "queue": name, "paused": name in paused, "pending": figures["pending"], "in_flight": figures["in_flight"],
        "retrying": figures["retrying"], "target": _int(instance.get(f"target:{name}"), None),
        "busy": busy, "idle": len(mine) - busy - draining, "done": done, "failed": failed, "dead": dead_now,
        "jobs_done_total": done, "failed_attempts_total": failed, "dead_now": dead_now, "dead_total": figures["dead_total"],
        "service_rate_per_worker": _float(instance.get(f"rate:{name}")), "arrival_rate": _float(instance.get(f"arrival:{name}")),
        "predicted_drain_seconds": _float(instance.get(f"drain:{name}")),
        "jobs_per_minute_1m": _float(instance.get(f"jpm1:{name}")), "jobs_per_minute_5m": _float(instance.get(f"jpm5:{name}")),
        "jobs_per_minute_15m": _float(instance.get(f"jpm15:{name}")), "time_to_drain_seconds": _float(instance.get(f"eta:{name}")),
        "limited_by": limit[0] if len(limit) == 2 else None, "wanted": _int(limit[1], None) if len(limit) == 2 else None,
        "draining": draining, "readable": unreadable is None,
        "unreadable_key": unreadable[0] if unreadable else None, "unreadable_reason": unreadable[1] if unreadable else None,
    }


def collect_status(conn: "redis.Redis", prefix: str, requested: Optional[List[str]]) -> Dict[str, Any]:
    """Reads the instance heartbeat, every worker heartbeat and each queue's lists and counters.

    Queues: `requested` (and only their workers), else those the running orchestrator watches,
    else those live workers work, else `QUEUES` from the environment or `conferencia,emissao`.
    """
    ns = f"orchestrator:{prefix}"
    now = int(time.time() * 1000)
    skipped: List[Dict[str, str]] = []
    instance = _fields(conn, ns + "instance", skipped)
    alerts_hash = _fields(conn, ns + "alerts", skipped)
    alerts = []
    for key in sorted(alerts_hash):
        try:
            alerts.append(json.loads(alerts_hash[key]))
        except ValueError:
            continue
    try:
        paused = {_text(m) for m in conn.smembers(ns + "paused")}
    except redis.ResponseError as e:
        if not str(e).startswith("WRONGTYPE"):
            raise
        skipped.append({"key": ns + "paused", "reason": str(e)})
        paused = set()
    workers = _workers(conn, ns, now, skipped)
    working = sorted({w["queue"] for w in workers})
    env_queues = [q for q in os.environ.get("QUEUES", "").split(",") if q]
    if requested is not None:
        names = list(requested)
        workers = [w for w in workers if w["queue"] in names]
    elif "queues" in instance:
        names = [q for q in instance["queues"].split(",") if q]
    else:
        names = working or env_queues or FALLBACK_QUEUES
    orchestrator = None
    if instance:
        timeout_ms = _float(instance.get("job_timeout_ms"))
        orchestrator = {"pid": _int(instance.get("pid")), "host": instance.get("host"), "state": instance.get("state"),
                        "max_total": _int(instance.get("max_total")),
                        "job_timeout_seconds": None if timeout_ms is None else timeout_ms / 1000,
                        "max_worker_rss_mb": _int(instance.get("max_worker_rss_mb"), None)}
    return {
        "orchestrator": orchestrator, "running": bool(instance),
        "queues": [_queue(conn, prefix, ns, n, instance, paused, workers) for n in names],
        "workers": workers, "alerts": alerts, "hosts": _hosts(conn, ns, now), "unreadable_keys": skipped,
    }
