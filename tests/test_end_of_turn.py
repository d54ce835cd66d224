"""The adaptive end of turn: the words' verdict, the wait it sets, the listener with it, and Smart Turn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.errors import ModelError
from agent.frames import SpeechEnded, SpeechPause
from agent.turn.end_of_turn import COMPLETE, INCOMPLETE, UNCLEAR, EndOfTurn, TurnHints, words_say
from agent.turn.listener import Listener
from agent.turn.smart_turn import SmartTurn, turn_features
from agent.turn.vad import Vad
from tests.speech_helpers import frames_of, silence_16k, speech_16k
from tests.test_cli import one_line_error, sip_agent


@pytest.mark.parametrize("text", [
    "What time do you open on Saturday?", "Is it open?", "And on Sunday?", "Can I book for four?",
])
def test_a_question_is_complete(text: str) -> None:
    assert words_say(text) == COMPLETE


@pytest.mark.parametrize("text", [
    "I'd like to book a table for", "Hello, I wanted to ask about", "For two or", "Can I book a table and",
    "My number is 0 1 2 3", "My phone number is oh one two three, four five six", "I'm calling because",
    "So I was wondering, um", "Yes,", "It's about the", "Could you tell me if", "The reference is 4 4 7",
    "2, 2, 0.", "652", "two two zero six", "9 1 2 4 9",
])
def test_an_unfinished_phrase_is_incomplete(text: str) -> None:
    assert words_say(text) == INCOMPLETE


@pytest.mark.parametrize("text", [
    "", "Thank you.", "That's it.", "I'd like a table for 4.", "Yes.", "No, that's all.", "Bye.",
    "I want to speak to someone", "A table for four at 7:30", "My number is 0 1 2 3 4 5 6 7 8 9.",
    "4", "12.", "Four.", "2 2 0 6 5 2 2 8 8 8", "220-652-2888",
])
def test_a_finished_or_unclear_phrase_is_not_held(text: str) -> None:
    assert words_say(text) in (COMPLETE, UNCLEAR)
    assert EndOfTurn(500, 1500).wait_ms(None, text) == 500  # words alone: only an unfinished phrase waits


def test_a_number_not_yet_whole_waits_half_a_second_longer_than_a_phrase() -> None:
    eot = EndOfTurn(500, 1500)
    assert eot.wait_ms(None, "I'd like a table for") == 1500
    assert eot.wait_ms(None, "2, 2, 0.") == 2000
    assert eot.wait_ms(None, "My number is 0 1 2 3") == 2000
    assert eot.wait_ms(None, "2 2 0 6 5 2 2 8 8 8") == 500  # whole


@pytest.mark.parametrize("asked", [
    "Of course, I can take a message. What's the best number to call you back on? You can say it, or key it in.",
    "Sorry, I got 6 digits: 5 5 5, 3 8 1. I need the whole number, with the area code.",
    "Sorry about that. What is the right number?",
])
def test_asked_for_a_number_a_pause_before_the_whole_number_is_not_the_end(asked: str) -> None:
    hints = TurnHints()
    hints.asked = asked
    eot = EndOfTurn(500, 1500, model=lambda _audio: 0.0, hints=hints)
    assert eot.wait_ms(0.9, "For a code.") == 2000  # "four eight oh" misheard: the rest is to come
    assert eot.wait_ms(0.9, "2 6 1 4 7 2 3") == 2000
    assert eot.wait_ms(0.9, "4 8 0 2 6 1 4 7 2 3") == 500  # whole
    hints.asked = "Shall we call you back on 0 1 2 7 3, 5 5 5, 3 8 1, the number you're calling from?"
    assert eot.wait_ms(0.9, "Yes.") == 500  # a yes or no about a number
    hints.asked = "Let me check I have that right: a call back on 0 1 2 7 3, 5 5 5, 3 8 1. Is that right?"
    assert eot.wait_ms(0.9, "No.") == 500


def test_the_words_win_when_clear_else_the_sound_decides() -> None:
    eot = EndOfTurn(500, 1500, model=lambda _audio: 0.0, hints=TurnHints())
    assert eot.wait_ms(0.9, "a table for") == 1500
    assert eot.wait_ms(0.1, "What time do you open?") == 500
    assert eot.wait_ms(0.9, "I'd like a table.") == 500
    assert eot.wait_ms(0.2, "I'd like a table.") == 1500
    assert eot.wait_ms(0.9, None) == 1500  # the words of the pause are still being decoded


def test_hints_match_their_pause() -> None:
    hints = TurnHints()
    assert hints.words_at(1.0) is None
    hints.heard(1.0, "a table for")
    assert hints.words_at(1.0) == "a table for"
    assert hints.words_at(2.0) is None


def _listen(listener: Listener, audio: np.ndarray, hints: TurnHints | None = None,
            words: str = "") -> list[object]:
    """Feed ``audio`` frame by frame; at each pause the recogniser 'decodes' ``words`` at once."""
    out: list[object] = []
    t = 100.0
    for frame in frames_of(audio):
        t += 0.02
        for item in listener.process(frame, t):
            if isinstance(item, SpeechPause) and hints is not None:
                hints.heard(item.t_end_of_speech, words)
            out.append(item)
    return out


def _ends(frames: list[object]) -> list[SpeechEnded]:
    return [f for f in frames if isinstance(f, SpeechEnded)]


def _with_pause(pause_ms: int) -> np.ndarray:
    return np.concatenate([speech_16k("Hello, I wanted to ask about"), silence_16k(pause_ms),
                           speech_16k("your opening hours."), silence_16k(2000)])


def test_an_unfinished_phrase_holds_the_turn_over_a_one_second_pause() -> None:
    audio = _with_pause(1000)
    fixed = _listen(Listener(vad=Vad(), pause_ms=200), audio)
    assert len(_ends(fixed)) == 2  # a fixed 500 ms endpoint cuts the caller at the pause
    hints = TurnHints()
    adaptive = Listener(vad=Vad(), pause_ms=200, end_of_turn=EndOfTurn(500, 1500, lambda _a: 0.9, hints))
    assert len(_ends(_listen(adaptive, audio, hints, "Hello, I wanted to ask about"))) == 1
    scores: list[int] = []

    def unfinished(audio: np.ndarray) -> float:
        scores.append(len(audio))
        return 0.1

    by_sound = Listener(vad=Vad(), pause_ms=200, end_of_turn=EndOfTurn(500, 1500, unfinished, hints))
    assert len(_ends(_listen(by_sound, audio, hints, "Hello."))) == 1  # the words unclear, the sound unfinished
    assert scores and max(scores) <= 8 * 16000  # the model hears at most the last 8 s of the turn


def test_a_finished_turn_ends_at_the_short_endpoint() -> None:
    audio = np.concatenate([speech_16k("What time do you open?"), silence_16k(1500)])
    hints = TurnHints()
    listener = Listener(vad=Vad(), pause_ms=200, end_of_turn=EndOfTurn(500, 1500, lambda _a: 0.1, hints))
    (ended,) = _ends(_listen(listener, audio, hints, "What time do you open?"))
    assert 0.48 <= ended.t_endpoint - ended.t_end_of_speech <= 0.52
    stuck = Listener(vad=Vad(), pause_ms=200, end_of_turn=EndOfTurn(500, 1500, lambda _a: 0.9, TurnHints()))
    (late,) = _ends(_listen(stuck, audio))  # the words never come: the long endpoint still ends the turn
    assert 1.48 <= late.t_endpoint - late.t_end_of_speech <= 1.52


def test_smart_turn_hears_an_unfinished_phrase() -> None:
    model = SmartTurn()
    unfinished = model.probability(np.concatenate([speech_16k("Hello, I wanted to ask about"), silence_16k(200)]))
    finished = model.probability(np.concatenate([speech_16k("What time do you open on Saturday?"),
                                                 silence_16k(200)]))
    assert unfinished < 0.5 < finished, (unfinished, finished)
    features = turn_features(np.zeros(20 * 16000, dtype=np.int16))
    assert features.shape == (1, 80, 800) and features.dtype == np.float32


def test_a_broken_turn_model_is_one_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model" * 100)
    with pytest.raises(ModelError, match="end-of-turn model cannot be loaded"):
        SmartTurn(junk)
    with pytest.raises(ModelError, match="end-of-turn model not found"):
        SmartTurn(tmp_path / "missing.onnx")
    for model in (junk, tmp_path / "missing.onnx"):
        one_line_error(sip_agent("run", "--no-register", "--port", "0", "--turn-model", str(model)),
                       "end-of-turn model", str(model))


def test_a_sound_is_announced_at_its_first_frame_ahead_of_speech() -> None:
    from agent.frames import SpeechActivity, SpeechOnset

    frames = _listen(Listener(vad=Vad(), pause_ms=200), _with_pause(1000))
    onsets = [f.t for f in frames if isinstance(f, SpeechOnset)]
    starts = [f.t for f in frames if isinstance(f, SpeechActivity) and f.speech_ms <= 200]
    assert len(onsets) == 2 and len(starts) == 2  # each run of speech once, not each word
    assert all(onset < start for onset, start in zip(onsets, starts, strict=True)), (onsets, starts)


def test_a_real_persons_number_read_in_groups_is_one_turn_when_the_agent_asked_for_it() -> None:
    """A real voice (the human corpus's FSDD speaker george) reads "four eight four, two six one, four seven two
    three" over G.722 with pauses between the groups; real Whisper decodes at each pause with the agent's question
    as its prompt (on the machine this was written on, the first group as "For a code.": no digits; without the
    question hint the turn ended three times).  Asked for a number, the caller's turn holds until its last group
    (which ends 6.1 s in)."""
    from agent.stt.base import create_stt
    from agent.stt.whisper import WhisperEngine
    from agent.tools.bench.human import load_recordings, telephone

    stt = create_stt("whisper")
    assert isinstance(stt, WhisperEngine)
    try:
        recording = next(r for r in load_recordings() if r.id == "fsdd-phone-george-2")
        audio = np.concatenate([telephone(recording.audio(), "G722"), silence_16k(3000)])
        hints = TurnHints()
        hints.asked = "Of course, I can take a message. What's the best number to call you back on?"
        listener = Listener(vad=Vad(), pause_ms=200, end_of_turn=EndOfTurn(500, 1500, lambda _a: 0.9, hints))
        ends: list[SpeechEnded] = []
        heard, t, start = "", 100.0, 0
        for i, frame in enumerate(frames_of(audio)):
            t += 0.02
            for item in listener.process(frame, t):
                if isinstance(item, SpeechPause):  # what the recogniser gives the turn thread at each pause
                    heard = stt.decode(audio[start:(i + 1) * 320], hints.asked)
                    hints.heard(item.t_end_of_speech, heard)
                elif isinstance(item, SpeechEnded):
                    ends.append(item)
                    start = (i + 1) * 320
    finally:
        stt.close()
    assert len(ends) == 1 and ends[0].t_end_of_speech - 100.0 > 5.5, ([e.t_end_of_speech for e in ends], heard)
