"""The turn stage: one VAD pass per received frame serves endpointing and barge-in.

:class:`Listener` is pure (frames and times in, frames out); :class:`ListenerStage`
runs it on the call's ``turn`` thread, reading the media port's queue of
:class:`~agent.frames.AudioChunk` s (stamped on arrival).  It sends to the
recogniser only the caller's turns (:class:`~agent.frames.SpeechStarted` with
``pre_roll_ms`` of audio from before it, each :class:`~agent.frames.CallerSpeech`
frame, :class:`~agent.frames.SpeechPause` and :class:`~agent.frames.SpeechEnded`),
so silence costs almost nothing; and to the conductor
:class:`~agent.frames.SpeechOnset` (the first frame of a sound),
:class:`~agent.frames.SpeechActivity` (at the start of speech and every
``activity_every_ms``) and :class:`~agent.frames.LongSpeech` (a run of speech
long enough to interrupt the agent), ahead of any decoding.
"""

from __future__ import annotations

import collections
import logging
import queue
import time
from collections.abc import Callable

import numpy as np

from agent.frames import (
    FRAME_MS,
    AudioChunk,
    CallerSpeech,
    Frame,
    InputEnded,
    LongSpeech,
    SpeechActivity,
    SpeechEnded,
    SpeechOnset,
    SpeechPause,
    SpeechStarted,
    StageFailed,
)
from agent.turn import endpointing as ep
from agent.turn.bargein import BargeInDetector
from agent.turn.end_of_turn import EndOfTurn
from agent.turn.vad import Vad, VoiceDetector
from agent.worker import Worker

__all__ = ["Listener", "ListenerStage", "FOR_STT"]

log = logging.getLogger(__name__)

FOR_STT = (SpeechStarted, CallerSpeech, SpeechPause, SpeechEnded, InputEnded)
"""Frames the listener makes for the recogniser; the others go to the conductor."""
LONG_SPEECH_EVERY_MS = 100
"""While a run of speech stays over the barge-in threshold, it is said again this often."""
TURN_AUDIO_MS = 8000
"""The end-of-turn model hears at most the last 8 s of a turn."""


