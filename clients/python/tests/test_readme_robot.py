"""The ten-line robot of README "Writing a robot", run as printed there, and a fresh install."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from rpa_orchestrator import Client

from conftest import ROOT


def readme_robot() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Writing a robot", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README 'Writing a robot' has a python block"
    code = match.group(1)
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) <= 10, f"the robot in the README is {len(lines)} lines"
    return code


@pytest.mark.parametrize("mode", ["persistent", "exec"])
def test_readme_robot_works_in_both_modes(mode: str, tmp_path: Path, client: Client, start_worker: Callable[..., Any]) -> None:
    robot = tmp_path / "robot.py"
    robot.write_text(readme_robot())
    ids = client.enqueue_many("conferencia", [{"record": "R-1"}, {"record": "R-2"}, "not json"])
    start_worker("conferencia", f"{sys.executable} {robot}", mode=mode, extra=["--max-attempts", "1"])
    got = []
    for r in client.results("conferencia", timeout=60):
        got.append(r)
        if len(got) == 3:
            break
    by_id = {r["job_id"]: r for r in got}
    assert [by_id[i]["status"] for i in ids] == ["ok", "ok", "failed"]
    second = by_id[ids[1]]["output"]
    if mode == "exec":
        import json
        second = json.loads(second)
    assert second == {"record": "R-2", "jobs_here": 2 if mode == "persistent" else 1}
    assert "JSONDecodeError" in by_id[ids[2]]["error"]


def test_pip_install_in_a_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(ROOT / "clients" / "python")],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    probe = "import rpa_orchestrator, pathlib, redis; print(pathlib.Path(rpa_orchestrator.__file__).with_name('py.typed').exists())"
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr
    frozen = subprocess.run([str(venv / "bin" / "pip"), "freeze"], capture_output=True, text=True, timeout=60).stdout
    names = sorted(re.split(r"==| @ ", line)[0].lower() for line in frozen.splitlines() if line and not line.startswith("#"))
    assert names in (["redis", "rpa-orchestrator"], ["async-timeout", "redis", "rpa-orchestrator"]), names
