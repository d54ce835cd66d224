"""Sharing a small box's cores: the model runtimes' threads, and how busy the rest of the machine is.

Whisper (CTranslate2) and llama.cpp (ggml) run on GNU OpenMP, Piper on
onnxruntime; each starts a pool of threads as wide as the box.  Idle or
waiting for work, an OpenMP thread spins on its core for ~300,000 rounds
before it sleeps; when another process holds a core, the spinning threads
wait for one that is not running, and work that takes 100 ms takes seconds.
So:

- :func:`configure_runtimes` cuts that spin to 1,000 rounds
  (``GOMP_SPINCOUNT``), before either library loads.  Measured on 2 cores
  beside a busy process: llama.cpp's first 8 tokens 2.2 s -> 0.4 s, and on a
  quiet box as fast as before (sleeping at once, ``OMP_WAIT_POLICY=PASSIVE``,
  made llama.cpp 2x slower there).  Piper's and the VAD's onnxruntime
  sessions are created without spinning.
- :class:`CpuShare` reads how much CPU the *other* processes used lately
  (``/proc/stat`` minus this process's own time), so llama.cpp, whose
  threads always spin at their barriers, can run on the cores that are free.
"""

from __future__ import annotations

import logging
import os
import threading
import time

__all__ = ["CpuShare", "configure_runtimes", "usable_cores"]

log = logging.getLogger(__name__)

RUNTIME_ENV = {"GOMP_SPINCOUNT": "1000"}
"""Set (unless the user set them) before any model runtime loads."""


def configure_runtimes() -> None:
    """Make the runtimes' idle threads soon sleep rather than spin (before their libraries load)."""
    for key, value in RUNTIME_ENV.items():
        os.environ.setdefault(key, value)


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _machine_busy_ticks() -> int | None:
    """CPU time of un-niced work on the machine: user, system, irq and softirq.

    Time in the ``nice`` column is left out: a process with a positive nice
    value yields to the agent's model threads (nice 5 or less) and takes no core from
    them; the agent's own model threads run niced too, so their user time is not here.
    """
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[0] + fields[2] + sum(fields[5:7])


def _own_ticks() -> int | None:
    """This process's kernel time (its un-niced user time, the media and SIP threads', is small)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[12])  # stime of every thread of this process


class CpuShare:
    """How many cores other un-niced processes kept busy over the last ``window_secs`` (thread-safe, cheap).

    Sampled on demand: each :meth:`others_busy` call that finds the last sample
    older than ``window_secs`` takes a new one and averages over the interval.
    """

    def __init__(self, window_secs: float = 1.0) -> None:
        self.window_secs = window_secs
        self._clock = time.monotonic
        self._hz = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
        self._lock = threading.Lock()
        self._last: tuple[float, int, int] | None = self._sample()
        self._others = 0.0

    def _sample(self) -> tuple[float, int, int] | None:
        busy, own = _machine_busy_ticks(), _own_ticks()
        if busy is None or own is None:
            return None
        return self._clock(), busy, own

    def others_busy(self) -> float:
        """Cores' worth of CPU the rest of the machine used lately (0.0 when it cannot tell)."""
        with self._lock:
            last = self._last
            if last is None:
                return 0.0
            now = self._clock()
            if now - last[0] >= self.window_secs:
                sample = self._sample()
                if sample is not None:
                    ticks = (sample[1] - last[1]) - (sample[2] - last[2])
                    self._others = max(0.0, ticks / self._hz / (sample[0] - last[0]))
                    self._last = sample
            return self._others

    def free_cores(self, limit: int | None = None) -> int:
        """Cores the other processes leave to this one, whole, at least 1 (and at most ``limit``)."""
        free = max(1, round(usable_cores() - self.others_busy()))
        return min(free, limit) if limit else free
