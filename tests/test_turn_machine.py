"""The turn state machine (pure): frames in, actions out; no threads, no sleeping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import pytest

from agent.dialog.base import Message
from agent.frames import (
    AudioChunk,
    DtmfEvent,
    FinalTranscript,
    Hangup,
    LongSpeech,
    PlayoutProgress,
    ReplyGenerated,
    SpeechActivity,
    SpeechChunk,
    SpeechOnset,
    SpeechPaused,
    StageFailed,
    SynthesisDone,
    TextChunk,
    TextDelta,
)
from agent.turn.actions import (
    Action,
    CancelReply,
    EndCall,
    Greet,
    HoldPlayout,
    Interrupt,
    Play,
    PlayoutCleared,
    Prepare,
    ResumePlayout,
    StartReply,
    WriteTimeline,
    WriteTranscript,
)
from agent.turn.machine import State, TurnConfig, TurnMachine

T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def machine(barge_in_ms: int = 250, speculate: bool = True, confirm_ms: int = 1200) -> tuple[TurnMachine, Clock]:
    clock = Clock()
    cfg = TurnConfig(barge_in_ms=barge_in_ms, confirm_ms=confirm_ms, speculate=speculate,
                     is_goodbye=lambda text: "bye" in text)
    return TurnMachine(cfg, clock), clock


def final(text: str, t: float = 101.0) -> FinalTranscript:
    return FinalTranscript(text, t - 0.5, t - 0.02, t=t)


def chunk(reply: int, index: int, text: str, secs: float = 1.0, t: float = 102.0) -> SpeechChunk:
    audio = AudioChunk(np.ones(int(16000 * secs), dtype=np.int16))
    return SpeechChunk(text, audio, reply, index, t=t)


def of(actions: Sequence[Action], kind: type[T]) -> list[T]:
    return [a for a in actions if isinstance(a, kind)]


def started(actions: Sequence[Action]) -> StartReply:
    (start,) = of(actions, StartReply)
    return start


def state(m: TurnMachine) -> State:
    return m.state  # (a function, so that the type checker does not pin the state between calls)


def say_reply(m: TurnMachine, reply: int, chunks: list[str], t: float = 102.0) -> list[Action]:
    """The dialog and TTS stages' frames for a whole reply; the actions they gave."""
    actions: list[Action] = []
    actions += m.on_frame(TextDelta(reply, chunks[0].split()[0], t=t))
    for i, text in enumerate(chunks):
        actions += m.on_frame(TextChunk(reply, i, text, t=t + 0.01))
    actions += m.on_frame(ReplyGenerated(reply, " ".join(chunks), len(chunks)))
    for i, text in enumerate(chunks):
        actions += m.on_frame(chunk(reply, i, text, t=t + 0.1))
    actions += m.on_frame(SynthesisDone(reply, len(chunks)))
    return actions


def test_the_words_the_recogniser_was_unsure_of_reach_the_transcript_and_the_reply() -> None:
    m, _clock = machine()
    (transcript, start) = m.on_frame(FinalTranscript("do you have a gen", 100.5, 100.98, t=101.0, unsure=("gen",)))
    assert isinstance(transcript, WriteTranscript) and transcript.unsure == ("gen",)
    assert isinstance(start, StartReply) and start.unsure == ("gen",)


def test_a_final_starts_a_reply_that_is_played_then_recorded() -> None:
    m, clock = machine()
    (transcript, start) = m.on_frame(final("what is the weather"))
    assert isinstance(transcript, WriteTranscript) and transcript.role == "user"
    assert isinstance(start, StartReply) and start.text == "what is the weather" and start.history == ()
    assert state(m) is State.THINKING
    actions = say_reply(m, start.reply, ["It is sunny.", "Enjoy it."])
    plays = of(actions, Play)
    assert [p.chunk.index for p in plays] == [0, 1] and state(m) is State.SPEAKING
    m.on_frame(PlayoutProgress((start.reply, 0), 1, 50, t_first_out=102.3))
    assert m.on_frame(PlayoutProgress((start.reply, 0), 50, 50, t_first_out=102.3)) == []
    clock.now = 104.0
    done = m.on_frame(PlayoutProgress((start.reply, 1), 50, 50, t_first_out=103.3))
    (timeline,) = of(done, WriteTimeline)
    assert timeline.record["t_first_audio_out"] == 102.3
    assert timeline.record["voice_to_voice_ms"] == pytest.approx(1800.0)
    (said,) = of(done, WriteTranscript)
    assert said.text == "It is sunny. Enjoy it." and not said.interrupted
    assert of(done, Prepare) and state(m) is State.LISTENING
    assert m.history == [Message("user", "what is the weather"), Message("assistant", "It is sunny. Enjoy it.")]


