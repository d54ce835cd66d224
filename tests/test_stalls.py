"""The benchmark's machine-stall probe: steal time parsing and gap/stall overlap."""

from __future__ import annotations

import time
from pathlib import Path

from agent.tools.bench.stalls import StallProbe, steal_ticks


def test_steal_ticks_reads_the_cpu_line(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 5 50 800 10 0 5 30 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    assert steal_ticks(stat) == (30, 1000)
    assert steal_ticks(tmp_path / "missing") == (0, 0)


def test_a_gap_is_matched_to_the_stall_it_overlaps() -> None:
    probe = StallProbe()
    probe.stalls = [(100.000, 80.0), (200.000, 40.0)]  # woke late at t, after ms of stall
    assert probe.overlapping(100.010, 60.0) == 80.0  # gap 99.95-100.01 inside stall 99.92-100.00
    assert probe.overlapping(150.000, 60.0) == 0.0
    assert probe.overlapping(199.990, 30.0) == 40.0


def test_the_probe_runs_and_stops() -> None:
    probe = StallProbe().start()
    time.sleep(0.3)
    probe.stop()
    summary = probe.summary()
    assert set(summary) == {"probe_realtime", "threshold_ms", "stalls", "stall_max_ms", "steal_pct"}
    assert probe._proc is not None and probe._proc.poll() is not None
