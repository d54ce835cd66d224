"""Small typed frames passed between the stages of a call.

Data flows one way: caller audio -> turn/VAD -> STT -> dialog -> chunker -> TTS
-> playout.  Control frames (barge-in, hang-up) jump the queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "SAMPLE_RATE",
    "FRAME_SAMPLES",
    "FRAME_MS",
    "AudioChunk",
    "Transcript",
    "TextDelta",
    "SpeechChunk",
    "DtmfEvent",
    "HangupEvent",
    "CallEvent",
]

SAMPLE_RATE = 16000
"""The rate of every audio frame inside the agent (Hz)."""
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
"""Samples in one 20 ms frame at :data:`SAMPLE_RATE` (320)."""


@dataclass(frozen=True)
class AudioChunk:
    """Mono int16 audio with its rate and the monotonic time it was captured."""

    samples: np.ndarray
    rate: int = SAMPLE_RATE
    t_monotonic: float = 0.0

    @property
    def duration_secs(self) -> float:
        return len(self.samples) / self.rate


@dataclass(frozen=True)
class Transcript:
    """A partial or final recognition result."""

    text: str
    final: bool
    t_monotonic: float = 0.0


@dataclass(frozen=True)
class TextDelta:
    """A piece of the agent's reply as the dialog produces it."""

    text: str
    t_monotonic: float = 0.0


@dataclass(frozen=True)
class SpeechChunk:
    """Synthesised audio for one chunk of reply text."""

    text: str
    audio: AudioChunk
    t_monotonic: float = 0.0


@dataclass(frozen=True)
class DtmfEvent:
    digit: str
    t_monotonic: float = 0.0


@dataclass(frozen=True)
class HangupEvent:
    reason: str = ""
    t_monotonic: float = 0.0


CallEvent = DtmfEvent | HangupEvent
"""An event a call's session receives from the SIP side."""


@dataclass
class Counters:
    """Per-call media counters, written only by the media clock thread."""

    rx_frames: int = 0
    tx_frames: int = 0
    tx_silent: int = 0
    rx_dropped: int = 0
    extra: dict[str, int] = field(default_factory=dict)
