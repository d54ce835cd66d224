"""Barge-in detection: has the caller been talking for at least ``min_speech_ms``?

Pure: one call per 20 ms frame with the VAD's decision; short gaps (a stop
consonant, a breath) do not reset the run, a longer silence does.  It runs
on the frame path, ahead of the recogniser, so a slow decode never delays
an interruption.
"""

from __future__ import annotations

import threading

import numpy as np

from agent.frames import FRAME_MS

__all__ = ["BargeInDetector", "BargeInGate"]


class BargeInDetector:
    """Counts the caller's current run of speech (see the module docstring)."""

    def __init__(self, min_speech_ms: int = 250, max_gap_ms: int = 80, frame_ms: int = FRAME_MS) -> None:
        self.min_speech_ms = min_speech_ms
        self.max_gap_ms = max_gap_ms
        self.frame_ms = frame_ms
        self.speech_ms = 0
        self.dropped_frames = 0
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


class BargeInGate:
    """Barge-in on the media clock thread: playout stops within the frame that decides it.

    The conversation ``arm()``s the gate while the agent is audible.  ``feed()``
    runs in the port's receive callback (a VAD and a counter on 320 samples,
    tens of microseconds): when the caller has talked over the agent for
    ``min_speech_ms``, it returns True once, the port clears the playout, and
    ``fired`` tells the conversation to cancel synthesis and generation.
    """

    def __init__(self, min_speech_ms: int = 250) -> None:
        from agent.turn.vad import Vad

        self._vad = Vad()
        self._detector = BargeInDetector(min_speech_ms)
        self.armed = False
        self.fired = threading.Event()
        self.speech_ms = 0

    def configure(self, min_speech_ms: int) -> None:
        self._detector = BargeInDetector(min_speech_ms)

    def arm(self) -> None:
        if not self.armed:
            self._detector.reset()
            self.fired.clear()
            self.armed = True

    def disarm(self) -> None:
        self.armed = False

    def feed(self, frame: np.ndarray) -> bool:
        """Real time: one received frame; True when the agent must stop now."""
        speech = self._vad.is_speech(frame)
        if not self.armed:
            return False
        if self._detector.update(speech):
            self.armed = False
            self.speech_ms = self._detector.speech_ms
            self.fired.set()
            return True
        return False
