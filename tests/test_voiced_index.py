"""The caller's index of non-silent frames: measured once each, in arrival order."""

from __future__ import annotations

import numpy as np

from agent.frames import FRAME_SAMPLES
from agent.tools.caller import VoicedIndex


def _frame(amplitude: int) -> bytes:
    t = np.arange(FRAME_SAMPLES)
    return (amplitude * np.sin(2 * np.pi * 440 * t / 16000)).astype(np.int16).tobytes()


def test_it_finds_voiced_frames_incrementally() -> None:
    rx_log: list[tuple[float, bytes]] = []
    index = VoicedIndex(rx_log)
    assert index.first_after(0.0) is None and index.last() == 0.0
    rx_log += [(1.00, _frame(0)), (1.02, _frame(3)), (1.04, _frame(3000))]
    assert index.first_after(0.0) == 1.04  # -50 dBFS: amplitude 3 is silence
    rx_log += [(1.06, _frame(0)), (1.08, _frame(20000)), (1.10, _frame(0))]
    assert index.first_after(1.04) == 1.08
    assert index.first_after(1.08) is None
    assert index.last() == 1.08
    assert index.update() == [1.04, 1.08]


def test_odd_sized_frames_are_measured_one_by_one() -> None:
    assert VoicedIndex([(2.0, _frame(5000)[:100]), (2.02, _frame(0))]).update() == [2.0]
