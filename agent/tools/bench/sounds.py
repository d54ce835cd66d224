"""Sounds a caller makes over the agent that must not interrupt it, and words that must.

Made here, deterministically: line noise (hiss, mains hum, clicks, a knock,
breath, two coughs) from numpy, and short non-words ("mm", "mm-hmm",
"uh-huh", "hmm") spoken by Piper and, where installed, espeak-ng.  The words
that should interrupt ("stop", "wait", ...) measure the other side: a VAD
that ignores everything also never lets the caller in.  All 16 kHz int16.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import signal

from ...frames import SAMPLE_RATE
from .corpus import ESPEAK_VOICES, espeak_available, render_espeak

__all__ = ["hums", "noises", "non_words", "interruptions", "NON_WORDS", "INTERRUPTIONS"]

NON_WORDS = ["Mm.", "Mm-hmm.", "Uh-huh.", "Hmm."]
INTERRUPTIONS = ["Stop.", "Wait.", "Hold on.", "No, that's wrong.", "Excuse me."]
_ESPEAK_NON_WORDS = ["mmm", "mm hmm", "uh huh", "hmm"]


def _pcm(x: np.ndarray, peak_dbfs: float) -> np.ndarray:
    x = x / (np.max(np.abs(x)) or 1.0) * 32767 * 10 ** (peak_dbfs / 20)
    return np.clip(x, -32768, 32767).astype(np.int16)


def _rms(x: np.ndarray, rms_dbfs: float) -> np.ndarray:
    x = x / (np.sqrt(np.mean(x**2)) or 1.0) * 32768 * 10 ** (rms_dbfs / 20)
    return np.clip(x, -32768, 32767).astype(np.int16)


def _band(x: np.ndarray, low: float, high: float) -> np.ndarray:
    sos = signal.butter(4, [low, high], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    return signal.sosfilt(sos, x)


def _burst(rng: np.random.Generator, secs: float, attack: float, decay: float, low: float, high: float) -> np.ndarray:
    t = np.arange(int(secs * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.minimum(t / attack, 1.0) * np.exp(-np.maximum(t - attack, 0.0) / decay)
    return _band(rng.standard_normal(len(t)), low, high) * envelope


def _cough(rng: np.random.Generator, bursts: int) -> np.ndarray:
    """Explosive noise bursts with a voiced rasp at their start (~0.3 s each)."""
    parts = []
    for _ in range(bursts):
        noise = _burst(rng, 0.32, 0.008, 0.07, 300, 3500)
        t = np.arange(len(noise)) / SAMPLE_RATE
        rasp = np.sign(np.sin(2 * np.pi * 140 * t)) * np.exp(-t / 0.04) * 0.6
        parts += [noise + _band(rasp, 100, 3000), np.zeros(int(0.12 * SAMPLE_RATE))]
    return np.concatenate(parts)


def _resonate(x: np.ndarray, freq: float, bandwidth: float) -> np.ndarray:
    r = np.exp(-np.pi * bandwidth / SAMPLE_RATE)
    theta = 2 * np.pi * freq / SAMPLE_RATE
    return signal.lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], x)


def _hum(secs: float, f0_start: float, f0_end: float) -> np.ndarray:
    """A closed-mouth "mmm": a glottal pulse train through nasal resonances, faded in and out."""
    n = int(secs * SAMPLE_RATE)
    phase = np.cumsum(np.linspace(f0_start, f0_end, n) / SAMPLE_RATE)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    voiced = sum(_resonate(pulses, f, b) * g for f, b, g in ((250, 60, 1.0), (1100, 150, 0.15), (2500, 200, 0.1)))
    fade = np.minimum(1.0, np.minimum(np.arange(n), n - np.arange(n)) / (0.04 * SAMPLE_RATE))
    return np.asarray(voiced) * fade


def noises(seed: int = 7) -> dict[str, np.ndarray]:
    """Line and room noise, each about a second or two."""
    rng = np.random.default_rng(seed)
    secs = 2.0
    t = np.arange(int(secs * SAMPLE_RATE)) / SAMPLE_RATE
    hum = np.sum([np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 3, 5, 7)], axis=0)
    clicks = np.zeros(len(t))
    for start in rng.integers(0, len(t) - 400, 14):  # typing
        clicks[start:start + 400] += _burst(rng, 0.025, 0.001, 0.004, 1000, 6000)
    knock = np.zeros(int(1.0 * SAMPLE_RATE))
    for start in (0.0, 0.22, 0.44):
        k = int(start * SAMPLE_RATE)
        knock[k:k + 2400] += _burst(rng, 0.15, 0.002, 0.03, 80, 900)
    return {
        "hiss -35 dBFS": _rms(_band(rng.standard_normal(len(t)), 100, 7000), -35),
        "hiss -20 dBFS": _rms(_band(rng.standard_normal(len(t)), 100, 7000), -20),
        "mains hum": _pcm(hum, -20),
        "typing": _pcm(clicks, -12),
        "knock": _pcm(knock, -6),
        "breath": _pcm(_burst(rng, 0.7, 0.25, 0.3, 200, 2500), -18),
        "cough": _pcm(_cough(rng, 1), -3),
        "double cough": _pcm(_cough(rng, 2), -3),
    }


def hums() -> dict[str, np.ndarray]:
    """A closed-mouth "mm" and "mm-hmm", made from a glottal pulse train (no voice says them well)."""
    gap = np.zeros(int(0.12 * SAMPLE_RATE))
    return {"hummed mm": _pcm(_hum(0.45, 125, 110), -6),
            "hummed mm-hmm": _pcm(np.concatenate([_hum(0.25, 120, 115), gap, _hum(0.35, 110, 150)]), -6)}


def non_words(piper: Callable[[str], np.ndarray]) -> dict[str, np.ndarray]:
    """Backchannel sounds by Piper and the espeak-ng voices."""
    clips = {f"piper {text}": piper(text) for text in NON_WORDS}
    clips.update(hums())
    if espeak_available():
        for voice, args in ESPEAK_VOICES.items():
            for text in _ESPEAK_NON_WORDS:
                clips[f"{voice} {text}"] = render_espeak(text, args)
    return clips


def interruptions(piper: Callable[[str], np.ndarray]) -> dict[str, np.ndarray]:
    """Short words a caller says to stop the agent."""
    return {f"piper {text}": piper(text) for text in INTERRUPTIONS}
