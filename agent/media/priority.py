"""Thread priorities: the media clock first, heavy model work last.

On a small box the LLM, TTS and STT keep every core busy; the pj media clock
thread then waits for a CPU and outgoing frames bunch up.  The clock thread
asks for real-time scheduling (SCHED_FIFO, allowed for root or CAP_SYS_NICE;
otherwise a negative nice value if permitted, otherwise nothing), and model
worker threads lower their own priority, which any process may do.
"""

from __future__ import annotations

import logging
import os
import threading

__all__ = ["BOOSTER", "GIL_SWITCH_SECS", "MediaThreadBooster", "lower_thread_priority", "WORKER_NICE"]

log = logging.getLogger(__name__)

GIL_SWITCH_SECS = 0.001
"""How long a busy Python thread may keep the GIL from the media clock thread (default 5 ms)."""
MEDIA_FIFO_PRIORITY = 10
MEDIA_NICE = -10
WORKER_NICE = 5


def lower_thread_priority(nice: int = WORKER_NICE) -> None:
    """Make the calling thread (and threads it creates later) yield to the media clock."""
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except (OSError, AttributeError):
        pass


def _boost_current_thread() -> str:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(MEDIA_FIFO_PRIORITY))
        return f"SCHED_FIFO {MEDIA_FIFO_PRIORITY}"
    except (OSError, AttributeError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), MEDIA_NICE)
        return f"nice {MEDIA_NICE}"
    except OSError:
        return "normal (no permission to raise it)"


class MediaThreadBooster:
    """Raises the priority of whichever native thread calls ``check()``, once per thread.

    Called from the media callbacks: one integer comparison per frame.
    """

    def __init__(self) -> None:
        self._boosted: set[int] = set()

    def check(self) -> None:
        tid = threading.get_native_id()
        if tid not in self._boosted:
            self._boosted.add(tid)
            how = _boost_current_thread()
            log.debug("media clock thread %d: priority %s", tid, how)


BOOSTER = MediaThreadBooster()
"""One booster for the process (the media clock thread is shared by every call)."""
