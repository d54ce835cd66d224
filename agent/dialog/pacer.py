"""Backpressure between generation and synthesis, owned by the call's pipeline.

A local LLM and Piper compete for the same cores.  While a chunk the caller
is (nearly) waiting for is being synthesised, the dialog stage stops asking
the brain for more text, so synthesis gets the cores; the brain generates a
token only when asked, so it simply waits.  Generation holds while a chunk of
the reply is in synthesis and less than ``ahead_secs`` of the reply's audio is
ready ahead of the caller.

The dialog stage calls :meth:`Pacer.sent` for each chunk it hands to synthesis
and :meth:`Pacer.wait` before asking the brain for more; the conductor reports
:meth:`Pacer.ready` (a chunk's audio is ready), :meth:`Pacer.playing` (the
reply's first audio went out) and :meth:`Pacer.release` (the reply is over or
cancelled).  Pure but for its lock and event; the clock is injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["AHEAD_SECS", "MAX_HOLD_SECS", "Pacer"]

AHEAD_SECS = 1.0
"""Below this much audio ready ahead of the caller, generation waits while a chunk is synthesised."""
MAX_HOLD_SECS = 2.0
"""Longest generation waits for synthesis; after that it goes on without holding for the rest of the reply."""
_POLL_SECS = 0.05


class Pacer:
    """How far generation may run ahead of synthesis (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, ahead_secs: float = AHEAD_SECS) -> None:
        self._clock = clock
        self.ahead_secs = ahead_secs
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._reply = 0
        self._ready_secs = 0.0
        self._t_playing = 0.0

    def begin(self, reply: int) -> None:
        with self._lock:
            self._reply, self._ready_secs, self._t_playing = reply, 0.0, 0.0
            self._open.set()

    def audio_ahead_secs(self) -> float:
        """Audio of the reply ready and not yet played."""
        with self._lock:
            played = self._clock() - self._t_playing if self._t_playing else 0.0
            return max(0.0, self._ready_secs - played)

    def sent(self, reply: int) -> bool:
        """A chunk went to synthesis; True if generation must now wait for it."""
        ahead = self.audio_ahead_secs()
        with self._lock:
            if reply != self._reply:
                return False
            if ahead < self.ahead_secs:
                self._open.clear()
                return True
            return False

    def ready(self, reply: int, audio_secs: float) -> None:
        with self._lock:
            if reply != self._reply:
                return
            self._ready_secs += audio_secs
            self._open.set()

    def playing(self, reply: int, t_first_out: float) -> None:
        with self._lock:
            if reply == self._reply and not self._t_playing:
                self._t_playing = t_first_out

    def release(self, reply: int | None = None) -> None:
        with self._lock:
            if reply is None or reply == self._reply:
                self._open.set()

    def wait(self, stop: threading.Event, max_secs: float = MAX_HOLD_SECS) -> bool:
        """Wait until generation may go on; False if ``max_secs`` passed first (or ``stop`` was set)."""
        deadline = self._clock() + max_secs
        while not self._open.wait(_POLL_SECS):
            if stop.is_set() or self._clock() >= deadline:
                return False
        return True

    @property
    def holding(self) -> bool:
        return not self._open.is_set()
