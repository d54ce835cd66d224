"""Silero VAD (agent.turn.silero) on real Piper speech and on the noises a phone line carries."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from agent.frames import LongSpeech
from agent.tools.bench.sounds import noises
from agent.turn.backchannel import is_backchannel
from agent.turn.listener import Listener
from agent.turn.silero import SileroVad
from agent.turn.vad import Vad, frame_level_dbfs
from tests.speech_helpers import frames_of, noise_16k, silence_16k, speech_16k

SENTENCE = "what is the weather like today in the city of Boston"
NOISES = noises()


def _decisions(vad: SileroVad | Vad, audio: np.ndarray) -> list[bool]:
    return [vad.is_speech(frame) for frame in frames_of(audio)]


def _long_speech(vad: SileroVad | Vad, audio: np.ndarray) -> int:
    """The longest run of speech a listener would have interrupted the agent with (0 = none)."""
    listener = Listener(vad=vad, barge_in_ms=250)
    padded = np.concatenate([silence_16k(500), audio, silence_16k(500)])
    runs = [f.speech_ms for i, frame in enumerate(frames_of(padded))
            for f in listener.process(frame, i * 0.02) if isinstance(f, LongSpeech)]
    return max(runs, default=0)


def _telephone(audio: np.ndarray) -> np.ndarray:
    """Through an 8 kHz channel and back (what a G.711 call leaves of the band)."""
    narrow = signal.resample_poly(audio.astype(np.float64), 1, 2)
    return np.clip(signal.resample_poly(narrow, 2, 1), -32768, 32767).astype(np.int16)


def test_piper_speech_is_speech_wideband_and_through_a_telephone_band() -> None:
    audio = speech_16k(SENTENCE)
    for version in (audio, _telephone(audio)):
        decisions = _decisions(SileroVad(), version)
        loud = [frame_level_dbfs(f) > -30.0 for f in frames_of(version)]
        hits = sum(d for d, is_loud in zip(decisions, loud, strict=True) if is_loud)
        assert hits >= 0.85 * sum(loud)


def test_quiet_speech_over_hiss_is_speech() -> None:
    speech = (speech_16k(SENTENCE).astype(np.float64) * 0.1).astype(np.int16)  # -20 dB
    hiss = noise_16k(len(speech) * 1000 // 16000 + 20, -50.0)[: len(speech)]
    mixed = np.clip(speech.astype(np.float64) + hiss, -32768, 32767).astype(np.int16)
    assert sum(_decisions(SileroVad(), mixed)) >= 0.4 * len(mixed) // 320


@pytest.mark.parametrize("name", sorted(NOISES))
def test_line_and_room_noise_never_interrupts(name: str) -> None:
    assert _long_speech(SileroVad(), NOISES[name]) == 0


def test_the_energy_vad_does_fire_on_loud_noise() -> None:
    """What the network is for: the energy detector takes hum and a double cough for speech."""
    assert _long_speech(Vad(), NOISES["mains hum"]) > 0
    assert _long_speech(Vad(), NOISES["double cough"]) > 0


def test_a_spoken_interruption_does_interrupt() -> None:
    assert _long_speech(SileroVad(), speech_16k("No, that's wrong.")) >= 250


def test_silence_skips_the_network_and_reset_forgets() -> None:
    vad = SileroVad()
    assert not any(_decisions(vad, silence_16k(1000)))
    assert vad.windows == 0
    assert any(_decisions(vad, speech_16k(SENTENCE)))
    assert vad.windows > 0
    vad.reset()
    assert vad.last_prob == 0.0 and not vad.is_speech(silence_16k(20))


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError):
        SileroVad(threshold=0.3, release=0.5)


@pytest.mark.parametrize("text", ["", "Mm-hmm.", "Uh-huh, okay.", "MMM", "MmMmMmMm", "A-H-H!", "Um...", "(coughs)",
                                  "[BLANK_AUDIO]", "Yeah, right."])
def test_backchannels(text: str) -> None:
    assert is_backchannel(text)


@pytest.mark.parametrize("text", ["Stop.", "Wait.", "No.", "Hold on.", "Mm, stop.", "Okay, but what about Friday?",
                                  "in them"])
def test_words_that_interrupt(text: str) -> None:
    assert not is_backchannel(text)


def test_a_real_voice_reading_digits_over_pcmu_is_heard_group_by_group() -> None:
    """A person reading a phone number in three groups, through mu-law at 8 kHz: each group is speech.
    (faster-whisper's 16 kHz-only copy of Silero scored these windows 0.1-0.4 and missed two groups of three.)"""
    from agent.tools.bench.human import load_recordings, telephone

    recording = next(r for r in load_recordings() if r.id == "fsdd-phone-george-1")
    audio = np.concatenate([silence_16k(500), telephone(recording.audio(), "PCMU"), silence_16k(500)])
    decisions = _decisions(SileroVad(), audio)
    starts = sum(now and not before for before, now in zip([False, *decisions[:-1]], decisions, strict=True))
    assert starts >= 3, f"{starts} stretches of speech in a number read in three groups"
    heard = sum(decisions) * 0.02
    assert heard >= 3.5, f"{heard:.2f} s of speech in ~5 s of digits (the 16 kHz-only copy: 2.0 s)"
