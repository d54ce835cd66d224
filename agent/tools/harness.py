"""``sip-agent run`` in a child process, for the demo, the benchmark and the tests.

The child is started exactly as in production (``python -m agent.cli run``)
with ``--status-file``: it writes its log to ``<workdir>/<name>.log`` and
its lifecycle as JSON lines to ``<workdir>/<name>.status.jsonl``::

    {"event": "ready", "sip_port": 5071, "sip_bind": "127.0.0.1", "pid": 123, "t": 4711.2}
    {"event": "stopped", "exit_code": 0, "pid": 123, "t": 4790.5}
    {"event": "failed", "error": "...", "pid": 123, "t": 4712.0}   (it could not start)

Readiness is the ``ready`` line (the SIP port bound, signals handled), never
a pattern in the log; with ``--port 0`` the port the agent got is read from it.
The child gets SIGINT (hang up at once) if this process dies, so no orphaned agent keeps a call up.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from ..errors import AgentError
from .records import read_jsonl

__all__ = ["AgentProcess", "HarnessError", "LOOPBACK", "die_with_parent"]

log = logging.getLogger(__name__)

LOOPBACK = ("--no-register", "--bind", "127.0.0.1", "--port", "0")
"""Flags for an agent on loopback without a trunk, on any free SIP port."""
POLL_SECS = 0.05
TAIL_CHARS = 3000


class HarnessError(AgentError):
    """The agent did not start, exited early, or did not log what was awaited."""


def die_with_parent() -> None:
    """In the child: get SIGINT if this process dies (no orphaned agent keeps a call up)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class AgentProcess:
    """``sip-agent run ARGS`` with its log in ``workdir/<name>.log``; ``stop()`` returns its exit code."""

    def __init__(self, workdir: Path, args: Sequence[str], name: str = "agent", *,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None, prefix: Sequence[str] = ()) -> None:
        self.workdir = workdir
        self.prefix = list(prefix)
        """A command the agent runs under, e.g. ``ip netns exec NS`` (it must exec the agent: signals reach it)."""
        self.args = list(args)
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.status_path = workdir / f"{name}.status.jsonl"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        """The agent's SIP port, from its ``ready`` line."""
        self.ready: dict[str, Any] | None = None
        self._env = dict(env if env is not None else os.environ, PYTHONUNBUFFERED="1")
        self._cwd = cwd
        self._follower: _LogFollower | None = None

    # -- start ---------------------------------------------------------
    def start(self, wait: bool = True, timeout: float = 120.0) -> Self:
        """Start the agent; with ``wait``, return once it is ready (see ``wait_ready``)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.status_path.unlink(missing_ok=True)  # a ready line of an earlier run must not count
        cmd = [*self.prefix, sys.executable, "-m", "agent.cli", "run", *self.args, "--status-file",
               str(self.status_path.absolute())]
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self._cwd, env=self._env,
                                         preexec_fn=die_with_parent)
        log.debug("started %s (pid %d): %s", self.name, self.proc.pid, " ".join(cmd))
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 120.0) -> dict[str, Any]:
        """Wait for the agent's ``ready`` line; its record.  Fails early if the agent exits first."""
        deadline = time.monotonic() + timeout
        while True:
            ready = next((e for e in self.events() if e.get("event") == "ready"), None)
            if ready is not None:
                self.ready, self.port = ready, int(ready["sip_port"])
                return ready
            if self.proc is None:
                raise HarnessError(f"{self.name} was not started")
            if self.proc.poll() is not None:
                raise HarnessError(f"{self.name} exited ({self.proc.returncode}) before it was ready"
                                   f"{self._failure()}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.name} not ready after {timeout:g} s:\n{self.log_tail()}")
            time.sleep(POLL_SECS)

    def _failure(self) -> str:
        failed = next((e for e in self.events() if e.get("event") == "failed"), None)
        return f" ({failed.get('error')})" if failed else ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def uri(self) -> str:
        """``sip:agent@HOST:PORT`` of the ready agent (loopback if it listens on every address)."""
        if self.ready is None:
            raise HarnessError(f"{self.name} is not ready")
        host = str(self.ready.get("sip_bind") or "127.0.0.1")
        return f"sip:agent@{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"

    # -- what it said ----------------------------------------------------
    def events(self) -> list[dict[str, Any]]:
        """The status lines written so far (``ready``, then ``stopped`` or ``failed``)."""
        return read_jsonl(self.status_path)

    def stopped(self) -> dict[str, Any] | None:
        """The ``stopped`` line of a clean exit (None before it, or after a crash)."""
        return next((e for e in self.events() if e.get("event") == "stopped"), None)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = TAIL_CHARS) -> str:
        return self.log()[-chars:]

    def wait_for(self, pattern: str, timeout: float = 20.0, count: int = 1) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) appears ``count`` times in the log (for tests' assertions)."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            text = self.log()
            matches = list(rx.finditer(text))
            if len(matches) >= count:
                return matches[count - 1]
            if self.proc is not None and self.proc.poll() is not None:
                raise HarnessError(f"{self.name} exited ({self.proc.returncode}) before /{pattern}/:\n"
                                   f"{text[-TAIL_CHARS:]}")
            if time.monotonic() > deadline:
                raise HarnessError(f"/{pattern}/ not in the log of {self.name} after {timeout:g} s:\n"
                                   f"{text[-TAIL_CHARS:]}")
            time.sleep(POLL_SECS)

    def follow(self, on_line: Callable[[str], None]) -> None:
        """Call ``on_line`` with each log line as it is written (on a thread), until ``stop()``."""
        self._follower = _LogFollower(self.log_path, on_line)
        self._follower.start()

    # -- stop ----------------------------------------------------------
    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        """Send ``sig`` and wait; returns the exit code (kills after ``timeout``).  SIGINT: hang up at once
        (SIGTERM would first let calls in progress go on, up to the agent's ``--drain-timeout``)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %g s: killing it", self.name, timeout)
                self.proc.kill()
                self.proc.wait()
        if self._follower is not None:
            self._follower.finish()
            self._follower = None
        return int(self.proc.returncode)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class _LogFollower(threading.Thread):
    """Reads a growing log file and hands over each complete line."""

    def __init__(self, path: Path, on_line: Callable[[str], None]) -> None:
        super().__init__(name=f"follow-{path.name}", daemon=True)
        self.path = path
        self.on_line = on_line
        self._done = threading.Event()

    def run(self) -> None:
        pending = ""
        with open(self.path, encoding="utf-8", errors="replace") as f:
            while True:
                chunk = f.read()
                if chunk:
                    *lines, pending = (pending + chunk).split("\n")
                    for line in lines:
                        self.on_line(line)
                elif self._done.is_set():
                    break
                else:
                    time.sleep(POLL_SECS)
        if pending:
            self.on_line(pending)

    def finish(self) -> None:
        """Hand over what is left in the file, then end (the writer has exited)."""
        self._done.set()
        self.join(2.0)
