"""Which engines are out of order now, for ``/readyz`` and OPTIONS, and how a crashed engine is restarted.

An engine whose worker failed reports it here (``fail``) and clears it once it
is serving again (``recover``).  Thread-safe; the SIP thread only reads it.

A :class:`Supervisor` is the policy one engine's worker follows when its loop
crashes: the crash is reported to :data:`SUPERVISION` and the engine restarts,
unless it is the :data:`CRASH_LIMIT`-th crash within :data:`CRASH_WINDOW_SECS`:
then the process exits with :data:`EXIT_GAVE_UP` and the service manager
(systemd's ``Restart=on-failure``) starts a fresh one.  A crash that keeps
coming back is not mended by restarting a thread.
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["CRASH_LIMIT", "CRASH_WINDOW_SECS", "EXIT_GAVE_UP", "SUPERVISION", "Supervision", "Supervisor",
           "describe", "exit_process"]

log = logging.getLogger(__name__)

CRASH_LIMIT = 3
"""Crashes within :data:`CRASH_WINDOW_SECS` after which an engine is not restarted again: the process exits."""
CRASH_WINDOW_SECS = 60.0
EXIT_GAVE_UP = 70
"""The exit code when an engine keeps crashing (``EX_SOFTWARE``): not 2, so systemd restarts the agent."""


class Supervision:
    """Engine name -> why it is out of order."""

    def __init__(self) -> None:
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def fail(self, engine: str, reason: str) -> None:
        with self._lock:
            self._failed[engine] = reason

    def recover(self, engine: str) -> None:
        with self._lock:
            self._failed.pop(engine, None)

    def problem(self) -> str:
        """'' while every engine serves; else 'llm: <why>' (the first one failed)."""
        with self._lock:
            return "; ".join(f"{name}: {why}" for name, why in self._failed.items())


SUPERVISION = Supervision()


def exit_process(engine: str, reason: str) -> None:
    """Give up on the process: log why, flush the logs and exit with :data:`EXIT_GAVE_UP` at once.

    ``os._exit``, not ``sys.exit``: this runs on the engine's thread, and the
    SIP thread would go on answering calls with an engine that no longer serves.
    Calls in progress get no BYE; their callers' phones see the media stop.
    """
    log.critical("%s: %s: exiting with code %d for the service manager to restart the agent", engine, reason,
                 EXIT_GAVE_UP)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(EXIT_GAVE_UP)


class Supervisor:
    """What one engine's worker does when its loop crashes (see the module docstring).

    Called on the engine's own thread only.  ``give_up(engine, reason)`` normally
    exits the process; a test's may return, and the worker then stops.
    """

    def __init__(self, engine: str, *, board: Supervision | None = None, limit: int = CRASH_LIMIT,
                 window_secs: float = CRASH_WINDOW_SECS, clock: Callable[[], float] = time.monotonic,
                 give_up: Callable[[str, str], None] = exit_process) -> None:
        self.engine = engine
        self.board = board if board is not None else SUPERVISION
        self.limit = limit
        self.window_secs = window_secs
        self._clock = clock
        self._give_up = give_up
        self._crashes: collections.deque[float] = collections.deque()
        self.restarts = 0
        self.failing = False
        """Crashed and not yet serving again."""

    def crashed(self, error: BaseException) -> bool:
        """Report a crash of the engine's loop; True: restart it; False: the supervisor gave up."""
        now = self._clock()
        self._crashes.append(now)
        while now - self._crashes[0] > self.window_secs:
            self._crashes.popleft()
        reason = describe(error)
        if len(self._crashes) >= self.limit:
            self.fatal(f"crashed {len(self._crashes)} times within {self.window_secs:.0f} s (last: {reason})")
            return False
        self.restarts += 1
        self.failing = True
        self.board.fail(self.engine, f"crashed ({reason}), restarting")
        return True

    def fatal(self, reason: str) -> None:
        """The engine cannot be restarted: say so and give up."""
        self.failing = True
        self.board.fail(self.engine, reason)
        self._give_up(self.engine, reason)

    def serving(self) -> bool:
        """The engine served a request: clear its failure; True if it had one (it serves again after a crash)."""
        if not self.failing:
            return False
        self.failing = False
        self.board.recover(self.engine)
        return True


def describe(error: BaseException) -> str:
    """An error in one line: ``Type: first line of its message``."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__
