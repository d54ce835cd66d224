"""The text-to-speech engine interface and its registry by name."""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agent.frames import SAMPLE_RATE
from agent.registry import Registry

__all__ = ["TTS", "TtsEngine", "create_tts", "register_tts", "tts_names"]


class TtsEngine(abc.ABC):
    """Turns text into mono int16 audio at :data:`sample_rate` (16 kHz).

    ``synthesize`` blocks; callers run it on a worker thread (see
    :class:`agent.tts.stream.TtsStage`), never on the SIP, media clock or
    conductor thread.  It may be called from several threads at once.
    """

    name: str = "tts"

    @property
    def sample_rate(self) -> int:
        """Rate of the audio ``synthesize`` returns (Hz)."""
        return SAMPLE_RATE

    @abc.abstractmethod
    def synthesize(self, text: str) -> np.ndarray:
        """Speak ``text``: int16 samples at :attr:`sample_rate` (empty if nothing to say)."""

    def synthesize_cached(self, text: str) -> np.ndarray:
        """Like :meth:`synthesize` (and as blocking the first time), for fixed phrases an engine may cache."""
        return self.synthesize(text)

    def close(self) -> None:
        """Release the model; the engine is unusable afterwards."""
        return None


def _create_piper(voice_path: str | Path | None = None, **options: Any) -> TtsEngine:
    from agent.tts.piper import PiperTts

    return PiperTts(voice_path, **options)


def _piper_options(cfg: Any) -> dict[str, Any]:
    return {"voice_path": cfg.piper_voice or None}


TTS: Registry[TtsEngine] = Registry("TTS engine")
TTS.register("piper", _create_piper, _piper_options)


def register_tts(name: str, factory: Callable[..., TtsEngine]) -> None:
    """Make ``create_tts(name, ...)`` call ``factory(voice_path=..., **options)``."""
    TTS.register(name, factory)


def tts_names() -> list[str]:
    """Names accepted by :func:`create_tts`."""
    return TTS.names()


def create_tts(name: str, voice_path: str | Path | None = None, **options: Any) -> TtsEngine:
    """Build the TTS engine ``name`` ("piper"); ``voice_path`` None = the default voice."""
    return TTS.create(name, voice_path=voice_path, **options)