class Listener:
    """VAD -> endpointer, pause and barge-in detection (see the module docstring)."""

    def __init__(
        self,
        *,
        vad: VoiceDetector | None = None,
        endpointer: ep.Endpointer | None = None,
        barge_in_ms: int = 250,
        pre_roll_ms: int = 300,
        activity_every_ms: int = 100,
        pause_ms: int = 0,
        end_of_turn: EndOfTurn | None = None,
    ) -> None:
        self._vad: VoiceDetector = vad or Vad()
        self._endpointer = endpointer or ep.Endpointer()
        self._barge_in = BargeInDetector(barge_in_ms)
        self._activity_every_ms = activity_every_ms
        self._pause_ms = pause_ms
        keep_ms = pre_roll_ms + self._endpointer.min_speech_ms + self._endpointer.endpoint_ms
        self._pending: collections.deque[np.ndarray] = collections.deque(maxlen=keep_ms // FRAME_MS)
        self._pre_roll_frames = pre_roll_ms // FRAME_MS
        self._next_activity_ms = 0
        self._was_speech = False
        self._next_long_ms = 0
        self._last_speech_t = 0.0
        self._end_of_turn = end_of_turn
        self._turn_audio: collections.deque[np.ndarray] = collections.deque(maxlen=TURN_AUDIO_MS // FRAME_MS)
        self._pause_scored = -1.0
        """The pause (its ``t_end_of_speech``) the end-of-turn model last scored."""
        self._p_done: float | None = None
        self.frames_seen = 0

    def process(self, samples: np.ndarray, t: float) -> list[Frame]:
        """One received frame captured at ``t``: the frames it gives, in order."""
        self.frames_seen += 1
        endpointer = self._endpointer
        was_started = endpointer.in_speech
        is_speech = self._vad.is_speech(samples)
        if self._end_of_turn is not None and was_started:
            self._adapt_endpoint(is_speech, samples, t)
        events = endpointer.update(is_speech, t)
        out: list[Frame] = []
        self._check_long_speech(is_speech, t, out)
        if is_speech and not endpointer.in_speech and not self._was_speech:
            out.append(SpeechOnset(t=t))  # the conductor may hold a reply about to start until it is known
        self._was_speech = is_speech
        if is_speech:
            self._last_speech_t = t
        elif self._pause_ms and endpointer.in_speech and (t - self._last_speech_t) * 1000.0 >= self._pause_ms:
            out.append(SpeechPause(self._last_speech_t, t=t))  # each silent frame: words may come late
        if endpointer.in_speech and endpointer.speech_ms >= self._next_activity_ms:
            self._next_activity_ms = endpointer.speech_ms + self._activity_every_ms
            start = endpointer.run_start if endpointer.run_start is not None else t
            out.append(SpeechActivity(endpointer.speech_ms, start, t=t))
        if was_started:
            out.append(CallerSpeech(samples, is_speech, t=t))
        else:
            self._pending.append(samples)
        for event in events:
            if isinstance(event, ep.SpeechStarted):
                out.append(self._started(event, t))
            elif isinstance(event, ep.SpeechEnded):
                out.append(self._ended(event, t))
        return out

    def hang_up(self, t: float) -> list[Frame]:
        """The call ended: a caller cut off mid-sentence has ended their turn there (their words are decoded, not
        dropped); then :class:`InputEnded`."""
        out: list[Frame] = []
        if self._endpointer.in_speech:
            end = self._last_speech_t or t
            out.append(self._ended(ep.SpeechEnded(end, t, self._endpointer.speech_ms, forced=True), t))
        self._endpointer.reset()
        out.append(InputEnded(t=t))
        return out

    def _adapt_endpoint(self, is_speech: bool, samples: np.ndarray, t: float) -> None:
        """Inside a turn: keep its audio; at a pause, set the silence that will end it (sound and words)."""
        eot = self._end_of_turn
        assert eot is not None
        self._turn_audio.append(samples)
        if is_speech or (t - self._last_speech_t) * 1000.0 < self._pause_ms:
            return
        pause = self._last_speech_t
        if self._pause_scored != pause:
            self._pause_scored = pause
            self._p_done = eot.model(np.concatenate(self._turn_audio)) if eot.model is not None else None
        words = eot.hints.words_at(pause) if eot.hints is not None else ""
        wait = eot.wait_ms(self._p_done, words)
        if wait != self._endpointer.endpoint_ms:
            log.debug("end of turn after %d ms of silence (%s)", wait, eot.why(self._p_done, words))
        self._endpointer.endpoint_ms = wait

    def _check_long_speech(self, is_speech: bool, t: float, out: list[Frame]) -> None:
        detector = self._barge_in
        if not detector.update(is_speech):
            self._next_long_ms = 0
            return
        if detector.speech_ms >= self._next_long_ms:
            self._next_long_ms = detector.speech_ms + LONG_SPEECH_EVERY_MS
            out.append(LongSpeech(detector.speech_ms, t=t))

    def _started(self, event: ep.SpeechStarted, t: float) -> SpeechStarted:
        run_frames = round((event.t_detected - event.t_start_of_speech) / (FRAME_MS / 1000.0))
        keep = min(len(self._pending), run_frames + self._pre_roll_frames)
        pre_roll = np.concatenate(list(self._pending)[-keep:]) if keep else np.zeros(0, dtype=np.int16)
        self._pending.clear()
        self._turn_audio.clear()
        if len(pre_roll):
            self._turn_audio.append(pre_roll)
        return SpeechStarted(event.t_start_of_speech, pre_roll, t=t)

    def _ended(self, event: ep.SpeechEnded, t: float) -> SpeechEnded:
        self._pending.clear()
        self._turn_audio.clear()
        if self._end_of_turn is not None:
            self._endpointer.endpoint_ms = self._end_of_turn.short_ms
        self._next_activity_ms = 0
        return SpeechEnded(event.t_end_of_speech, event.t_detected, t=t)


class ListenerStage(Worker):
    """The call's ``turn`` thread: reads the media port's queue, runs the :class:`Listener`.

    Frames for the recogniser go to ``to_stt``, the others to ``to_conductor``;
    :class:`~agent.frames.LongSpeech` (a barge-in) to ``urgent``, which jumps the
    conductor's queue.  The port queue's hang-up marker (None) ends the caller's turn if they were speaking,
    and :class:`~agent.frames.InputEnded` follows.
    """

    def __init__(
        self,
        name: str,
        audio: queue.SimpleQueue[AudioChunk | None],
        listener: Listener,
        to_stt: Callable[[Frame], None],
        to_conductor: Callable[[Frame], None],
        urgent: Callable[[Frame], None],
        on_failure: Callable[[StageFailed], None],
    ) -> None:
        # Normal priority, unlike the model stages: barge-in is decided here, within a frame.
        super().__init__(name, audio, on_failure, lower_priority=False)  # type: ignore[arg-type]
        self.listener = listener
        self._to_stt = to_stt
        self._to_conductor = to_conductor
        self._urgent = urgent

    def handle(self, item: object) -> None:
        if item is None:  # the call ended
            frames = self.listener.hang_up(time.monotonic())
        elif isinstance(item, AudioChunk):
            frames = self.listener.process(item.samples, item.t)
        else:
            return
        for frame in frames:
            if isinstance(frame, FOR_STT):
                self._to_stt(frame)
            elif isinstance(frame, LongSpeech):
                self._urgent(frame)
            else:
                self._to_conductor(frame)
