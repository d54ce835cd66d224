"""Piper (VITS, onnxruntime) text-to-speech, resampled to 16 kHz.

The onnxruntime session is built here rather than by ``PiperVoice.load`` so
its thread pool can be set: ``threads`` intra-op threads (default 2, the
fastest first chunk on the 2-core target: ~90 ms vs ~120 ms with 1 for a
5-word clause) with spinning disabled, so idle pool threads sleep instead of
burning the cores the media clock thread and the LLM need.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import ModelError
from agent.frames import SAMPLE_RATE
from agent.media.resample import resample
from agent.models import check_file, default_piper_voice
from agent.scheduler import SCHEDULER
from agent.tts.base import TtsEngine

__all__ = ["DEFAULT_THREADS", "VOICE_FIX", "PiperTts"]

logger = logging.getLogger(__name__)

DEFAULT_THREADS = 2
"""onnxruntime intra-op threads per voice (see the module docstring)."""
VOICE_FIX = "run scripts/get-models or pass another Piper voice .onnx"
_CACHE_ENTRIES = 32


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _load_config(config_path: Path) -> Any:
    from piper.config import PiperConfig

    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
        return PiperConfig.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelError(
            f"Piper voice config is broken: {config_path}: {_first_line(error)} ({VOICE_FIX})"
        ) from None


def _load_session(onnx_path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own untyped errors
        raise ModelError(
            f"Piper voice cannot be loaded: {onnx_path}: {_first_line(error)} ({VOICE_FIX})"
        ) from None


class PiperTts(TtsEngine):
    """A Piper voice.  ``synthesize`` is thread-safe (onnxruntime runs are).

    ``steady=True`` turns off Piper's random variation (its noise scales): the same text then
    always gives the same audio (the test caller speaks so, for tests that can be repeated).
    """

    name = "piper"

    def __init__(
        self,
        voice_path: str | Path | None = None,
        *,
        config_path: str | Path | None = None,
        threads: int = DEFAULT_THREADS,
        volume: float = 0.8,
        length_scale: float | None = None,
        steady: bool = False,
    ) -> None:
        from piper import PiperVoice
        from piper.config import SynthesisConfig

        onnx = check_file(voice_path or default_piper_voice(), "Piper voice", VOICE_FIX)
        config_file = check_file(config_path or f"{onnx}.json", "Piper voice config", VOICE_FIX)
        started = time.monotonic()
        config = _load_config(config_file)
        self._voice = PiperVoice(session=_load_session(onnx, threads), config=config)
        self._syn_config = SynthesisConfig(volume=volume, length_scale=length_scale)
        if steady:
            self._syn_config.noise_scale = self._syn_config.noise_w_scale = 0.0
        self.voice_path = onnx
        self.threads = threads
        self.voice_rate = int(config.sample_rate)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        logger.info(
            "piper %x: loaded %s (%d Hz, %d threads) in %.2f s",
            id(self),
            onnx.name,
            self.voice_rate,
            threads,
            time.monotonic() - started,
        )

    def synthesize(self, text: str) -> np.ndarray:
        """Speak ``text`` (all its sentences) as int16 at 16 kHz."""
        if not any(char.isalnum() for char in text):
            return np.zeros(0, dtype=np.int16)
        with SCHEDULER.slot("tts", self.threads, until_ended=True):
            parts = [
                np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
                for chunk in self._voice.synthesize(text, syn_config=self._syn_config)
            ]
        if not parts:
            return np.zeros(0, dtype=np.int16)
        return resample(np.concatenate(parts), self.voice_rate, SAMPLE_RATE)

    def synthesize_cached(self, text: str) -> np.ndarray:
        """Speak a fixed phrase (greeting, goodbye); the result is cached read-only."""
        with self._cache_lock:
            audio = self._cache.get(text)
            if audio is not None:
                self._cache.move_to_end(text)
                return audio
        audio = self.synthesize(text)
        audio.setflags(write=False)
        with self._cache_lock:
            self._cache[text] = audio
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return audio

    def close(self) -> None:
        with self._cache_lock:
            self._cache.clear()
