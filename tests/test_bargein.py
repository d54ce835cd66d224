"""Barge-in detection (pure)."""

from agent.turn.bargein import BargeInDetector


def feed(detector: BargeInDetector, pattern: str) -> list[bool]:
    return [detector.update(ch == "s") for ch in pattern]


def test_interrupts_after_min_speech() -> None:
    detector = BargeInDetector(min_speech_ms=100)
    assert feed(detector, "ssss") == [False] * 4
    assert detector.update(True) is True


def test_a_cough_is_not_an_interruption() -> None:
    detector = BargeInDetector(min_speech_ms=250)
    assert not any(feed(detector, "sssss" + "." * 10 + "sssss" + "." * 10))


def test_short_gaps_do_not_reset_the_run() -> None:
    detector = BargeInDetector(min_speech_ms=200, max_gap_ms=60)
    assert feed(detector, "sssss..sssss")[-1] is True


def test_zero_turns_barge_in_off() -> None:
    detector = BargeInDetector(min_speech_ms=0)
    assert not any(feed(detector, "s" * 100))
