"""Stalls of the machine itself: a real-time probe process and the CPU steal time.

A gap in the agent's RTP can come from the agent (its media clock thread
waiting on the GIL or a CPU) or from the machine: on a virtual machine the
host may stop a virtual CPU for tens of milliseconds ("steal").  The probe
is a separate one-thread process at a real-time priority above the media
clock's (when allowed) that sleeps 1 ms at a time and reports every wake-up
that came late; a late wake-up of a process that nothing in the guest can
preempt is a stall of the machine.  An RTP gap that overlaps one is marked
as such in the benchmark's results.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["StallProbe", "steal_ticks"]

THRESHOLD_MS = 30.0
PROBE_PRIORITY = 20
_PROBE = """
import os, sys, time
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(sys.argv[2])))
    print("realtime", flush=True)
except (OSError, AttributeError):
    print("normal", flush=True)
limit = float(sys.argv[1]) / 1000.0
last = time.monotonic()
while True:
    time.sleep(0.001)
    now = time.monotonic()
    if now - last > limit:
        print(f"{time.time():.4f} {(now - last) * 1000.0:.1f}", flush=True)
    last = now
"""


def steal_ticks(stat: Path = Path("/proc/stat")) -> tuple[int, int]:
    """(steal, total) jiffies of all CPUs so far; (0, 0) where unknown."""
    try:
        fields = stat.read_text().splitlines()[0].split()[1:]
        values = [int(v) for v in fields[:8]]
    except (OSError, IndexError, ValueError):
        return 0, 0
    return (values[7] if len(values) > 7 else 0), sum(values)


class StallProbe:
    """Runs the probe process for the length of the benchmark."""

    def __init__(self, threshold_ms: float = THRESHOLD_MS) -> None:
        self.threshold_ms = threshold_ms
        self.realtime = False
        self.stalls: list[tuple[float, float]] = []
        """(wall time of the late wake-up, stall ms)."""
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._steal0 = steal_ticks()
        self._steal1 = self._steal0

    def start(self) -> StallProbe:
        self._steal0 = steal_ticks()
        self._proc = subprocess.Popen([sys.executable, "-c", _PROBE, str(self.threshold_ms), str(PROBE_PRIORITY)],
                                      stdout=subprocess.PIPE, text=True)
        first = self._proc.stdout.readline().strip() if self._proc.stdout else ""
        self.realtime = first == "realtime"
        self._reader = threading.Thread(target=self._read, name="stall-probe", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                t, ms = (float(v) for v in line.split())
            except ValueError:
                continue
            self.stalls.append((t, ms))

    def stop(self) -> None:
        self._steal1 = steal_ticks()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(2.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(1.0)
        if self._reader is not None:
            self._reader.join(1.0)

    def overlapping(self, t_end: float, gap_ms: float) -> float:
        """The largest stall overlapping the interval of a gap that ended at ``t_end`` (0 if none)."""
        start = t_end - gap_ms / 1000.0
        hits = [ms for t, ms in self.stalls if t - ms / 1000.0 < t_end and t > start]
        return max(hits, default=0.0)

    def summary(self) -> dict[str, Any]:
        steal = self._steal1[0] - self._steal0[0]
        total = self._steal1[1] - self._steal0[1]
        return {"probe_realtime": self.realtime, "threshold_ms": self.threshold_ms,
                "stalls": len(self.stalls), "stall_max_ms": round(max((ms for _, ms in self.stalls), default=0.0), 1),
                "steal_pct": round(100.0 * steal / total, 1) if total > 0 else 0.0}


if __name__ == "__main__":  # pragma: no cover - a manual check: python -m agent.tools.bench.stalls SECS
    probe = StallProbe().start()
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)
    probe.stop()
    print(probe.summary(), probe.stalls[:20])
