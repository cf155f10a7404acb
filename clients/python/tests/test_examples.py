"""examples/python/poller.py and writer.py against the real worker."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from conftest import ROOT

ROBOT = """
from rpa_orchestrator import serve
serve(lambda job, state: {"record": job.json()["record"], "confirmation": "C-" + job.json()["record"]})
"""


def test_poller_waits_for_each_result_and_the_writer_pops_them(url: str, prefix: str, tmp_path: Path,
                                                               handler_file: Callable[[str], str], start_worker: Callable[..., Any]) -> None:
    records = tmp_path / "records.txt"
    records.write_text("R-1\nR-2\n\nR-1\n")
    env = {"PATH": os.environ.get("PATH", ""), "REDIS_URL": url, "QUEUE_PREFIX": prefix}
    start_worker("conferencia", handler_file(ROBOT), mode="persistent")
    poller = subprocess.run([sys.executable, str(ROOT / "examples/python/poller.py"), "--queue", "conferencia", "--wait", "60", str(records)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert poller.returncode == 0, poller.stderr
    lines = poller.stdout.splitlines()
    ids = [line.split()[0] for line in lines[:3]]
    assert len(set(ids)) == 3, "R-1 twice is two jobs"
    answers = [json.loads(line) for line in lines[3:]]
    assert [a["output"]["confirmation"] for a in answers] == ["C-R-1", "C-R-2", "C-R-1"]
    writer = subprocess.run([sys.executable, str(ROOT / "examples/python/writer.py"), "--queue", "conferencia", "--idle", "1"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert writer.returncode == 0, writer.stderr
    popped = [json.loads(line) for line in writer.stdout.splitlines()]
    assert sorted(r["job_id"] for r in popped) == sorted(ids)
