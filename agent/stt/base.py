"""Streaming speech recognition: one engine interface and a registry by name.

An :class:`SttEngine` holds a loaded model and is shared by every call; each
call asks it for an :class:`SttStream`, feeds it 16 kHz int16 audio as it
arrives and asks for the final text at the end of each utterance::

    engine = create_stt("pocketsphinx")
    stream = engine.new_stream()
    for frame in frames:
        partial = stream.accept(frame)      # Transcript(final=False) or None
    final = stream.finish()                 # Transcript(final=True)
    stream.close()                          # give pooled resources back

Audio is decoded incrementally: nothing is ever decoded twice.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from agent.frames import FRAME_SAMPLES, SAMPLE_RATE, Transcript
from agent.registry import Registry

__all__ = [
    "DEFAULT_STT",
    "PARTIAL_EVERY_MS",
    "IncrementalStream",
    "SttEngine",
    "STT",
    "SttStream",
    "create_stt",
    "create_stt_from",
    "register_stt",
    "stt_names",
]

DEFAULT_STT = "whisper"
PARTIAL_EVERY_MS = 100
"""How often (in audio time) a stream looks for a new partial result."""

EngineFactory = Callable[[str | None], "SttEngine"]


class SttStream(abc.ABC):
    """One caller's recognition state.  Not thread-safe: one feeding thread."""

    context: str = ""
    """Words said just before the caller's turn (the question the agent asked them), set before the turn's
    audio: a recogniser that takes a prompt decodes with them; others ignore them."""

    @abc.abstractmethod
    def accept(self, samples: np.ndarray, speech: bool = True) -> Transcript | None:
        """Feed int16 16 kHz audio (``speech``: the VAD heard speech in it); a partial when its text changed."""

    def pause(self) -> Transcript | None:
        """The caller paused mid-turn: a recogniser that decodes in stretches does so now (a partial)."""
        return None

    @abc.abstractmethod
    def finish(self) -> Transcript:
        """Final text of the utterance so far; the stream then starts afresh."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Drop the utterance in progress."""

    def close(self) -> None:
        """Release the stream (return pooled resources to the engine)."""
        self.reset()


class SttEngine(abc.ABC):
    """A loaded recognition model, shared by all calls."""

    name: ClassVar[str] = ""

    @abc.abstractmethod
    def new_stream(self) -> SttStream:
        """A fresh stream for one call."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model (optional)."""


class IncrementalStream(SttStream):
    """Shared mechanics for decoders fed piece by piece.

    Splits audio into pieces of at most ``piece_samples`` (so one native call
    never holds the GIL for long), asks the decoder for its partial text every
    :data:`PARTIAL_EVERY_MS` of audio and reports it only when it changed.
    Subclasses implement :meth:`_feed`, :meth:`_partial_text`,
    :meth:`_final_text` and :meth:`_discard`.
    """

    def __init__(
        self,
        partial_every_ms: int = PARTIAL_EVERY_MS,
        piece_samples: int = FRAME_SAMPLES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._partial_every = max(1, SAMPLE_RATE * partial_every_ms // 1000)
        self._piece_samples = piece_samples
        self._clock = clock
        self._since_partial = 0
        self._last_partial = ""
        self._active = False

    @property
    def active(self) -> bool:
        """True once audio was fed since the last finish/reset."""
        return self._active

    def accept(self, samples: np.ndarray, speech: bool = True) -> Transcript | None:
        pcm = np.asarray(samples)
        if pcm.dtype != np.int16:
            raise TypeError(f"STT streams take int16 audio, got {pcm.dtype}")
        pcm = pcm.reshape(-1)
        if pcm.size == 0:
            return None
        self._active = True
        for start in range(0, pcm.size, self._piece_samples):
            self._feed(pcm[start : start + self._piece_samples].tobytes())
        self._since_partial += pcm.size
        if self._since_partial < self._partial_every:
            return None
        self._since_partial = 0
        text = self._partial_text()
        if text == self._last_partial:
            return None
        self._last_partial = text
        return Transcript(text, final=False, t=self._clock())

    def finish(self) -> Transcript:
        text = self._final_text() if self._active else ""
        self._clear()
        return Transcript(text, final=True, t=self._clock())

    def reset(self) -> None:
        if self._active:
            self._discard()
        self._clear()

    def _clear(self) -> None:
        self._since_partial = 0
        self._last_partial = ""
        self._active = False

    @abc.abstractmethod
    def _feed(self, pcm: bytes) -> None:
        """Decode one piece of int16 little-endian audio."""

    @abc.abstractmethod
    def _partial_text(self) -> str:
        """The current best hypothesis (cheap; called every ~100 ms)."""

    @abc.abstractmethod
    def _final_text(self) -> str:
        """End the utterance and return its text; the decoder is ready again."""

    @abc.abstractmethod
    def _discard(self) -> None:
        """End the utterance, ignoring its result."""


def _create_pocketsphinx(model: str | None = None) -> SttEngine:
    from agent.stt.pocketsphinx import PocketsphinxEngine

    return PocketsphinxEngine(model)


def _create_vosk(model: str | None = None) -> SttEngine:
    from agent.stt.vosk import VoskEngine

    return VoskEngine(model)


def _vosk_options(cfg: Any) -> dict[str, Any]:
    return {"model": cfg.vosk_model or None}


def _create_whisper(model: str | None = None) -> SttEngine:
    from agent.stt.whisper import WhisperEngine

    return WhisperEngine(model)


def _whisper_options(cfg: Any) -> dict[str, Any]:
    return {"model": cfg.whisper_model or None}


STT: Registry[SttEngine] = Registry("STT engine")
# PocketSphinx's binding holds the GIL while it decodes: it runs in child processes.
STT.register("pocketsphinx", _create_pocketsphinx, own_process=True)
STT.register("vosk", _create_vosk, _vosk_options)
STT.register("whisper", _create_whisper, _whisper_options)


def register_stt(name: str, factory: EngineFactory, own_process: bool = False) -> None:
    """Make ``create_stt(name, model)`` call ``factory(model)`` (in a child process if ``own_process``)."""
    STT.register(name, factory, own_process=own_process)


def stt_names() -> list[str]:
    """The engine names :func:`create_stt` knows, sorted."""
    return STT.names()


def create_stt(name: str = DEFAULT_STT, model: str | None = None, *, in_process: bool = False) -> SttEngine:
    """Load the engine called ``name`` with ``model`` (a path, engine-specific).

    An engine registered with ``own_process`` decodes in pooled child processes
    (:class:`~agent.stt.process.ProcessSttEngine`) unless ``in_process`` (which
    is what such a child asks for).  Raises :class:`~agent.errors.ConfigError`
    for an unknown name and :class:`~agent.errors.ModelError` for a missing or
    broken model.
    """
    entry = STT.entry(name)
    if entry.traits.get("own_process") and not in_process:
        from agent.stt.process import ProcessSttEngine

        return ProcessSttEngine(name, model)
    return entry.factory(model)


def create_stt_from(cfg: Any) -> SttEngine:
    """The STT engine a :class:`~agent.config.SpeechConfig` names, with its options."""
    entry = STT.entry(cfg.stt)
    return create_stt(cfg.stt, entry.from_config(cfg).get("model"))