def test_words_while_the_agent_speaks_are_not_a_turn_but_are_kept() -> None:
    m, _ = machine()
    start = started(m.on_frame(final("hello")))
    say_reply(m, start.reply, ["Hi there."])
    heard = m.on_frame(final("yes"))
    assert [(t.role, t.text) for t in of(heard, WriteTranscript)] == [("user", "yes")] and m.turns == 1
    assert not of(heard, StartReply)
    m.on_frame(PlayoutProgress((start.reply, 0), 50, 50, t_first_out=102.3))
    assert m.history == [Message("user", "hello"), Message("assistant", "Hi there."), Message("user", "yes")]


def test_words_while_the_agent_thinks_join_the_turn_and_one_reply_answers_them() -> None:
    m, _ = machine()
    first = started(m.on_frame(final("can I book a table")))
    joined = m.on_frame(final("for four people tonight", t=102.0))
    assert of(joined, CancelReply) == [CancelReply(first.reply)]
    assert [t.text for t in of(joined, WriteTranscript)] == ["for four people tonight"]
    second = started(joined)
    assert second.text == "can I book a table for four people tonight" and second.history == ()
    assert m.turns == 1 and state(m) is State.THINKING
    say_reply(m, second.reply, ["For four, yes."])
    m.on_frame(PlayoutProgress((second.reply, 0), 50, 50, t_first_out=103.0))
    assert m.history == [Message("user", "can I book a table for four people tonight"),
                         Message("assistant", "For four, yes.")]
    assert m.on_frame(SpeechChunk("stale", chunk(first.reply, 0, "x").audio, first.reply, 0)) == []
    mm = m.on_frame(final("ok"))  # a backchannel while it thinks of the next: kept, not joined
    assert not of(mm, CancelReply)


def test_a_joined_turn_is_answered_from_its_words_decoded_as_one_piece() -> None:
    m, _ = machine()
    first = started(m.on_frame(final("can I book a table")))
    assert m.joinable
    whole = FinalTranscript("for four. People tonight", 101.5, 101.98, whole="Can I book a table for four people "
                            "tonight?", t=102.0)
    second = started(m.on_frame(whole))
    assert second.text == "Can I book a table for four people tonight?" != first.text
    assert m.history == [Message("user", "Can I book a table for four people tonight?")]
    elsewhere = started(m.on_frame(FinalTranscript("and a high chair", 102.5, 102.98, whole="something else",
                                                   t=103.0)))
    assert elsewhere.text == "Can I book a table for four people tonight? and a high chair"  # not the same words
    say_reply(m, elsewhere.reply, ["Yes."])
    m.on_frame(PlayoutProgress((elsewhere.reply, 0), 50, 50, t_first_out=104.0))
    assert not m.joinable  # the reply was heard: new words are a new turn


@pytest.mark.parametrize("added", ["for four people tonight", ""])
def test_a_caller_who_goes_on_while_the_agent_thinks_holds_its_reply_until_their_words(added: str) -> None:
    m, _ = machine()
    first = started(m.on_frame(final("can I book a table")))
    assert m.on_frame(SpeechActivity(120, t=101.4)) == []  # speaking again, no word recognised yet
    assert m.on_frame(chunk(first.reply, 0, "Yes, you can.")) == []  # its audio is ready: held
    assert m.on_frame(LongSpeech(400)) == [] and m.on_frame(SpeechActivity(600, t=101.9)) == []
    after = m.on_frame(final(added, t=102.5))
    if added:  # words: one turn, one new reply for all of it
        assert of(after, CancelReply) == [CancelReply(first.reply)] and not of(after, Play)
        assert started(after).text == "can I book a table for four people tonight" and m.turns == 1
        assert m.history == [Message("user", "can I book a table for four people tonight")]
    else:  # a sound: the held reply is played
        assert [p.chunk.text for p in of(after, Play)] == ["Yes, you can."] and state(m) is State.SPEAKING


