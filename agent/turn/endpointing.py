"""Turn logic: when did the caller start talking, and when did they stop?

Pure and clock-free: each call to :meth:`Endpointer.update` gives one frame's
VAD decision and the frame's time ``t`` (seconds, monotonic), taken as the
time the frame *ended* (when it was received).  The frame covers
``(t - frame_ms, t]``.

* A run of speech begins at the first speech frame.  Once it holds
  ``min_speech_ms`` of speech frames (clicks and coughs stay below that),
  :class:`SpeechStarted` is emitted, dated at the start of the run.
* The run ends when ``endpoint_ms`` of trailing silence follow the last
  speech frame: :class:`SpeechEnded` if the run had started, nothing if it
  was too short.
* A run longer than ``max_utterance_ms`` is cut (``SpeechEnded`` with
  ``forced=True``) so a stuck line never grows one recognition forever.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.frames import FRAME_MS

__all__ = ["Endpointer", "SpeechEnded", "SpeechStarted", "TurnEvent"]


@dataclass(frozen=True)
class SpeechStarted:
    """The caller started speaking at ``t_start_of_speech`` (seen at ``t_detected``)."""

    t_start_of_speech: float
    t_detected: float


@dataclass(frozen=True)
class SpeechEnded:
    """The caller stopped at ``t_end_of_speech``; the endpoint fired at ``t_detected``."""

    t_end_of_speech: float
    t_detected: float
    speech_ms: int = 0
    forced: bool = False


TurnEvent = SpeechStarted | SpeechEnded


class Endpointer:
    """Turns per-frame VAD decisions into speech start/end events."""

    def __init__(
        self,
        endpoint_ms: int = 500,
        min_speech_ms: int = 120,
        frame_ms: int = FRAME_MS,
        max_utterance_ms: int = 30_000,
    ) -> None:
        if endpoint_ms <= 0 or min_speech_ms < 0 or frame_ms <= 0:
            raise ValueError(
                "endpoint_ms and frame_ms must be > 0 and min_speech_ms >= 0, got "
                f"{endpoint_ms}, {frame_ms}, {min_speech_ms}"
            )
        self.endpoint_ms = endpoint_ms
        self.min_speech_ms = min_speech_ms
        self.frame_ms = frame_ms
        self.max_utterance_ms = max_utterance_ms
        self._frame_secs = frame_ms / 1000.0
        self._run_start: float | None = None
        self._last_speech_end = 0.0
        self._speech_ms = 0
        self._in_speech = False

    @property
    def in_speech(self) -> bool:
        """True between :class:`SpeechStarted` and :class:`SpeechEnded`."""
        return self._in_speech

    @property
    def in_run(self) -> bool:
        """True while a run of speech is open, started or not yet."""
        return self._run_start is not None

    @property
    def speech_ms(self) -> int:
        """Milliseconds of speech frames in the current run (0 when idle)."""
        return self._speech_ms

    @property
    def run_start(self) -> float | None:
        """When the current run began, or None when idle."""
        return self._run_start

    def reset(self) -> None:
        """Drop any run in progress without emitting events."""
        self._run_start = None
        self._last_speech_end = 0.0
        self._speech_ms = 0
        self._in_speech = False

    def update(self, is_speech: bool, t: float) -> list[TurnEvent]:
        """Feed one frame's decision (frame ending at ``t``); return new events."""
        events: list[TurnEvent] = []
        if is_speech:
            if self._run_start is None:
                self._run_start = t - self._frame_secs
            self._last_speech_end = t
            self._speech_ms += self.frame_ms
            if not self._in_speech and self._speech_ms >= self.min_speech_ms:
                self._in_speech = True
                events.append(SpeechStarted(self._run_start, t))
        elif self._run_start is not None:
            silence_ms = (t - self._last_speech_end) * 1000.0
            if silence_ms >= self.endpoint_ms - 1e-6:
                if self._in_speech:
                    events.append(SpeechEnded(self._last_speech_end, t, self._speech_ms))
                self.reset()
        run_start = self._run_start
        too_long = run_start is not None and (t - run_start) * 1000.0 >= self.max_utterance_ms
        if self._in_speech and too_long:
            events.append(SpeechEnded(t, t, self._speech_ms, forced=True))
            self.reset()
        return events

    def __repr__(self) -> str:
        return (
            f"Endpointer(endpoint_ms={self.endpoint_ms}, min_speech_ms={self.min_speech_ms}, "
            f"in_speech={self._in_speech}, speech_ms={self._speech_ms})"
        )
