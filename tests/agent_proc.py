"""Run the real agent (``sip-agent run``) and the built-in caller as child processes.

The agent is run by the shared harness (``agent.tools.harness``): it is ready
when its status file says so; the tests wait on its log only for what they assert.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from agent.tools import harness

__all__ = ["AgentProcess", "READY", "run_caller", "start_caller", "caller_results", "proc_stats"]

REPO = Path(__file__).resolve().parent.parent
READY = "ready"
"""``start(wait_for=READY)``: wait for the agent's ready status line only."""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"
    return env


STARTED: list[AgentProcess] = []
"""Agents started by the running test; ``tests/conftest.py`` stops any left running after it."""


class AgentProcess(harness.AgentProcess):
    """``sip-agent run ARGS`` in ``workdir`` (its log in ``workdir/<name>.log``), stopped after the test."""

    def __init__(self, workdir: Path, args: list[str], name: str = "agent", env: dict[str, str] | None = None) -> None:
        super().__init__(workdir, args, name, env={**_env(), **(env or {})}, cwd=workdir)

    def start(self, wait_for: str | None = READY, timeout: float = 20.0) -> AgentProcess:  # type: ignore[override]
        """Start; wait until ready, then (unless ``wait_for`` is READY) for the regex ``wait_for`` in the log.

        ``wait_for=None`` does not wait at all.
        """
        super().start(wait=False)
        STARTED.append(self)
        if wait_for is not None:
            self.wait_ready(timeout)
            if wait_for != READY:
                self.wait_for(wait_for, timeout)
        return self


def start_caller(uri: str, *args: str) -> subprocess.Popen[str]:
    """``sip-agent call URI ARGS`` in the background (JSON lines on stdout)."""
    return subprocess.Popen([sys.executable, "-m", "agent.cli", "call", uri, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


def caller_results(proc: subprocess.Popen[str], timeout: float = 60.0) -> list[dict[str, Any]]:
    out, err = proc.communicate(timeout=timeout)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines, f"caller printed no result (exit {proc.returncode}):\n{err[-2000:]}"
    assert "Traceback" not in err and "Assertion" not in err, err[-2000:]
    return lines


def run_caller(uri: str, *args: str, timeout: float = 60.0) -> dict[str, Any]:
    """Place one call and return the caller's JSON result."""
    return caller_results(start_caller(uri, *args), timeout)[-1]


def proc_stats(pid: int) -> dict[str, int]:
    """Threads and resident memory (kB) of a process, from /proc."""
    stats = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Threads", "VmRSS"):
            stats[key] = int(value.split()[0])
    stats["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return stats