@pytest.mark.parametrize("grows", [True, False])
def test_a_sound_as_the_reply_is_about_to_start_holds_it_until_it_is_known(grows: bool) -> None:
    m, clock = machine()
    first = started(m.on_frame(final("can I book a table")))
    clock.now = 101.2
    assert m.on_frame(SpeechOnset(t=101.2)) == [] and m.joinable
    assert m.on_frame(chunk(first.reply, 0, "Yes, you can.")) == []  # its audio is ready: held
    clock.now = 101.4
    assert m.tick() == []  # not yet: the sound may grow into speech
    if grows:  # speech: held until their words, which join the turn
        m.on_frame(SpeechActivity(120, t_start_of_speech=101.2, t=101.4))
        clock.now = 102.0
        assert m.tick() == []
        joined = m.on_frame(final("for four people tonight", t=102.5))
        assert started(joined).text == "can I book a table for four people tonight"
    else:  # a click: the reply goes on
        clock.now = 101.6
        assert [p.chunk.text for p in of(m.tick(), Play)] == ["Yes, you can."] and state(m) is State.SPEAKING
        assert not m.joinable


def test_a_sound_as_the_reply_begins_pauses_it_and_a_click_lets_it_go_on() -> None:
    m, clock = machine()
    first = started(m.on_frame(final("what time do you open")))
    say_reply(m, first.reply, ["We open at nine."])
    m.on_frame(PlayoutProgress((first.reply, 0), 2, 100, t_first_out=102.0))
    clock.now = 102.1
    assert m.on_frame(SpeechOnset(t=102.1)) == [HoldPlayout(first.reply)] and state(m) is State.PAUSED
    clock.now = 102.5
    assert m.tick() == [ResumePlayout(first.reply)] and state(m) is State.SPEAKING
    assert m.on_frame(SpeechOnset(t=103.0)) == []  # later, a sound is the caller's to prove (barge-in)


def test_a_caller_who_goes_on_just_as_the_reply_begins_is_heard_out_in_one_turn() -> None:
    """Their speech resumed as its first audio went out: the reply, cut off unheard, is dropped, and their words
    join the turn they went on with (decoded again as one piece)."""
    m, _ = machine(barge_in_ms=250, confirm_ms=0)
    first = started(m.on_frame(final("can I book a table")))
    say_reply(m, first.reply, ["Yes, you can book a table."])
    m.on_frame(PlayoutProgress((first.reply, 0), 1, 100, t_first_out=102.0))
    m.on_frame(SpeechActivity(120, t_start_of_speech=101.9, t=102.02))
    assert of(m.on_frame(LongSpeech(260)), Interrupt)
    cut = m.on_frame(PlayoutCleared(first.reply, (PlayoutProgress((first.reply, 0), 14, 100, 102.0),), 260, 86))
    assert [t.text for t in of(cut, WriteTranscript)] == ["Yes,"]  # in the records; not an answer they waited for
    assert m.joinable  # the recogniser decodes their words with the turn's
    joined = m.on_frame(FinalTranscript("for four people tonight", 103.0, 103.5,
                                        whole="Can I book a table for four people tonight?", t=103.6))
    assert started(joined).text == "Can I book a table for four people tonight?" and m.turns == 1
    assert m.history == [Message("user", "Can I book a table for four people tonight?")]
    assert not of(joined, CancelReply)  # (the cut-off reply was already done with)


def test_a_caller_who_interrupts_a_reply_they_heard_starts_a_new_turn() -> None:
    m, _ = machine(barge_in_ms=250, confirm_ms=0)
    first = started(m.on_frame(final("tell me a story")))
    say_reply(m, first.reply, ["Once upon a time there was a king."])
    m.on_frame(PlayoutProgress((first.reply, 0), 1, 100, t_first_out=102.0))
    m.on_frame(SpeechActivity(120, t_start_of_speech=103.0, t=103.1))
    m.on_frame(LongSpeech(260))
    m.on_frame(PlayoutCleared(first.reply, (PlayoutProgress((first.reply, 0), 60, 100, 102.0),), 260, 40))
    assert not m.joinable
    after = m.on_frame(final("stop, what time is it", t=104.0))
    assert started(after).text == "stop, what time is it" and m.turns == 2


