"""The queue between two stages of a call: data in order, control frames first.

``put`` appends a data frame; ``put_control`` puts a control frame (an
interrupt, a hang-up, the stop sentinel) ahead of every queued data frame;
``flush`` drops the queued data frames (what an interrupt does downstream).
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable

__all__ = ["FrameQueue"]


class FrameQueue:
    """A thread-safe two-lane queue (see the module docstring)."""

    def __init__(self) -> None:
        self._data: collections.deque[object] = collections.deque()
        self._control: collections.deque[object] = collections.deque()
        self._cond = threading.Condition(threading.Lock())

    def put(self, item: object) -> None:
        with self._cond:
            self._data.append(item)
            self._cond.notify()

    def put_control(self, item: object) -> None:
        with self._cond:
            self._control.append(item)
            self._cond.notify()

    def get(self, block: bool = True, timeout: float | None = None) -> object:
        """The next control frame, else the next data frame; ``queue.Empty`` on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._control and not self._data:
                if not block:
                    raise queue.Empty
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise queue.Empty
                self._cond.wait(remaining)
            return self._control.popleft() if self._control else self._data.popleft()

    def flush(self, drop: Callable[[object], bool] | None = None) -> int:
        """Drop queued data frames (those ``drop`` says, or all); returns how many."""
        with self._cond:
            if drop is None:
                count = len(self._data)
                self._data.clear()
                return count
            kept = [item for item in self._data if not drop(item)]
            count = len(self._data) - len(kept)
            self._data = collections.deque(kept)
            return count

    def qsize(self) -> int:
        with self._cond:
            return len(self._data) + len(self._control)

    def empty(self) -> bool:
        return self.qsize() == 0
