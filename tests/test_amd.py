"""Answering-machine detection on generated greetings (the benchmark's set): people, machines with and without a
beep, three voices."""

from __future__ import annotations

import numpy as np
import pytest

from agent.frames import FRAME_SAMPLES, SAMPLE_RATE
from agent.handlers import tone
from agent.tools.bench.amd import MACHINES, PEOPLE
from agent.tools.bench.corpus import ESPEAK_VOICES, espeak_available, render_espeak
from agent.turn.amd import BeepDetector, MachineDetector
from tests.speech_helpers import speech_16k

VOICES = ["piper", *(ESPEAK_VOICES if espeak_available() else [])]


def _speech(voice: str, text: str) -> np.ndarray:
    return speech_16k(text) if voice == "piper" else render_espeak(text, ESPEAK_VOICES[voice])


def _silence(secs: float) -> np.ndarray:
    return np.zeros(int(secs * SAMPLE_RATE), dtype=np.int16)


def _line(audio: np.ndarray) -> np.ndarray:
    """As heard over a line: a noise floor at -55 dBFS."""
    noise = np.random.default_rng(1).standard_normal(len(audio)) * 32768 * 10 ** (-55 / 20)
    return np.clip(audio + noise, -32768, 32767).astype(np.int16)


def _listen(audio: np.ndarray) -> tuple[str, str, int, float | None, BeepDetector]:
    amd, beep = MachineDetector(), BeepDetector()
    found, end = None, None
    for i in range(0, len(audio) - FRAME_SAMPLES, FRAME_SAMPLES):
        frame = audio[i:i + FRAME_SAMPLES]
        if found is None:
            found = amd.feed(frame)
        elif found.decision == "machine" and end is None and beep.feed(frame):
            end = (i + FRAME_SAMPLES) / SAMPLE_RATE
    assert found is not None
    return found.decision, found.cause, found.after_ms, end, beep


@pytest.mark.parametrize("voice", VOICES)
def test_a_person_who_answers_hello_is_a_person(voice: str) -> None:
    for text in PEOPLE:
        decision, cause, after_ms, _, _ = _listen(_line(np.concatenate([_silence(0.4), _speech(voice, text),
                                                                        _silence(4.0)])))
        assert (decision, cause) == ("human", "HUMAN"), (voice, text)
        assert after_ms < 3200, (voice, text, after_ms)


@pytest.mark.parametrize("voice", VOICES)
def test_a_machine_is_known_by_its_greeting_and_its_beep_ends_it(voice: str) -> None:
    for text, beep_hz in MACHINES:
        greeting = _speech(voice, text)
        beep = tone(beep_hz, 0.5, -12.0) if beep_hz else _silence(0.0)
        audio = _line(np.concatenate([_silence(0.4), greeting, _silence(0.3), beep, _silence(5.0)]))
        decision, cause, after_ms, end, detector = _listen(audio)
        assert decision == "machine" and cause in ("LONGGREETING", "MAXWORDS"), (voice, text, cause)
        assert after_ms < 3000, (voice, text, after_ms)
        greeting_end = 0.4 + len(greeting) / SAMPLE_RATE + 0.3
        assert end is not None, (voice, text)
        if beep_hz:  # recording starts at the end of the beep
            assert detector.why == "beep" and abs(detector.beep_hz - beep_hz) <= 30, (voice, text, detector.beep_hz)
            assert 0.0 <= end - (greeting_end + 0.5) <= 0.1, (voice, text, end, greeting_end)
        else:  # no beep: 2 s of silence after its last word (a voice's file ends with some silence)
            assert detector.why == "silence" and 1.0 <= end - greeting_end <= 2.5, (voice, text, end, greeting_end)


def test_a_silent_answer_is_a_machine_and_a_long_silence_unsure_never_a_person() -> None:
    decision, cause, after_ms, _, _ = _listen(_line(_silence(4.0)))
    assert (decision, cause, after_ms) == ("machine", "INITIALSILENCE", 2500)
    speech = _speech("piper", "Hello?")
    steady = _line(np.concatenate([_silence(0.2), np.tile(speech, 8)]))  # talking on and on, no pause of 800 ms
    assert _listen(steady)[0] == "machine"