def test_barge_in_stops_the_audio_and_keeps_what_was_heard() -> None:
    m, _ = machine(barge_in_ms=250, confirm_ms=0)
    start = started(m.on_frame(final("tell me a story")))
    reply = start.reply
    say_reply(m, reply, ["Once upon a time there was a king.", "He had three sons."])
    m.on_frame(PlayoutProgress((reply, 0), 1, 100, t_first_out=103.0))
    (stop,) = m.on_frame(LongSpeech(260))
    assert stop == Interrupt(reply, 260) and state(m) is State.INTERRUPTED
    # the conductor cleared the playout: half of the first chunk went out
    cut = m.on_frame(PlayoutCleared(reply, (PlayoutProgress((reply, 0), 50, 100, 103.0),
                                            PlayoutProgress((reply, 1), 0, 80)), 260, 130))
    (said,) = of(cut, WriteTranscript)
    assert said.interrupted and said.text == "Once upon a time"
    assert m.history[-1] == Message("assistant", "Once upon a time", interrupted=True)
    # the caller's words are the next turn
    assert of(m.on_frame(final("what happened next")), StartReply)


def _speaking(m: TurnMachine) -> int:
    start = started(m.on_frame(final("tell me a story")))
    say_reply(m, start.reply, ["Once upon a time there was a king.", "He had three sons."])
    m.on_frame(PlayoutProgress((start.reply, 0), 1, 100, t_first_out=103.0))
    return start.reply


def test_caller_words_over_the_agent_pause_it_then_interrupt_it() -> None:
    m, _ = machine()
    reply = _speaking(m)
    assert m.on_frame(LongSpeech(260)) == [HoldPlayout(reply)] and state(m) is State.PAUSED
    assert m.on_frame(SpeechPaused("Mm,", 104.0)) == []  # only a sound so far
    (stop,) = m.on_frame(SpeechPaused("Mm, stop.", 104.5))
    assert stop == Interrupt(reply, 260) and state(m) is State.INTERRUPTED
    cut = m.on_frame(PlayoutCleared(reply, (PlayoutProgress((reply, 0), 50, 100, 103.0),), 260, 130))
    assert of(cut, WriteTranscript)[0].interrupted
    assert of(m.on_frame(final("stop I have a question")), StartReply)


def test_a_final_that_interrupts_is_the_next_turn() -> None:
    m, _ = machine()
    reply = _speaking(m)
    m.on_frame(LongSpeech(260))
    (stop,) = m.on_frame(final("wait"))
    assert stop == Interrupt(reply, 260)
    after = m.on_frame(PlayoutCleared(reply, (PlayoutProgress((reply, 0), 50, 100, 103.0),), 260, 130))
    assert started(after).text == "wait" and state(m) is State.THINKING


@pytest.mark.parametrize("heard", ["Mm-hmm.", "", "Uh-huh, okay.", "MMM", "(coughs)"])
def test_a_backchannel_over_the_agent_resumes_it(heard: str) -> None:
    m, _ = machine()
    reply = _speaking(m)
    m.on_frame(LongSpeech(260))
    assert m.on_frame(SpeechPaused(heard, 104.0)) == []
    kept = m.on_frame(final(heard))
    assert of(kept, ResumePlayout) == [ResumePlayout(reply)] and state(m) is State.SPEAKING
    assert [t.text for t in of(kept, WriteTranscript)] == ([heard] if heard else [])  # in the records
    assert m.turns == 1
    done = m.on_frame(PlayoutProgress((reply, 0), 100, 100, 103.0))
    done += m.on_frame(PlayoutProgress((reply, 1), 100, 100, 104.0))
    (said,) = of(done, WriteTranscript)
    assert not said.interrupted and state(m) is State.LISTENING


