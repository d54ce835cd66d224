"""Per-call recognition thread: frames in, speech events and transcripts out.

The call's media side puts 20 ms int16 frames (``np.ndarray`` or
:class:`~agent.frames.AudioChunk`) on a ``queue.Queue``.  The worker runs
VAD -> endpointer -> STT stream on them and calls ``on_event`` with:

* :class:`SpeechActivity` when the caller starts speaking and then every
  ``activity_every_ms`` of speech (barge-in: "speaking for >= N ms");
* :class:`~agent.frames.Transcript` partials (``final=False``);
* :class:`FinalTranscript` once the endpoint fires (text may be empty);
* :class:`SttFailed` if the worker dies on an unexpected error (the call
  should end; the process goes on).

Audio reaches the recogniser only once a run of speech is confirmed, with
``pre_roll_ms`` of audio before it, so silence costs almost nothing.
A frame's time is its ``AudioChunk.t_monotonic`` when set, else ``clock()``.
Frames are kept (not copied) for the pre-roll: do not reuse their buffers.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.frames import FRAME_MS, AudioChunk, Transcript
from agent.stt.base import SttEngine, SttStream
from agent.turn.endpointing import Endpointer, SpeechEnded, SpeechStarted
from agent.turn.vad import Vad
from agent.media.priority import lower_thread_priority

__all__ = ["STOP", "FinalTranscript", "SpeechActivity", "SttEvent", "SttFailed", "SttWorker"]

log = logging.getLogger(__name__)

STOP = object()
"""Sentinel: put it on the frame queue to make the worker exit."""
_POLL_SECS = 0.1


@dataclass(frozen=True)
class SpeechActivity:
    """The caller is speaking: ``speech_ms`` of speech so far in this turn."""

    t: float
    speech_ms: int
    t_start_of_speech: float = 0.0


@dataclass(frozen=True)
class FinalTranscript:
    """The text of one caller turn and when things happened.

    ``transcript.t_monotonic`` is when the final text was ready.
    """

    transcript: Transcript
    t_end_of_speech: float
    t_endpoint: float

    @property
    def text(self) -> str:
        return self.transcript.text

    @property
    def t_ready(self) -> float:
        return self.transcript.t_monotonic

    @property
    def finish_ms(self) -> float:
        """Recogniser time from the endpoint decision to the final text."""
        return (self.t_ready - self.t_endpoint) * 1000.0


@dataclass(frozen=True)
class SpeechPaused:
    """The caller has been silent for ``pause_ms`` in the middle of a turn.

    ``text`` is the latest partial transcript: enough to start on a reply
    speculatively while the endpoint is still waited for.
    """

    t: float
    text: str
    t_end_of_speech: float


@dataclass(frozen=True)
class SttFailed:
    """The worker stopped on an unexpected error (logged with its traceback)."""

    reason: str
    t: float = 0.0


SttEvent = SpeechActivity | SpeechPaused | Transcript | FinalTranscript | SttFailed
Frame = np.ndarray | AudioChunk


class SttWorker:
    """One thread per call running VAD, endpointing and streaming STT."""

    def __init__(
        self,
        engine: SttEngine,
        frames: queue.Queue[Any],
        on_event: Callable[[SttEvent], None],
        *,
        vad: Vad | None = None,
        endpointer: Endpointer | None = None,
        clock: Callable[[], float] = time.monotonic,
        pre_roll_ms: int = 300,
        activity_every_ms: int = 100,
        pause_ms: int = 0,
        name: str = "stt",
    ) -> None:
        self._engine = engine
        self._frames = frames
        self._on_event = on_event
        self._vad = vad or Vad()
        self._endpointer = endpointer or Endpointer()
        self._clock = clock
        self._activity_every_ms = activity_every_ms
        ep = self._endpointer
        keep_ms = pre_roll_ms + ep.min_speech_ms + ep.endpoint_ms
        self._pending: collections.deque[np.ndarray] = collections.deque(maxlen=keep_ms // FRAME_MS)
        self._pre_roll_frames = pre_roll_ms // FRAME_MS
        self._stream: SttStream | None = None
        self._next_activity_ms = 0
        self._pause_ms = pause_ms
        self._paused = False
        self._last_partial = ""
        self._last_speech_t = 0.0
        self._name = name
        self._stop = threading.Event()
        self.started = threading.Event()
        self.exited = threading.Event()
        self.failed = False
        self.frames_seen = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # life cycle -----------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_secs: float = 2.0) -> bool:
        """Ask the thread to exit and wait; True if it did."""
        self._stop.set()
        with contextlib.suppress(queue.Full):  # the stop event is enough then
            self._frames.put_nowait(STOP)
        if self._thread is threading.current_thread():
            return False  # called from on_event: the loop ends after this frame
        if self._thread.is_alive():
            self._thread.join(timeout_secs)
        if self._thread.is_alive():
            log.warning("%s: worker did not exit within %.1f s", self._name, timeout_secs)
            return False
        return True

    def _run(self) -> None:
        lower_thread_priority()
        try:
            self._stream = self._engine.new_stream()
            self.started.set()
            log.debug("%s: started", self._name)
            self._loop()
        except Exception as exc:
            self.failed = True
            log.exception("%s: STT worker failed", self._name)
            self._emit_safely(SttFailed(f"{type(exc).__name__}: {exc}", self._clock()))
        finally:
            self._close_stream()
            self.started.set()
            self.exited.set()
            log.debug("%s: exited after %d frames", self._name, self.frames_seen)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._frames.get(timeout=_POLL_SECS)
            except queue.Empty:
                continue
            if item is STOP:
                break
            if isinstance(item, AudioChunk):
                t = item.t_monotonic or self._clock()
                self.process_frame(item.samples, t)
            elif isinstance(item, np.ndarray):
                self.process_frame(item, self._clock())
            else:
                raise TypeError(f"unexpected item on the frame queue: {type(item).__name__}")

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception:
                log.exception("%s: closing the STT stream failed", self._name)

    def _emit_safely(self, event: SttEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("%s: on_event failed for %s", self._name, type(event).__name__)

    # per frame -----------------------------------------------------------

    def process_frame(self, samples: np.ndarray, t: float) -> None:
        """Run one frame through VAD, endpointer and STT (worker thread only)."""
        stream = self._stream
        if stream is None:
            raise RuntimeError("process_frame before the stream exists")
        self.frames_seen += 1
        endpointer = self._endpointer
        was_started = endpointer.in_speech
        is_speech = self._vad.is_speech(samples)
        events = endpointer.update(is_speech, t)
        if is_speech:
            self._last_speech_t = t
            self._paused = False
        elif self._pause_ms and endpointer.in_speech and not self._paused and self._last_partial:
            if (t - self._last_speech_t) * 1000.0 >= self._pause_ms:
                self._paused = True
                self._on_event(SpeechPaused(t, self._last_partial, self._last_speech_t))
        if endpointer.in_speech and endpointer.speech_ms >= self._next_activity_ms:
            # Before any decoding, so barge-in hears of it at once.
            self._next_activity_ms = endpointer.speech_ms + self._activity_every_ms
            start = endpointer.run_start if endpointer.run_start is not None else t
            self._on_event(SpeechActivity(t, endpointer.speech_ms, start))
        if was_started:
            self._feed(stream, samples)
        else:
            self._pending.append(samples)
        for event in events:
            if isinstance(event, SpeechStarted):
                self._on_started(stream, event)
            elif isinstance(event, SpeechEnded):
                self._on_ended(stream, event)

    def _feed(self, stream: SttStream, samples: np.ndarray) -> None:
        partial = stream.accept(samples)
        if partial is not None:
            self._last_partial = partial.text
            self._on_event(dataclasses.replace(partial, t_monotonic=self._clock()))

    def _on_started(self, stream: SttStream, event: SpeechStarted) -> None:
        log.debug("%s: speech started at %.3f", self._name, event.t_start_of_speech)
        run_frames = round((event.t_detected - event.t_start_of_speech) / (FRAME_MS / 1000.0))
        keep = min(len(self._pending), run_frames + self._pre_roll_frames)
        if keep:
            self._feed(stream, np.concatenate(list(self._pending)[-keep:]))
        self._pending.clear()

    def _on_ended(self, stream: SttStream, event: SpeechEnded) -> None:
        t_asked = self._clock()
        final = stream.finish()
        ready = dataclasses.replace(final, t_monotonic=self._clock())
        log.debug(
            "%s: final %r %.0f ms after the endpoint (frame queue %.0f ms, recogniser %.0f ms)",
            self._name,
            ready.text,
            (ready.t_monotonic - event.t_detected) * 1000.0,
            (t_asked - event.t_detected) * 1000.0,
            (ready.t_monotonic - t_asked) * 1000.0,
        )
        self._pending.clear()
        self._next_activity_ms = 0
        self._last_partial = ""
        self._paused = False
        self._on_event(FinalTranscript(ready, event.t_end_of_speech, event.t_detected))
