"""Barge-in detection: has the caller been talking for at least ``min_speech_ms``?

Pure: one call per 20 ms frame with the VAD's decision; short gaps (a stop
consonant, a breath) do not reset the run, a longer silence does.  The turn
stage runs it on the same VAD decision as the endpointer, ahead of the
recogniser, so a slow decode never delays an interruption.
"""

from __future__ import annotations

from agent.frames import FRAME_MS

__all__ = ["BargeInDetector"]


class BargeInDetector:
    """Counts the caller's current run of speech (see the module docstring)."""

    def __init__(self, min_speech_ms: int = 250, max_gap_ms: int = 80, frame_ms: int = FRAME_MS) -> None:
        self.min_speech_ms = min_speech_ms
        self.max_gap_ms = max_gap_ms
        self.frame_ms = frame_ms
        self.speech_ms = 0
        self._gap_ms = 0

    def update(self, is_speech: bool) -> bool:
        """Feed one frame's VAD decision; True while the run is long enough to interrupt."""
        if is_speech:
            self.speech_ms += self.frame_ms
            self._gap_ms = 0
        else:
            self._gap_ms += self.frame_ms
            if self._gap_ms > self.max_gap_ms:
                self.speech_ms = 0
        return self.speech_ms >= self.min_speech_ms > 0

    def reset(self) -> None:
        self.speech_ms = 0
        self._gap_ms = 0