def test_words_the_recogniser_is_unsure_of_do_not_interrupt() -> None:
    m, _ = machine()
    reply = _speaking(m)
    m.on_frame(LongSpeech(260))
    assert m.on_frame(SpeechPaused("in them.", 104.0, confidence=0.7)) == []
    unsure = FinalTranscript("in them.", 104.0, 104.5, confidence=0.7, t=104.6)
    kept = m.on_frame(unsure)
    assert of(kept, ResumePlayout) == [ResumePlayout(reply)] and state(m) is State.SPEAKING
    assert [t.text for t in of(kept, WriteTranscript)] == ["in them."]
    m.on_frame(LongSpeech(260))
    assert m.on_frame(SpeechPaused("Wait.", 105.0, confidence=0.9)) == [Interrupt(reply, 260)]


def test_a_word_that_asks_to_stop_needs_less_confidence() -> None:
    m, _ = machine()
    reply = _speaking(m)
    m.on_frame(LongSpeech(260))
    assert m.on_frame(SpeechPaused("and anthem.", 104.0, confidence=0.65)) == []
    assert m.on_frame(SpeechPaused("and anthem. Stop.", 104.5, confidence=0.65)) == [Interrupt(reply, 260)]
    m, _ = machine()
    reply = _speaking(m)
    m.on_frame(LongSpeech(260))
    assert m.on_frame(SpeechPaused("Wait.", 104.0, confidence=0.5)) == []  # below even the lower bar


def test_clear_words_over_the_agent_interrupt_it_even_without_a_pause() -> None:
    """A word too short to pause the agent ("Wait.") still stops it once it is recognised."""
    m, _ = machine()
    reply = _speaking(m)
    yes = m.on_frame(final("Yes."))  # a backchannel: not a turn, the reply goes on; in the records
    assert [type(a) for a in yes] == [WriteTranscript]
    (stop,) = m.on_frame(final("Wait.", t=104.0))
    assert isinstance(stop, Interrupt) and stop.reply == reply and state(m) is State.INTERRUPTED
    after = m.on_frame(PlayoutCleared(reply, (PlayoutProgress((reply, 0), 50, 100, 103.0),), 300, 130))
    assert started(after).text == "Wait."


def test_speech_going_on_over_the_agent_interrupts_without_words() -> None:
    m, _ = machine(confirm_ms=800)
    reply = _speaking(m)
    assert m.on_frame(LongSpeech(260)) == [HoldPlayout(reply)]
    assert m.on_frame(LongSpeech(700)) == []
    assert m.on_frame(LongSpeech(800)) == [Interrupt(reply, 800)]


def test_speech_with_gaps_between_words_over_the_agent_still_confirms() -> None:
    """"Stop, stop, wait a moment": each run is short, the turn's speech adds up."""
    m, _ = machine(confirm_ms=800)
    reply = _speaking(m)
    assert m.on_frame(LongSpeech(260)) == [HoldPlayout(reply)]
    assert m.on_frame(SpeechActivity(700, 103.0, t=104.0)) == []
    assert m.on_frame(LongSpeech(300)) == []  # a new run after a gap between words
    assert m.on_frame(SpeechActivity(800, 103.0, t=104.2)) == [Interrupt(reply, 800)]
    assert state(m) is State.INTERRUPTED


def test_a_reply_whose_audio_ended_as_the_caller_spoke_releases_the_hold() -> None:
    m, _ = machine()
    reply = _speaking(m)
    m.on_frame(LongSpeech(260))
    done = m.on_frame(PlayoutProgress((reply, 0), 100, 100, 103.0))
    done += m.on_frame(PlayoutProgress((reply, 1), 100, 100, 104.0))
    assert ResumePlayout(reply) in done and state(m) is State.LISTENING
    assert of(m.on_frame(final("and then")), StartReply)


def test_no_barge_in_when_off_or_while_thinking() -> None:
    m, _ = machine(barge_in_ms=0)
    start = started(m.on_frame(final("hello")))
    say_reply(m, start.reply, ["Hi there."])
    assert m.on_frame(LongSpeech(400)) == []
    assert [type(a) for a in m.on_frame(final("Stop."))] == [WriteTranscript]
    m, _ = machine()
    m.on_frame(final("hello"))
    assert state(m) is State.THINKING and m.on_frame(LongSpeech(400)) == []


