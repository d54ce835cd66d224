"""Answering-machine detection on generated greetings (the benchmark's set): people, machines with and without a
beep, three voices; and the words of greetings of a person's shape, read by the real recogniser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from agent.frames import FRAME_SAMPLES, SAMPLE_RATE
from agent.handlers import tone
from agent.stt.base import create_stt
from agent.tools.bench.amd import FORMAL_PEOPLE, MACHINES, PEOPLE, SHORT_MACHINES
from agent.tools.bench.corpus import ESPEAK_VOICES, espeak_available, render_espeak
from agent.turn.amd import BeepDetector, MachineDetector, ReadOn, machine_words, person_words
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


@pytest.mark.parametrize("text,words", [
    ("Thanks for calling. Leave a message.", "leave a message"),
    ("Leave me a short message", "leave me a short message"),
    ("Hi, you've reached John. I can\u2019t take your call right now.", "can't take your call"),
    ("Hello, you have reached the voice mail of 01273 555381.", "voice mail"),
    ("The person you are calling is not available.", "not available"),
    ("Please record your message after the tone.", "record your message"),
    ("Sorry, he isn't currently available", "isn't currently available"),
    ("Hello?", None), ("Hi, Sarah speaking.", None), ("Yes, I'm available now, who's this?", None),
    ("Hello, can I help you?", None), ("Hi, it's Mark, I'm on the train, can you hear me?", None),
])
def test_only_a_machine_says_these_words(text: str, words: str | None) -> None:
    assert machine_words(text) == words


@pytest.fixture(scope="module")
def stt() -> Iterator[Any]:
    engine = create_stt("whisper")
    yield engine
    engine.close()


def _hear(stt: Any, audio: np.ndarray) -> str:
    """As the agent's conversation handler hears a greeting (``ConversationHandler.hear``): decoded whole."""
    stream = stt.new_stream()
    stream.accept(audio)
    return str(stream.finish().text)


@pytest.mark.parametrize("voice", VOICES)
def test_a_short_machine_greeting_without_a_beep_is_known_by_its_words(voice: str, stt: Any) -> None:
    """"Please leave a message." has a person's shape (a few words, then silence); its words, read by real Whisper
    on the generated voice over a line's noise as the agent reads them when the shape says a person, are a
    machine's.  People's answers' words never are."""
    for text, beep_hz in SHORT_MACHINES:
        audio = _line(np.concatenate([_silence(0.4), _speech(voice, text), _silence(4.0)]))
        decision, _, after_ms, _, _ = _listen(audio)
        heard = _hear(stt, audio[:after_ms * SAMPLE_RATE // 1000])
        assert beep_hz == 0.0 and decision == "human" and machine_words(heard), (voice, text, decision, heard)
    for text in PEOPLE:
        audio = _line(np.concatenate([_silence(0.4), _speech(voice, text), _silence(4.0)]))
        decision, _, after_ms, _, _ = _listen(audio)
        heard = _hear(stt, audio[:after_ms * SAMPLE_RATE // 1000])
        assert decision == "human" and machine_words(heard) is None, (voice, text, heard)


@pytest.mark.parametrize("text,words", [
    ("Good morning, Brighton Dental, Sarah speaking.", "speaking"),
    ("Hi, this is Sarah Jones speaking, how can I help you?", "speaking"),
    ("Hello, Acme Plumbing, how can I help?", "how can i help"), ("Hello? Hello? Can you hear me?", "hello hello"),
    ("Yes, who's calling please?", "who's calling"), ("Good morning, bright and dental, I'll speak.", "speak"),
    ("Please speak after the tone.", None),
    ("Hi, Sarah speaking. I can't take your call right now, please leave a message.", None),  # a machine's too
    ("Hi, you've reached John Smith. I can't take your call", None), ("Thanks for calling.", None),
])
def test_what_a_person_says_at_length(text: str, words: str | None) -> None:
    assert person_words(text) == words


def _read_on(audio: np.ndarray, after_ms: int) -> np.ndarray:
    """The audio the agent reads the words of when the shape said a machine by its length: on to a pause."""
    read_on, end = ReadOn(), after_ms * SAMPLE_RATE // 1000
    while end + FRAME_SAMPLES <= len(audio) and not read_on.feed(audio[end:end + FRAME_SAMPLES]):
        end += FRAME_SAMPLES
    return audio[:end + FRAME_SAMPLES]


@pytest.mark.parametrize("voice", VOICES)
def test_a_person_who_answers_at_length_has_a_machines_shape_but_a_persons_words(voice: str, stt: Any) -> None:
    """A business answering ("Good morning, Brighton Dental, Sarah speaking.") talks for over 1.5 s: the shape
    says a machine; its words, read on to the first pause as the agent does (real Whisper), say a person.
    Machines' greetings read the same way never do."""
    for text in FORMAL_PEOPLE:
        audio = _line(np.concatenate([_silence(0.4), _speech(voice, text), _silence(4.0)]))
        decision, cause, after_ms, _, _ = _listen(audio)
        assert decision == "machine" and cause in ("LONGGREETING", "MAXWORDS"), (voice, text, cause)
        heard = _hear(stt, _read_on(audio, after_ms))
        assert person_words(heard), (voice, text, heard)
    for text, _hz in MACHINES:
        audio = _line(np.concatenate([_silence(0.4), _speech(voice, text), _silence(4.0)]))
        _, _, after_ms, _, _ = _listen(audio)
        heard = _hear(stt, _read_on(audio, after_ms))
        assert person_words(heard) is None, (voice, text, heard)
