"""The TTS stage: text chunks in, :class:`~agent.frames.SpeechChunk` s out, in order.

In ``"streaming"`` mode (the product) each :class:`~agent.frames.TextChunk`
from the chunker is synthesised as soon as it arrives, so chunk N+1 is
synthesised while chunk N plays and the time to the first audio does not grow
with the reply's length.  In ``"batch"`` mode (the baseline) a reply's chunks
are gathered until its :class:`~agent.frames.ReplyGenerated` and synthesised
at once, as one chunk.  After a reply's last chunk comes a
:class:`~agent.frames.SynthesisDone`.  A :class:`~agent.frames.SpokenPhrase`
(the greeting) is a whole reply of one chunk, said from the engine's cache
of fixed phrases, in either mode.

The engine failing on one chunk drops that chunk (logged with its
traceback); any other error ends the stage.  An interrupt does not reach in
here: the pipeline flushes this stage's inbox and ignores what a synthesis
already under way still produces.  Per chunk,
:attr:`TtsStage.timings` records when its text arrived and when its audio was
ready.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agent.frames import (
    AudioChunk,
    Frame,
    ReplyGenerated,
    SpeechChunk,
    SpokenPhrase,
    StageFailed,
    SynthesisDone,
    TextChunk,
)
from agent.scheduler import CallEnded
from agent.tts.base import TtsEngine
from agent.worker import Inbox, Worker

__all__ = ["ChunkTiming", "TtsMode", "TtsStage", "TTS_MODES"]

logger = logging.getLogger(__name__)

TtsMode = Literal["streaming", "batch"]
TTS_MODES: tuple[TtsMode, ...] = ("streaming", "batch")


@dataclass(frozen=True)
class ChunkTiming:
    """When one chunk's text arrived and when its audio was ready (monotonic s)."""

    reply: int
    index: int
    text: str
    t_text_first: float
    """The first text of this chunk arrived."""
    t_text_complete: float
    """Its text was complete (batch mode: the end of the reply)."""
    t_synth_start: float
    t_ready: float
    audio_secs: float

    @property
    def synth_secs(self) -> float:
        return self.t_ready - self.t_synth_start


class TtsStage(Worker):
    """One call's synthesis thread (see the module docstring)."""

    def __init__(
        self,
        name: str,
        engine: TtsEngine,
        inbox: Inbox,
        emit: Callable[[Frame], None],
        *,
        mode: TtsMode = "streaming",
        on_failure: Callable[[StageFailed], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in TTS_MODES:
            raise ValueError(f"TTS mode must be 'streaming' or 'batch', got {mode!r}")
        super().__init__(name, inbox, on_failure)
        self.engine = engine
        self.mode: TtsMode = mode
        self._emit = emit
        self._clock = clock
        self._batch: list[TextChunk] = []
        self._emitted: dict[int, int] = {}
        self.timings: list[ChunkTiming] = []
        self.errors = 0

    def handle(self, item: object) -> None:
        if isinstance(item, TextChunk):
            if not item.text.strip():
                return
            if self.mode == "batch":
                self._batch = [c for c in self._batch if c.reply == item.reply] + [item]
            else:
                self._synthesize(item.reply, item.text, item.t, item.t)
        elif isinstance(item, ReplyGenerated):
            self._end_reply(item)
        elif isinstance(item, SpokenPhrase):
            self._synthesize(item.reply, item.text, item.t, item.t, cached=True)
            self._emit(SynthesisDone(item.reply, self._emitted.pop(item.reply, 0), t=self._clock()))

    def _end_reply(self, end: ReplyGenerated) -> None:
        batch = [c for c in self._batch if c.reply == end.reply]
        self._batch = []
        if batch:
            text = " ".join(c.text.strip() for c in batch)
            self._synthesize(end.reply, text, batch[0].t, end.t)
        self._emit(SynthesisDone(end.reply, self._emitted.pop(end.reply, 0), t=self._clock()))

    def _synthesize(self, reply: int, text: str, t_first: float, t_complete: float, cached: bool = False) -> None:
        t_start = self._clock()
        try:
            samples = self.engine.synthesize_cached(text) if cached else self.engine.synthesize(text)
        except CallEnded:  # nobody is left to hear it
            logger.debug("%s: the call ended before %r was synthesised", self.name, text)
            return
        except Exception:  # one chunk the voice cannot say must not end the call
            self.errors += 1
            logger.exception("%s: synthesis failed; chunk dropped: %r", self.name, text)
            return
        t_ready = self._clock()
        audio = AudioChunk(samples, self.engine.sample_rate, t=t_ready)
        index = self._emitted.get(reply, 0)
        self._emitted = {reply: index + 1}  # only the reply in progress is counted
        self.timings.append(ChunkTiming(reply, index, text, t_first, t_complete, t_start, t_ready,
                                        audio.duration_secs))
        self._emit(SpeechChunk(text, audio, reply, index, t=t_ready))
