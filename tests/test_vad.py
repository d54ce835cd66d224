"""Tests for agent.turn.vad: real Piper speech, silence and noise."""

from __future__ import annotations

import numpy as np
import pytest

from agent.frames import FRAME_SAMPLES, SAMPLE_RATE
from agent.turn.vad import SILENCE_DBFS, Vad, frame_level_dbfs
from tests.speech_helpers import frames_of, noise_16k, silence_16k, speech_16k

SENTENCE = "what is the weather like today in the city of Boston"


def _decisions(vad: Vad, audio: np.ndarray) -> list[bool]:
    return [vad.is_speech(frame) for frame in frames_of(audio)]


def _scaled(audio: np.ndarray, gain_db: float) -> np.ndarray:
    gain = 10.0 ** (gain_db / 20.0)
    out: np.ndarray = np.clip(audio.astype(np.float64) * gain, -32768, 32767).astype(np.int16)
    return out


def _loud_frames(audio: np.ndarray, above_dbfs: float) -> list[bool]:
    return [frame_level_dbfs(f) > above_dbfs for f in frames_of(audio)]


def test_level_of_full_scale_sine_is_minus_3_db() -> None:
    t = np.arange(FRAME_SAMPLES) / SAMPLE_RATE
    sine = (32767 * np.sin(2 * np.pi * 500 * t)).astype(np.int16)
    assert frame_level_dbfs(sine) == pytest.approx(-3.0, abs=0.1)


def test_level_of_silence_and_dc_is_the_floor() -> None:
    assert frame_level_dbfs(silence_16k(20)) == SILENCE_DBFS
    assert frame_level_dbfs(np.full(FRAME_SAMPLES, 5000, dtype=np.int16)) == SILENCE_DBFS
    assert frame_level_dbfs(np.zeros(0, dtype=np.int16)) == SILENCE_DBFS


def test_silence_is_not_speech() -> None:
    assert not any(_decisions(Vad(), silence_16k(2000)))


@pytest.mark.parametrize("level_dbfs", [-70.0, -60.0, -55.0])
def test_low_level_noise_is_not_speech(level_dbfs: float) -> None:
    assert not any(_decisions(Vad(), noise_16k(3000, level_dbfs)))


def test_steady_noise_stops_counting_after_one_window() -> None:
    vad = Vad(floor_window_ms=1000)
    decisions = _decisions(vad, noise_16k(4000, -35.0))
    assert not any(decisions[60:])  # after 1.2 s
    assert vad.noise_floor_db == pytest.approx(-35.0, abs=2.0)


def test_piper_speech_is_speech() -> None:
    audio = speech_16k(SENTENCE)
    decisions = _decisions(Vad(), audio)
    loud = _loud_frames(audio, -30.0)
    hits = sum(d for d, is_loud in zip(decisions, loud, strict=True) if is_loud)
    assert hits >= 0.95 * sum(loud)
    assert sum(decisions) >= 0.5 * len(decisions)


def test_quiet_caller_over_line_noise_is_speech() -> None:
    """A caller 25 dB quieter than Piper, over -55 dBFS noise, after 1 s of noise."""
    speech = _scaled(speech_16k(SENTENCE), -25.0)
    noise = noise_16k(1000 + len(speech) * 1000 // SAMPLE_RATE + 1000, -55.0, seed=3)
    audio = noise.copy()
    start = SAMPLE_RATE  # speech begins at 1 s
    mixed = audio[start : start + len(speech)].astype(np.int32) + speech
    audio[start : start + len(speech)] = np.clip(mixed, -32768, 32767)
    decisions = _decisions(Vad(), audio)
    n_lead = 1000 // 20
    n_speech = len(speech) // FRAME_SAMPLES
    assert not any(decisions[:n_lead])
    during = decisions[n_lead : n_lead + n_speech]
    audible = _loud_frames(speech, -44.0)[:n_speech]  # the VAD's absolute threshold is -45
    assert sum(audible) >= 10
    assert sum(d for d, a in zip(during, audible, strict=True) if a) >= 0.95 * sum(audible)
    assert not any(decisions[n_lead + n_speech + 5 :])


def test_speech_at_the_very_start_of_a_call_is_detected() -> None:
    decisions = _decisions(Vad(), speech_16k(SENTENCE))
    assert any(decisions[:10])


def test_reset_forgets_the_noise_floor() -> None:
    vad = Vad()
    _decisions(vad, noise_16k(2000, -35.0))
    assert vad.noise_floor_db > -40.0
    vad.reset()
    assert vad.noise_floor_db == vad.initial_floor_db


def test_bad_window_is_refused() -> None:
    with pytest.raises(ValueError, match="floor_window_ms"):
        Vad(floor_window_ms=10)
