"""The STT stage: the caller's turns in, partial and final transcripts out.

It reads what the turn stage (:mod:`agent.turn.listener`) sends it and feeds
the recogniser only inside a turn:

* :class:`~agent.frames.SpeechStarted` feeds its pre-roll audio,
* each :class:`~agent.frames.CallerSpeech` frame is fed as it comes; a new
  partial text goes out as a :class:`~agent.frames.Transcript` (``final=False``),
* :class:`~agent.frames.SpeechPause` becomes :class:`~agent.frames.SpeechPaused`
  with the latest partial (once per pause, when there are words); the words
  also go to the turn stage's :class:`~agent.turn.end_of_turn.TurnHints`,
  which decides with them how long a silence ends the turn,
* :class:`~agent.frames.SpeechEnded` asks for the final text:
  :class:`~agent.frames.FinalTranscript`, stamped when it is ready.

Numbers, times and spellings in what goes out are written one way
(:func:`agent.stt.numbers.as_said`): a phone number read in groups reaches the
conversation as one string of digits.

An unexpected error ends the stage with a :class:`~agent.frames.StageFailed`
(the call should end; the process goes on).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from agent.frames import (
    SAMPLE_RATE,
    CallerSpeech,
    FinalTranscript,
    Frame,
    InputEnded,
    SpeechEnded,
    SpeechPause,
    SpeechPaused,
    SpeechStarted,
    StageFailed,
    Transcript,
)
from agent.stt.base import SttEngine, SttStream
from agent.stt.numbers import as_said
from agent.turn.end_of_turn import TurnHints
from agent.worker import Inbox, Worker

__all__ = ["SttStage"]

log = logging.getLogger(__name__)

WHOLE_MAX_SECS = 28
"""Words that joined a turn are decoded with it as one piece while the whole fits Whisper's 30 s."""


class SttStage(Worker):
    """One recogniser stream per call, on the call's ``stt`` thread."""

    def __init__(
        self,
        name: str,
        engine: SttEngine,
        inbox: Inbox,
        emit: Callable[[Frame], None],
        on_failure: Callable[[StageFailed], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        hints: TurnHints | None = None,
    ) -> None:
        super().__init__(name, inbox, on_failure)
        self._hints = hints
        self._engine = engine
        self._emit = emit
        self._clock = clock
        self._stream: SttStream | None = None
        self._last_partial = ""
        self._last_confidence = 1.0
        self._last_unsure: tuple[str, ...] = ()
        self._pause_reported = 0.0
        self._pause_decoded = 0.0
        self._utterance: list[np.ndarray] = []
        """The audio of the caller's words since their speech started."""
        self._before: list[np.ndarray] = []
        """The audio of their last turn (and of what joined it): what new words may join."""
        self.frames_fed = 0
        self.whole_decodes = 0

    def setup(self) -> None:
        self._stream = self._engine.new_stream()

    def teardown(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def handle(self, item: object) -> None:
        stream = self._stream
        assert stream is not None
        if isinstance(item, CallerSpeech):
            self._feed(stream, item.samples, item.speech)
        elif isinstance(item, SpeechStarted):
            log.debug("%s: speech started at %.3f", self.name, item.t_start_of_speech)
            if self._hints is not None and not self._last_partial:  # a turn's first words (kept for the turn)
                stream.context = self._hints.asked
            if len(item.pre_roll):
                self._feed(stream, item.pre_roll)
        elif isinstance(item, SpeechPause):
            if item.t_end_of_speech != self._pause_decoded:
                self._pause_decoded = item.t_end_of_speech
                self._partial(stream.pause())
                if self._hints is not None:  # the turn stage waits for these words to end the turn
                    self._hints.heard(item.t_end_of_speech, self._last_partial)
            if self._last_partial and item.t_end_of_speech != self._pause_reported:
                self._pause_reported = item.t_end_of_speech
                self._emit(SpeechPaused(as_said(self._last_partial), item.t_end_of_speech, self._last_confidence,
                                        self._last_unsure, t=self._clock()))
        elif isinstance(item, SpeechEnded):
            self._final(stream, item)
        elif isinstance(item, InputEnded):
            self._emit(item)  # after the last words

    def _feed(self, stream: SttStream, samples: np.ndarray, speech: bool = True) -> None:
        self.frames_fed += 1
        self._utterance.append(samples)
        self._partial(stream.accept(samples, speech))

    def _partial(self, partial: Transcript | None) -> None:
        if partial is not None:
            self._last_partial, self._last_confidence = partial.text, partial.confidence
            self._last_unsure = partial.unsure
            self._emit(Transcript(partial.text, False, partial.confidence, partial.unsure, t=self._clock()))

    def _final(self, stream: SttStream, ended: SpeechEnded) -> None:
        t_asked = self._clock()
        final = stream.finish()
        text = as_said(final.text)  # "2 2 0, 6 5 2" and "220-652" alike: one string of digits
        t_ready = self._clock()
        log.debug("%s: final %r %.0f ms after the endpoint (queue %.0f ms, recogniser %.0f ms)", self.name, text,
                  (t_ready - ended.t_endpoint) * 1000.0, (t_asked - ended.t_endpoint) * 1000.0,
                  (t_ready - t_asked) * 1000.0)
        self._last_partial, self._last_confidence, self._last_unsure = "", 1.0, ()
        whole = as_said(self._whole(text))
        self._emit(FinalTranscript(text, ended.t_end_of_speech, ended.t_endpoint, final.confidence, whole,
                                   final.unsure, t=self._clock() if whole else t_ready))

    def _whole(self, text: str) -> str:
        """The caller went on before hearing the reply to their last turn: decode it and these words again
        as one piece (a recogniser that decodes whole stretches only); keep the audio for what may follow."""
        utterance, self._utterance = self._utterance, []
        joins = bool(text) and self._hints is not None and self._hints.can_join and bool(self._before)
        decode = getattr(self._engine, "decode", None)
        audio = [*self._before, *utterance] if joins else utterance
        if sum(len(piece) for piece in audio) > WHOLE_MAX_SECS * SAMPLE_RATE:
            audio = utterance  # past what one decode hears: this turn alone from here
        if text:
            self._before = audio
        if not joins or decode is None or audio is utterance:
            return ""
        self.whole_decodes += 1
        whole = str(decode(np.concatenate(audio)))
        log.debug("%s: the turn decoded again as one piece: %r", self.name, whole)
        return whole
