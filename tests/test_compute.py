"""The box's cores: runtime settings and how busy the other processes are (real /proc, a real busy process)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

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


def test_a_busy_neighbour_is_seen_and_leaves_one_core_fewer() -> None:
    share = CpuShare(window_secs=0.5)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.2)
        share.others_busy()  # the sample that spans the busy second
        time.sleep(0.6)
        seen = share.others_busy()
    finally:
        busy.kill()
        busy.wait()
    assert seen >= 0.6, f"a process spinning on a core was seen as {seen:.2f} cores"
    assert share.free_cores() <= max(1, usable_cores() - 1)


def test_this_process_own_model_work_is_not_counted() -> None:
    """The agent's model threads run niced (``lower_thread_priority``): their time is the agent's."""
    share = CpuShare(window_secs=0.5)
    time.sleep(0.7)
    before = share.others_busy()  # whatever else the machine does meanwhile

    def spin() -> None:
        lower_thread_priority()
        deadline = time.monotonic() + 0.7
        while time.monotonic() < deadline:
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    worker.join()
    assert share.others_busy() < before + 0.6


def test_a_niced_neighbour_yields_and_is_not_counted() -> None:
    share = CpuShare(window_secs=0.5)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=lambda: os.nice(19))
    try:
        time.sleep(1.2)
        share.others_busy()
        time.sleep(0.6)
        seen = share.others_busy()
    finally:
        busy.kill()
        busy.wait()
    assert seen < 0.5
