"""One life cycle for every thread of a call and for the shared engine workers.

    worker.start()           the thread starts (lowered priority unless asked not to)
    worker.stop(timeout)     stop event + sentinel, then join; a worker that does
                             not exit in time is named in a warning
    handle(item)             called for each item of the inbox, in order
    tick()                   called every ``period_secs`` when there is no inbox
    body()                   or, overridden, the whole of the thread's work, run once

An unexpected error in ``handle``/``tick`` is logged with its traceback and
turned into a :class:`~agent.frames.StageFailed` frame handed to
``on_failure``; the worker then exits.  It ends that call, never the process.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Protocol

from agent.frames import StageFailed
from agent.media.priority import lower_thread_priority
from agent.scheduler import CallDemand, bind

__all__ = ["STOP", "Inbox", "Worker"]

log = logging.getLogger(__name__)

STOP = object()
"""Sentinel: put it in a worker's inbox to make it exit after the items before it."""
POLL_SECS = 0.1
JOIN_SECS = 2.0


class Inbox(Protocol):
    """What a worker reads: ``queue.Queue``, ``queue.SimpleQueue`` or a :class:`FrameQueue`."""

    def get(self, block: bool = True, timeout: float | None = None) -> object: ...

    def put(self, item: object) -> None: ...


class Worker:
    """A named thread with the one life cycle (see the module docstring).  Subclass it."""

    period_secs = POLL_SECS

    def __init__(
        self,
        name: str,
        inbox: Inbox | None = None,
        on_failure: Callable[[StageFailed], None] | None = None,
        *,
        lower_priority: bool = True,
    ) -> None:
        self.name = name
        self.inbox = inbox
        self._on_failure = on_failure
        self._lower_priority = lower_priority
        self.demand: CallDemand | None = None
        """The call this worker's native work is for (see :mod:`agent.scheduler`); set before ``start``."""
        self._stop = threading.Event()
        self.started = threading.Event()
        self.exited = threading.Event()
        self.failed = False
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    # -- life cycle -----------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Ask the thread to exit; does not wait (any thread, the SIP thread too)."""
        self._stop.set()
        if self.inbox is not None:
            self.inbox.put(STOP)

    def stop(self, timeout_secs: float = JOIN_SECS) -> bool:
        """Ask the thread to exit and wait for it; True if it did."""
        self.request_stop()
        if self._thread is threading.current_thread():
            return False  # from its own handle(): the loop ends after this item
        if not self._thread.is_alive():
            return True
        self._thread.join(timeout_secs)
        if self._thread.is_alive():
            log.warning("%s: did not exit within %.1f s", self.name, timeout_secs)
            return False
        return True

    # -- to override ----------------------------------------------------
    def setup(self) -> None:
        """Runs first, on the worker's thread."""

    def handle(self, item: object) -> None:
        """One item of the inbox."""

    def tick(self) -> None:
        """Every ``period_secs`` (workers without an inbox)."""

    def teardown(self) -> None:
        """Runs last, on the worker's thread, whatever happened (errors are logged, not raised)."""

    def body(self) -> None:
        """The thread's work: by default, the inbox loop (or ticks) until stopped."""
        self._loop()

    # -- the thread -----------------------------------------------------
    def _main(self) -> None:
        if self._lower_priority:
            lower_thread_priority()
        bind(self.demand)
        try:
            self.setup()
            self.started.set()
            log.debug("%s: started", self.name)
            self.body()
        except Exception as exc:
            self.failed = True
            log.exception("%s: failed", self.name)
            self._report(StageFailed(self.name, f"{type(exc).__name__}: {exc}"))
        finally:
            try:
                self.teardown()
            except Exception:
                log.exception("%s: teardown failed", self.name)
            self.started.set()
            self.exited.set()
            log.debug("%s: exited", self.name)

    def _loop(self) -> None:
        inbox = self.inbox
        while not self._stop.is_set():
            if inbox is None:
                self.tick()
                self._stop.wait(self.period_secs)
                continue
            try:
                item = inbox.get(timeout=POLL_SECS)
            except queue.Empty:
                continue
            if item is STOP:
                break
            self.handle(item)
        if inbox is None:
            self.tick()  # a last one: nothing polled is left behind

    def _report(self, failure: StageFailed) -> None:
        if self._on_failure is None:
            return
        try:
            self._on_failure(failure)
        except Exception:
            log.exception("%s: reporting the failure failed", self.name)
