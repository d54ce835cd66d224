"""Tests for agent.turn.endpointing: pure, injected times, no sleeps."""

from __future__ import annotations

import pytest

from agent.turn.endpointing import Endpointer, SpeechEnded, SpeechStarted, TurnEvent

FRAME_SECS = 0.02


def _drive(ep: Endpointer, pattern: str, t0: float = 100.0) -> list[tuple[int, TurnEvent]]:
    """Feed one frame per character ('#' speech, '.' silence); frame i ends at t0+(i+1)*20ms."""
    out: list[tuple[int, TurnEvent]] = []
    for i, ch in enumerate(pattern):
        for event in ep.update(ch == "#", t0 + (i + 1) * FRAME_SECS):
            out.append((i, event))
    return out


def test_silence_gives_no_events() -> None:
    ep = Endpointer()
    assert _drive(ep, "." * 200) == []
    assert not ep.in_speech and ep.speech_ms == 0


def test_speech_start_after_min_speech_dated_at_run_start() -> None:
    ep = Endpointer(endpoint_ms=500, min_speech_ms=120)
    events = _drive(ep, ".." + "#" * 10)
    assert len(events) == 1
    index, event = events[0]
    assert index == 7  # the sixth speech frame completes 120 ms
    assert isinstance(event, SpeechStarted)
    assert event.t_start_of_speech == pytest.approx(100.04)
    assert event.t_detected == pytest.approx(100.16)
    assert ep.in_speech
    assert ep.speech_ms == 200


def test_speech_end_after_endpoint_ms_of_silence() -> None:
    ep = Endpointer(endpoint_ms=500, min_speech_ms=120)
    events = _drive(ep, "#" * 20 + "." * 30)
    ended = [(i, e) for i, e in events if isinstance(e, SpeechEnded)]
    assert len(ended) == 1
    index, event = ended[0]
    assert index == 19 + 25  # 25 silent frames = 500 ms
    assert event.t_end_of_speech == pytest.approx(100.40)
    assert event.t_detected == pytest.approx(100.90)
    assert event.speech_ms == 400 and not event.forced
    assert not ep.in_speech and ep.speech_ms == 0


def test_pauses_shorter_than_endpoint_keep_one_turn() -> None:
    ep = Endpointer(endpoint_ms=500, min_speech_ms=120)
    events = _drive(ep, "#" * 10 + "." * 20 + "#" * 10 + "." * 24 + "#" * 5 + "." * 30)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, SpeechEnded]
    ended = events[1][1]
    assert isinstance(ended, SpeechEnded) and ended.speech_ms == 500


def test_short_blip_is_ignored() -> None:
    ep = Endpointer(endpoint_ms=500, min_speech_ms=120)
    assert _drive(ep, "." * 5 + "###" + "." * 40) == []
    assert not ep.in_run


def test_blips_add_up_within_one_run() -> None:
    ep = Endpointer(endpoint_ms=500, min_speech_ms=120)
    events = _drive(ep, "###...###" + "." * 30)
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded]
    assert events[0][0] == 8


def test_running_speech_ms_for_barge_in() -> None:
    ep = Endpointer(endpoint_ms=500, min_speech_ms=100)
    seen = []
    for i in range(30):
        ep.update(True, i * FRAME_SECS)
        seen.append(ep.speech_ms)
    assert seen[4] == 100 and seen[-1] == 600
    assert ep.in_speech


def test_two_turns() -> None:
    ep = Endpointer(endpoint_ms=300, min_speech_ms=60)
    events = _drive(ep, ("#" * 10 + "." * 20) * 2)
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded] * 2


def test_max_utterance_forces_an_end() -> None:
    ep = Endpointer(endpoint_ms=500, min_speech_ms=100, max_utterance_ms=1000)
    events = _drive(ep, "#" * 120)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, SpeechEnded, SpeechStarted, SpeechEnded, SpeechStarted]
    forced = events[1][1]
    assert isinstance(forced, SpeechEnded) and forced.forced
    assert forced.t_detected == pytest.approx(101.00)


def test_reset_drops_the_run_silently() -> None:
    ep = Endpointer()
    _drive(ep, "#" * 20)
    ep.reset()
    assert not ep.in_speech and ep.run_start is None
    assert _drive(ep, "." * 40, t0=200.0) == []


def test_zero_min_speech_starts_on_first_frame() -> None:
    ep = Endpointer(min_speech_ms=0)
    events = _drive(ep, "#")
    assert [type(e) for _, e in events] == [SpeechStarted]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="endpoint_ms"):
        Endpointer(endpoint_ms=0)
