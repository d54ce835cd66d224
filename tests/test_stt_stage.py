"""The turn stage's listener and the STT stage together: frames in, speech events and transcripts out.

The listener (VAD, endpointing, pause and barge-in detection) is pure and runs
here in the test's thread; the STT stage runs on its own worker thread, as in a call.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from agent.frames import (
    FRAME_MS,
    SAMPLE_RATE,
    AudioChunk,
    FinalTranscript,
    Frame,
    LongSpeech,
    SpeechActivity,
    SpeechPaused,
    StageFailed,
    Transcript,
)
from agent.queues import FrameQueue
from agent.stt.base import SttEngine, SttStream, create_stt
from agent.stt.stage import SttStage
from agent.turn.listener import FOR_STT, Listener
from tests.speech_helpers import frames_of, silence_16k, speech_16k

T0 = 1000.0
FRAME_SECS = FRAME_MS / 1000.0
WAIT_SECS = 30.0


class FakeStream(SttStream):
    """Counts what it is fed; the final text says how many samples."""

    def __init__(self, fail: bool = False) -> None:
        self.fed_samples = 0
        self.closed = False
        self.fail = fail

    def accept(self, samples: np.ndarray, speech: bool = True) -> Transcript | None:
        if self.fail:
            raise RuntimeError("decoder exploded")
        self.fed_samples += len(samples)
        return None

    def finish(self) -> Transcript:
        text = f"{self.fed_samples} samples"
        self.fed_samples = 0
        return Transcript(text, final=True)

    def reset(self) -> None:
        self.fed_samples = 0

    def close(self) -> None:
        self.closed = True


class FakeEngine(SttEngine):
    name = "fake"

    def __init__(self, fail: bool = False) -> None:
        self.streams: list[FakeStream] = []
        self.fail = fail

    def new_stream(self) -> FakeStream:
        self.streams.append(FakeStream(self.fail))
        return self.streams[-1]


def _tone(duration_ms: int) -> np.ndarray:
    t = np.arange(SAMPLE_RATE * duration_ms // 1000) / SAMPLE_RATE
    return (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)


def _chunks(audio: np.ndarray, t0: float = T0) -> Iterator[AudioChunk]:
    for i, frame in enumerate(frames_of(audio)):
        yield AudioChunk(frame, t=t0 + (i + 1) * FRAME_SECS)


def _run(
    engine: SttEngine, items: Iterator[AudioChunk], n_finals: int, clock: Callable[[], float] = time.monotonic,
    **kwargs: int,
) -> list[Frame]:
    """Listen to ``items`` and recognise until ``n_finals`` finals (or a failure) came out, in order."""
    listener = Listener(**kwargs)  # type: ignore[arg-type]
    to_stt = FrameQueue()
    out: queue.Queue[Frame] = queue.Queue()
    stage = SttStage("stt-test", engine, to_stt, out.put, out.put, clock=clock)
    stage.start()
    for item in items:
        for frame in listener.process(item.samples, item.t):
            (to_stt.put if isinstance(frame, FOR_STT) else out.put)(frame)
    events: list[Frame] = []
    try:
        while sum(isinstance(e, FinalTranscript) for e in events) < n_finals:
            events.append(out.get(timeout=WAIT_SECS))
            if isinstance(events[-1], StageFailed):
                break
    finally:
        assert stage.stop()
    while not out.empty():
        events.append(out.get_nowait())
    return events


@pytest.fixture(scope="module")
def pocketsphinx() -> SttEngine:
    return create_stt("pocketsphinx", in_process=True)  # partials synchronously, as the test feeds at once


def test_real_speech_gives_activity_partials_and_a_timed_final(pocketsphinx: SttEngine) -> None:
    speech = speech_16k("what is the weather like today")
    audio = np.concatenate([silence_16k(1000), speech, silence_16k(1000)])
    events = _run(pocketsphinx, _chunks(audio), 1, clock=lambda: 5000.0)

    finals = [e for e in events if isinstance(e, FinalTranscript)]
    activity = [e for e in events if isinstance(e, SpeechActivity)]
    partials = [e for e in events if isinstance(e, Transcript)]
    assert len(finals) == 1
    final = finals[0]
    assert "weather" in final.text.split()
    speech_end = T0 + 1.0 + len(speech) / SAMPLE_RATE
    assert final.t_end_of_speech == pytest.approx(speech_end, abs=0.25)
    assert final.t_endpoint - final.t_end_of_speech == pytest.approx(0.5, abs=0.021)
    assert final.t_ready == 5000.0

    assert activity and activity[0].speech_ms == 120
    assert activity[0].t_start_of_speech == pytest.approx(T0 + 1.0, abs=0.1)
    assert [a.speech_ms for a in activity] == sorted(a.speech_ms for a in activity)
    assert activity[-1].speech_ms >= 800
    assert events.index(activity[0]) < events.index(final)
    assert partials and not any(p.final for p in partials)


def test_two_turns_give_two_finals_in_order(pocketsphinx: SttEngine) -> None:
    audio = np.concatenate(
        [
            speech_16k("what is the weather like today"),
            silence_16k(800),
            speech_16k("please call me back tomorrow morning"),
            silence_16k(800),
        ]
    )
    events = _run(pocketsphinx, _chunks(audio), 2)
    finals = [e for e in events if isinstance(e, FinalTranscript)]
    assert len(finals) == 2
    assert "weather" in finals[0].text.split()
    assert "tomorrow" in finals[1].text.split()
    assert finals[0].t_endpoint < finals[1].t_end_of_speech


def test_silence_gives_no_events() -> None:
    engine = FakeEngine()
    listener = Listener()
    to_stt = FrameQueue()
    events: list[Frame] = []
    stage = SttStage("stt-test", engine, to_stt, events.append)
    stage.start()
    for chunk in _chunks(silence_16k(2000)):
        for frame in listener.process(chunk.samples, chunk.t):
            to_stt.put(frame)
    assert stage.stop()
    assert events == [] and to_stt.empty()
    assert listener.frames_seen == 100 and stage.frames_fed == 0
    assert engine.streams[0].closed


def test_pre_roll_audio_reaches_the_recogniser() -> None:
    audio = np.concatenate([silence_16k(1000), _tone(400), silence_16k(600)])
    events = _run(FakeEngine(), _chunks(audio), 1, pre_roll_ms=200)
    (final,) = [e for e in events if isinstance(e, FinalTranscript)]
    # 200 ms pre-roll + 400 ms tone + 500 ms of trailing silence up to the endpoint
    assert final.text == f"{(200 + 400 + 500) * SAMPLE_RATE // 1000} samples"


def test_a_pause_gives_the_words_so_far_once() -> None:
    class Partial(FakeStream):
        def accept(self, samples: np.ndarray, speech: bool = True) -> Transcript | None:
            super().accept(samples)
            return Transcript("words", final=False)

    class PartialEngine(FakeEngine):
        def new_stream(self) -> FakeStream:
            self.streams.append(Partial())
            return self.streams[-1]

    audio = np.concatenate([_tone(400), silence_16k(300), _tone(400), silence_16k(600)])
    events = _run(PartialEngine(), _chunks(audio), 1, pause_ms=200)
    paused = [e for e in events if isinstance(e, SpeechPaused)]
    assert len(paused) == 2 and {p.text for p in paused} == {"words"}
    assert paused[0].t_end_of_speech == pytest.approx(T0 + 0.4, abs=0.03)


def test_long_speech_is_reported_for_barge_in() -> None:
    audio = np.concatenate([_tone(100), silence_16k(200), _tone(600), silence_16k(600)])
    events = _run(FakeEngine(), _chunks(audio), 1, barge_in_ms=250)
    long_speech = [e for e in events if isinstance(e, LongSpeech)]
    # the short burst is too short; the second run crosses 250 ms, then is said again every 100 ms
    assert [e.speech_ms for e in long_speech] == [260, 360, 460, 560]
    assert long_speech[0].t == pytest.approx(T0 + 0.3 + 0.26, abs=0.001)


def test_activity_events_every_interval() -> None:
    audio = np.concatenate([_tone(1000), silence_16k(600)])
    events = _run(FakeEngine(), _chunks(audio), 1, activity_every_ms=200)
    speech_ms = [e.speech_ms for e in events if isinstance(e, SpeechActivity)]
    assert speech_ms == [120, 320, 520, 720, 920]


def test_a_failing_recogniser_ends_the_stage_not_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="agent.worker")
    engine = FakeEngine(fail=True)
    events = _run(engine, _chunks(np.concatenate([_tone(500), silence_16k(600)])), 1)
    # (the listener's own frames, put from this thread, may come after the failure)
    (failure,) = [e for e in events if isinstance(e, StageFailed)]
    assert failure.stage == "stt-test" and "decoder exploded" in failure.reason
    assert any(r.exc_info for r in caplog.records)
    assert engine.streams[0].closed


def test_stop_without_frames_is_quick() -> None:
    stage = SttStage("stt-test", FakeEngine(), FrameQueue(), lambda event: None)
    stage.start()
    assert stage.started.wait(5.0)
    assert stage.stop(timeout_secs=1.0)
    assert stage.exited.is_set() and not stage.failed


def test_words_that_join_the_last_turn_are_decoded_again_with_it() -> None:
    """The conductor says the caller's next words would join their turn (the agent still thinks): the final
    carries the two utterances decoded as one piece; when they would not, no extra decode is made."""
    from agent.turn.end_of_turn import TurnHints

    class WholeEngine(FakeEngine):
        def __init__(self) -> None:
            super().__init__()
            self.decoded: list[int] = []

        def decode(self, samples: np.ndarray, prompt: str = "") -> str:
            self.decoded.append(len(samples))
            return f"whole of {len(samples)} samples"

    def finals(can_join: bool) -> tuple[WholeEngine, list[FinalTranscript]]:
        engine, hints = WholeEngine(), TurnHints()
        hints.can_join = can_join
        listener = Listener()
        to_stt = FrameQueue()
        out: list[Frame] = []
        stage = SttStage("stt-test", engine, to_stt, out.append, hints=hints)
        stage.start()
        audio = np.concatenate([_tone(400), silence_16k(700), _tone(600), silence_16k(700)])
        for chunk in _chunks(audio):
            for frame in listener.process(chunk.samples, chunk.t):
                if isinstance(frame, FOR_STT):
                    to_stt.put(frame)
        deadline = time.monotonic() + WAIT_SECS
        while sum(isinstance(e, FinalTranscript) for e in out) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stage.stop()
        return engine, [e for e in out if isinstance(e, FinalTranscript)]

    engine, (first, second) = finals(can_join=True)
    pieces = [int(final.text.split()[0]) for final in (first, second)]
    assert first.whole == "" and second.whole == f"whole of {sum(pieces)} samples"
    assert engine.decoded == [sum(pieces)]
    engine, (first, second) = finals(can_join=False)
    assert first.whole == second.whole == "" and engine.decoded == []
