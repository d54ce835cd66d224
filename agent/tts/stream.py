"""Streaming text-to-speech for one call: a worker thread turns text chunks
into :class:`~agent.frames.SpeechChunk` s, in order.

In ``"streaming"`` mode (the product) each chunk from the chunker is
synthesised as soon as it arrives, so chunk N+1 is synthesised while chunk N
plays and the time to the first audio does not grow with the reply's length.
In ``"batch"`` mode (the baseline) all text is gathered until
:meth:`StreamingTts.end_reply`, then synthesised at once as one chunk.

``cancel()`` (barge-in) drops queued text and discards the result of a
synthesis in progress.  Output goes to callbacks if given, else to
:attr:`StreamingTts.output`; after each reply a :class:`ReplyEnd` follows its
last chunk.  Per chunk, :attr:`StreamingTts.timings` records when its text
arrived and when its audio was ready.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agent.frames import AudioChunk, SpeechChunk
from agent.tts.base import TtsEngine
from agent.media.priority import lower_thread_priority

__all__ = ["ChunkTiming", "ReplyEnd", "StreamingTts", "TtsMode", "TtsOutput"]

logger = logging.getLogger(__name__)

TtsMode = Literal["streaming", "batch"]


@dataclass(frozen=True)
class ReplyEnd:
    """Marks the end of one reply's audio in the output."""

    reply_index: int
    t_monotonic: float = 0.0


TtsOutput = SpeechChunk | ReplyEnd


@dataclass(frozen=True)
class ChunkTiming:
    """When one chunk's text arrived and when its audio was ready (monotonic s)."""

    reply_index: int
    chunk_index: int
    text: str
    t_text_first: float
    """The first text of this chunk arrived."""
    t_text_complete: float
    """Its text was complete (batch mode: the end-of-reply marker)."""
    t_synth_start: float
    t_ready: float
    audio_secs: float

    @property
    def synth_secs(self) -> float:
        return self.t_ready - self.t_synth_start


@dataclass(frozen=True)
class _Text:
    epoch: int
    text: str
    t_arrived: float


@dataclass(frozen=True)
class _End:
    epoch: int
    t_arrived: float


_STOP = object()


class StreamingTts:
    """One call's TTS worker (see the module docstring).  Lifecycle:
    ``start()``, then ``push_text`` / ``end_reply`` / ``cancel`` from any
    thread, then ``stop()``."""

    def __init__(
        self,
        engine: TtsEngine,
        *,
        mode: TtsMode = "streaming",
        on_chunk: Callable[[SpeechChunk], None] | None = None,
        on_reply_end: Callable[[ReplyEnd], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        if mode not in ("streaming", "batch"):
            raise ValueError(f"TTS mode must be 'streaming' or 'batch', got {mode!r}")
        self.engine = engine
        self.mode: TtsMode = mode
        self.name = name or f"tts-{id(self):x}"
        self.output: queue.Queue[TtsOutput] = queue.Queue()
        self._on_chunk = on_chunk
        self._on_reply_end = on_reply_end
        self._clock = clock
        self._input: queue.Queue[object] = queue.Queue()
        self._lock = threading.RLock()
        self._epoch = 0
        self._timings: list[ChunkTiming] = []
        self._batch: list[_Text] = []
        self._reply_index = 0
        self._chunk_index = 0
        self.errors = 0
        self._stopping = threading.Event()
        self.started = threading.Event()
        self.exited = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    # -- control (any thread) ----------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self.started.wait()

    def push_text(self, text: str) -> None:
        """Queue one chunk of reply text (from the chunker)."""
        if text.strip():
            self._input.put(_Text(self._epoch, text, self._clock()))

    def end_reply(self) -> None:
        """Mark the end of the current reply (batch mode synthesises now)."""
        self._input.put(_End(self._epoch, self._clock()))

    def cancel(self) -> None:
        """Barge-in: drop queued text and queued output, discard work in progress."""
        with self._lock:
            self._epoch += 1
            stop_seen = _drain(self._input)
            if stop_seen:
                self._input.put(_STOP)
            if self._on_chunk is None:
                _drain(self.output)
        logger.debug("%s: cancelled (epoch %d)", self.name, self._epoch)

    def stop(self, timeout_secs: float = 2.0) -> None:
        """Stop the worker: stop event, sentinel, join with a timeout."""
        self._stopping.set()
        self._input.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout_secs)
        if self._thread.is_alive():
            logger.warning("%s: worker did not exit within %.1f s", self.name, timeout_secs)

    @property
    def timings(self) -> list[ChunkTiming]:
        """Timings of the chunks emitted so far (a copy)."""
        with self._lock:
            return list(self._timings)

    # -- worker ------------------------------------------------------------

    def _run(self) -> None:
        lower_thread_priority()
        self.started.set()
        logger.debug("%s: started (%s mode)", self.name, self.mode)
        try:
            while not self._stopping.is_set():
                item = self._input.get()
                if item is _STOP:
                    break
                try:
                    self._handle(item)
                except Exception:
                    self.errors += 1
                    logger.exception("%s: synthesis failed; chunk dropped", self.name)
        finally:
            self.exited.set()
            logger.debug("%s: exited", self.name)

    def _handle(self, item: object) -> None:
        if isinstance(item, _Text):
            if item.epoch != self._epoch:
                return
            if self.mode == "batch":
                self._batch.append(item)
            else:
                self._synthesize(item.epoch, item.text, item.t_arrived, item.t_arrived)
        elif isinstance(item, _End):
            self._finish_reply(item)

    def _finish_reply(self, end: _End) -> None:
        batch = [part for part in self._batch if part.epoch == end.epoch]
        self._batch = []
        if end.epoch != self._epoch:
            return
        if batch:
            text = " ".join(part.text.strip() for part in batch)
            self._synthesize(end.epoch, text, batch[0].t_arrived, end.t_arrived)
        marker = ReplyEnd(self._reply_index, self._clock())
        with self._lock:
            if end.epoch != self._epoch:
                return
            self._reply_index += 1
            self._chunk_index = 0
            if self._on_reply_end is not None:
                self._on_reply_end(marker)
            elif self._on_chunk is None:
                self.output.put(marker)

    def _synthesize(self, epoch: int, text: str, t_first: float, t_complete: float) -> None:
        t_start = self._clock()
        samples = self.engine.synthesize(text)
        t_ready = self._clock()
        audio = AudioChunk(samples, self.engine.sample_rate, t_ready)
        with self._lock:
            if epoch != self._epoch:
                logger.debug(
                    "%s: discarded %.2f s of cancelled audio", self.name, audio.duration_secs
                )
                return
            self._timings.append(
                ChunkTiming(
                    self._reply_index,
                    self._chunk_index,
                    text,
                    t_first,
                    t_complete,
                    t_start,
                    t_ready,
                    audio.duration_secs,
                )
            )
            self._chunk_index += 1
            chunk = SpeechChunk(text, audio, t_ready)
            if self._on_chunk is not None:
                self._on_chunk(chunk)
            else:
                self.output.put(chunk)


def _drain(items: queue.Queue[object] | queue.Queue[TtsOutput]) -> bool:
    """Empty ``items``; True if the stop sentinel was among them."""
    stop_seen = False
    while True:
        try:
            item = items.get_nowait()
        except queue.Empty:
            return stop_seen
        stop_seen = stop_seen or item is _STOP