def test_a_pause_speculates_and_a_matching_final_releases_the_held_audio() -> None:
    m, _ = machine()
    start = started(m.on_frame(SpeechPaused("what time is it", 100.8, t=101.0)))
    assert isinstance(start, StartReply) and state(m) is State.SPECULATING
    assert say_reply(m, start.reply, ["It is noon."]) == [] and state(m) is State.HELD
    actions = m.on_frame(final("What time is it", t=101.4))
    assert [type(a) for a in actions] == [WriteTranscript, Play] and state(m) is State.SPEAKING
    m.on_frame(PlayoutProgress((start.reply, 0), 50, 50, t_first_out=101.5))
    assert m.turns == 1 and m.history[0] == Message("user", "what time is it")


def test_a_speculation_is_discarded_when_the_caller_goes_on_or_the_words_differ() -> None:
    m, _ = machine()
    start = started(m.on_frame(SpeechPaused("what time", 100.8, t=101.0)))
    assert m.on_frame(SpeechActivity(300, 100.0, t=101.2)) == [CancelReply(start.reply)]
    assert state(m) is State.DISCARDED
    again = started(m.on_frame(SpeechPaused("what time is it", 101.8, t=102.0)))
    actions = m.on_frame(final("what time is it now", t=102.5))
    assert actions[0] == CancelReply(again.reply)
    assert started(actions).text == "what time is it now"


def test_no_speculation_when_off() -> None:
    m, _ = machine(speculate=False)
    assert m.on_frame(SpeechPaused("hello", 100.8)) == []


def test_the_greeting_is_played_and_the_goodbye_reply_ends_the_call() -> None:
    m, _ = machine()
    (greet,) = m.greet("Hello, how can I help?")
    assert isinstance(greet, Greet)
    assert of(m.on_frame(chunk(greet.reply, 0, greet.text)), Play)
    m.on_frame(SynthesisDone(greet.reply, 1))
    assert of(m.on_frame(PlayoutProgress((greet.reply, 0), 50, 50, 100.1)), WriteTranscript)
    start = started(m.on_frame(final("thanks bye")))
    actions = say_reply(m, start.reply, ["Goodbye!"])
    actions += m.on_frame(PlayoutProgress((start.reply, 0), 50, 50, 103.0))
    assert EndCall("agent said goodbye") in actions and state(m) is State.GOODBYE


def test_hang_up_mid_reply_records_what_was_heard() -> None:
    m, _ = machine()
    start = started(m.on_frame(final("tell me a story")))
    say_reply(m, start.reply, ["Once upon a time there was a king."])
    (stop,) = m.on_frame(Hangup("caller hung up"))
    assert stop == Interrupt(start.reply, 0) and state(m) is State.ENDED
    cut = m.on_frame(PlayoutCleared(start.reply, (PlayoutProgress((start.reply, 0), 25, 100, 103.0),)))
    (said,) = of(cut, WriteTranscript)
    assert said.interrupted and said.text == "Once upon"
    assert not of(cut, Prepare)
    after = m.on_frame(final("hello?"))  # words said just before the hang-up: recorded, never answered
    assert [(type(a), getattr(a, "text", "")) for a in after] == [(WriteTranscript, "hello?")]
    assert m.history[-1] == Message("user", "hello?")


def test_dtmf_hash_and_stage_failures_end_the_call() -> None:
    m, _ = machine()
    assert m.on_frame(DtmfEvent("#")) == [EndCall("caller pressed #")]
    assert m.on_frame(DtmfEvent("5")) == []
    assert m.on_frame(StageFailed("stt-1", "RuntimeError: boom")) == [EndCall("stt-1 failed")]


def test_a_hash_alone_is_not_a_goodbye_while_digits_are_asked_for() -> None:
    m, _ = machine()
    m.history.append(Message("assistant", "What's the best number? You can say it, or key it in and press hash."))
    assert m.on_frame(DtmfEvent("#")) == []
    m.history.append(Message("assistant", "Thank you. Is there anything else?"))
    assert m.on_frame(DtmfEvent("#")) == [EndCall("caller pressed #")]


def test_frames_of_an_old_reply_are_ignored() -> None:
    m, _ = machine()
    start = started(m.on_frame(SpeechPaused("what", 100.8)))
    m.on_frame(SpeechActivity(200, 100.0, t=101.0))  # discarded
    assert m.on_frame(chunk(start.reply, 0, "Late audio.")) == []
    assert m.on_frame(TextDelta(start.reply, "Late")) == [] and m.reply is None
