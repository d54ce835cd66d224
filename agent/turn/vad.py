"""Voice-activity detection on 20 ms int16 frames at 16 kHz.

An energy detector with an adaptive noise floor: a frame is speech when its
level is above an absolute threshold *and* at least ``margin_db`` above the
noise floor.  The floor is the lowest frame level seen during the last
``floor_window_ms`` (minimum statistics), so steady background noise (hiss,
hum, a fan) stops counting as speech within one window, while the pauses
between words keep the floor low during speech.

Pure numpy, no threads, no clock: one call per frame, ~10 µs each.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from agent.frames import FRAME_MS, FRAME_SAMPLES

__all__ = ["SILENCE_DBFS", "Vad", "VoiceDetector", "frame_level_dbfs"]

SILENCE_DBFS = -100.0
"""The level reported for digital silence (and the lowest level reported)."""
_FULL_SCALE_SQ = 32768.0 * 32768.0
_SILENCE_POWER = _FULL_SCALE_SQ * 10.0 ** (SILENCE_DBFS / 10.0)


def frame_level_dbfs(frame: np.ndarray) -> float:
    """RMS level of ``frame`` (int16) in dB relative to full scale, DC removed."""
    x = np.asarray(frame, dtype=np.float32)
    if x.size == 0:
        return SILENCE_DBFS
    x = x - x.mean()
    power = float(np.dot(x, x)) / x.size
    return 10.0 * math.log10(max(power, _SILENCE_POWER) / _FULL_SCALE_SQ)


class VoiceDetector(Protocol):
    """What the turn stage needs of a VAD: one decision per 20 ms frame."""

    def is_speech(self, frame: np.ndarray) -> bool: ...

    def reset(self) -> None: ...


class Vad:
    """Energy VAD with an adaptive (windowed-minimum) noise floor.

    ``threshold_db``: absolute level (dBFS) below which nothing is speech.
    ``margin_db``: how far above the noise floor a frame must be.
    ``floor_window_ms``: how far back the noise floor looks.
    ``initial_floor_db``: the floor assumed before any audio (it leaves the
    window after ``floor_window_ms``), so speech at the very start of a call
    is detected; steady loud noise at the start counts as speech until then.
    """

    def __init__(
        self,
        threshold_db: float = -45.0,
        margin_db: float = 10.0,
        floor_window_ms: int = 1500,
        initial_floor_db: float = -70.0,
        frame_ms: int = FRAME_MS,
    ) -> None:
        if floor_window_ms < frame_ms or frame_ms <= 0:
            raise ValueError(
                f"floor_window_ms ({floor_window_ms}) must be at least frame_ms ({frame_ms}) > 0"
            )
        self.threshold_db = threshold_db
        self.margin_db = margin_db
        self.initial_floor_db = initial_floor_db
        self._levels = np.empty(floor_window_ms // frame_ms, dtype=np.float32)
        self._next = 0
        self.last_level_db = SILENCE_DBFS
        self.reset()

    def reset(self) -> None:
        """Forget the noise floor (e.g. at the start of a new call)."""
        self._levels.fill(self.initial_floor_db)
        self._next = 0
        self.last_level_db = SILENCE_DBFS

    @property
    def noise_floor_db(self) -> float:
        """The current noise-floor estimate (dBFS)."""
        return float(self._levels.min())

    def is_speech(self, frame: np.ndarray) -> bool:
        """Classify one frame (normally :data:`~agent.frames.FRAME_SAMPLES` int16)."""
        level_db = frame_level_dbfs(frame)
        self.last_level_db = level_db
        floor_db = float(self._levels.min())
        self._levels[self._next] = level_db
        self._next = (self._next + 1) % len(self._levels)
        return level_db >= self.threshold_db and level_db >= floor_db + self.margin_db

    def __repr__(self) -> str:
        return (
            f"Vad(threshold_db={self.threshold_db}, margin_db={self.margin_db}, "
            f"floor_db={self.noise_floor_db:.1f}, frame_samples={FRAME_SAMPLES})"
        )
