"""The box's cores: runtime settings and how busy the other processes are (real /proc, a real busy process)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from agent.compute import CpuShare, configure_runtimes, usable_cores


def test_runtimes_are_told_not_to_spin_unless_the_user_said_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    configure_runtimes()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    configure_runtimes()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


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


def test_this_process_own_work_is_not_counted() -> None:
    share = CpuShare(window_secs=0.5)
    time.sleep(0.7)
    before = share.others_busy()  # whatever else the machine does meanwhile
    deadline = time.monotonic() + 0.7
    while time.monotonic() < deadline:  # this process keeps a core busy
        pass
    assert share.others_busy() < before + 0.6
