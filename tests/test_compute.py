"""The box's cores: runtime settings and how busy the other processes are (real /proc, a real busy process)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

import pytest

from agent.compute import CpuShare, configure_runtimes, usable_cores
from agent.media.priority import lower_thread_priority


def test_runtimes_are_told_not_to_spin_unless_the_user_said_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    configure_runtimes()
    assert os.environ["GOMP_SPINCOUNT"] == "1000"
    monkeypatch.setenv("GOMP_SPINCOUNT", "300000")
    configure_runtimes()
    assert os.environ["GOMP_SPINCOUNT"] == "300000"


HZ = float(os.sysconf("SC_CLK_TCK"))
WORK_TICKS = 25
"""CPU time the work under test gets in a measured window (0.25 s): enough to tell from tick rounding."""
MAX_WINDOW_SECS = 20.0


class Window(NamedTuple):
    """One window of a :class:`CpuShare` and, measured beside it, CPU time in ticks."""

    seen: float
    """What the share saw the other processes use."""
    machine: int
    """Busy time of the whole machine, niced or not (user, nice, system, irq, softirq): the reference."""
    work: int
    """The work under test's own CPU time."""
    secs: float


def _machine_ticks() -> int:
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields[0:3]) + sum(fields[5:7])


def _process_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _measure(share: CpuShare, work_ticks: Callable[[], int]) -> Window:
    """A window that lasts until the work got ``WORK_TICKS`` (less CPU on a loaded machine: longer), at least
    the share's window and at most ``MAX_WINDOW_SECS``."""
    machine, work, started = _machine_ticks(), work_ticks(), time.monotonic()
    share.others_busy()  # opens the window (its last sample is older than the window)
    while (time.monotonic() - started < 1.2 * share.window_secs
           or (work_ticks() - work < WORK_TICKS and time.monotonic() - started < MAX_WINDOW_SECS)):
        time.sleep(0.05)
    seen = share.others_busy()
    secs = time.monotonic() - started
    return Window(seen * HZ * secs, _machine_ticks() - machine, work_ticks() - work, secs)


def test_a_busy_neighbour_is_seen_and_leaves_one_core_fewer() -> None:
    share = CpuShare(window_secs=0.5)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.6)
        window = _measure(share, lambda: _process_ticks(busy.pid))
    finally:
        busy.kill()
        busy.wait()
    assert window.work >= WORK_TICKS, window  # it had a fair share of the cores
    assert window.seen >= 0.75 * window.work, window  # all of it (with the rest of the machine's)
    neighbour_cores = window.work / HZ / window.secs  # 1 unless the machine is busy
    assert share.free_cores() <= max(1, round(usable_cores() - 0.75 * neighbour_cores))


def test_this_process_own_model_work_is_not_counted() -> None:
    """The agent's model threads run niced (``lower_thread_priority``): their time is the agent's."""
    share = CpuShare(window_secs=0.5)
    spun, nice = [0.0], [0]
    stop = threading.Event()

    def spin() -> None:
        lower_thread_priority()
        nice[0] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        while not stop.is_set():
            spun[0] = time.thread_time()

    worker = threading.Thread(target=spin)
    time.sleep(0.6)
    worker.start()
    try:
        window = _measure(share, lambda: round(spun[0] * HZ))
    finally:
        stop.set()
        worker.join()
    assert nice[0] > 0  # the kernel counts its time as "nice" time
    assert window.work >= WORK_TICKS, window
    assert window.machine - window.seen >= 0.75 * window.work, window  # what the share left out holds it


def test_a_niced_neighbour_yields_and_is_not_counted() -> None:
    share = CpuShare(window_secs=0.5)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=lambda: os.nice(19))
    try:
        time.sleep(0.6)
        window = _measure(share, lambda: _process_ticks(busy.pid))
    finally:
        busy.kill()
        busy.wait()
    if window.work < WORK_TICKS:
        pytest.skip(f"the machine is full: un-niced work left a nice-19 process {window.work} ticks in "
                    f"{window.secs:.0f} s, too few to measure")
    assert window.machine - window.seen >= 0.75 * window.work, window  # what the share left out holds it
