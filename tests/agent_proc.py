"""Run the real agent (``sip-agent run``) and the built-in caller as child processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agent.demo import die_with_parent

__all__ = ["AgentProcess", "run_caller", "start_caller", "caller_results", "proc_stats"]

REPO = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"
    return env


STARTED: list["AgentProcess"] = []
"""Agents started by the running test; ``tests/conftest.py`` stops any left running after it."""


class AgentProcess:
    """``sip-agent run ARGS`` with its log in ``workdir/agent.log``."""

    def __init__(self, workdir: Path, args: list[str], name: str = "agent") -> None:
        self.workdir = workdir
        self.args = args
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait_for: str | None = "listening for SIP", timeout: float = 20.0) -> "AgentProcess":
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", *self.args],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, env=_env(),
                                     preexec_fn=die_with_parent)
        log.close()
        STARTED.append(self)
        if wait_for:
            self.wait_for(wait_for, timeout)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(self, pattern: str, timeout: float = 20.0, count: int = 1) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) appears ``count`` times in the log."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            text = self.log()
            matches = list(rx.finditer(text))
            if len(matches) >= count:
                return matches[count - 1]
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"agent exited ({self.proc.returncode}) before /{pattern}/:\n{text[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"/{pattern}/ not in the agent log after {timeout} s:\n{text[-3000:]}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig`` and wait; returns the exit code (kills after ``timeout``)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def __enter__(self) -> "AgentProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


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
