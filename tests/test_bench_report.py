"""Benchmark bookkeeping: a misheard trigger is not counted as a reply of that length."""

from __future__ import annotations

from agent.tools.bench.report import _tts, reply_of_kind
from agent.tools.bench.run import Turn
from agent.tools.bench.texts import REPLIES


def _turn(kind: str, first_chunk: str, t0: float = 10.0, heard_at: float = 10.2) -> Turn:
    turn = Turn("tts-streaming", kind)
    turn.timeline = {"first_chunk": first_chunk, "t_first_token": t0}
    turn.voiced = [heard_at]
    return turn


def test_a_reply_of_the_asked_length_is_recognised_by_its_first_chunk() -> None:
    long_first = REPLIES["long"][2].split(",")[0] + ","
    assert reply_of_kind(_turn("long", long_first))
    assert reply_of_kind(_turn("short", "  " + REPLIES["short"][0] + " "))
    assert not reply_of_kind(_turn("long", "I heard you."))
    assert not reply_of_kind(_turn("medium", ""))


def test_misheard_turns_are_counted_apart() -> None:
    turns = [_turn("long", REPLIES["long"][0].split(",")[0] + ",", heard_at=10.15),
             _turn("long", "I heard you.", heard_at=10.05)]
    out = _tts(turns, "streaming")["long"]
    assert out["n"] == 1 and out["misheard"] == 1
    assert out["ttfa_ms_p50"] == 150.0


def test_barge_in_reaction_ends_at_the_agents_last_frame_before_a_pause() -> None:
    from agent.tools.bench.report import bargein_ms

    turn = Turn("bargein", "interrupt")
    turn.t_onset = 20.0
    # the agent talks until 20.3 s, is quiet, then answers the interruption at 23 s
    turn.voiced = [19.9, 20.0, 20.1, 20.2, 20.3, 23.0, 23.1]
    assert round(bargein_ms(turn) or 0.0) == 300
    assert bargein_ms(Turn("bargein", "interrupt")) is None


def test_word_errors_count_after_the_same_normalisation_on_both_sides() -> None:
    from agent.tools.bench.corpus import normalise, word_errors

    assert normalise("My number is four five-seven, 2.") == ["my", "number", "is", "4", "5", "7", "2"]
    assert normalise("It's 555.") == ["it's", "5", "5", "5"]
    ref = normalise("Can I book a table for four people tonight?")
    assert word_errors(ref, normalise("can i book a table for 4 people tonight")) == 0
    assert word_errors(ref, normalise("look at table for four people to buy it")) == 7  # 3 sub, 2 del, 2 ins
    assert word_errors(["a", "b"], []) == 2 and word_errors([], ["a"]) == 1
