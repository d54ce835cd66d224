"""The pipeline's parts: the two-lane frame queue, the worker life cycle, the pacer, and the
conductor's interrupt that flushes everything downstream (pure logic, fakes at the edges)."""

from __future__ import annotations

import json
import logging
import queue
import threading
from pathlib import Path

import numpy as np
import pytest

from agent.conductor import Conductor
from agent.dialog.pacer import Pacer
from agent.frames import (
    AudioChunk,
    FinalTranscript,
    Hangup,
    LongSpeech,
    PlayoutProgress,
    ReplyGenerated,
    ReplyRequest,
    SpeechChunk,
    SpeechPaused,
    StageFailed,
    SynthesisDone,
    TextChunk,
)
from agent.media.playout import PlayoutBuffer
from agent.queues import FrameQueue
from agent.session import CallSession
from agent.tts.base import TtsEngine
from agent.tts.stream import TtsStage
from agent.turn.machine import State, TurnConfig, TurnMachine
from agent.worker import STOP, Worker

# -- the frame queue -----------------------------------------------------------

def test_control_frames_jump_the_queue_and_flush_drops_only_data() -> None:
    q = FrameQueue()
    q.put("a")
    q.put("b")
    q.put_control("stop!")
    assert q.get() == "stop!" and q.qsize() == 2
    q.put(TextChunk(1, 0, "old"))
    q.put(TextChunk(2, 0, "new"))
    assert q.flush(lambda f: getattr(f, "reply", None) == 1) == 1
    assert [q.get(), q.get()] == ["a", "b"]
    kept = q.get()
    assert isinstance(kept, TextChunk) and (kept.reply, kept.text) == (2, "new")
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    q.put("x")
    assert q.flush() == 1 and q.empty()


# -- the worker life cycle -------------------------------------------------------

class Recorder(Worker):
    def __init__(self, inbox: FrameQueue, on_failure: object = None) -> None:
        super().__init__("rec-test", inbox, on_failure, lower_priority=False)  # type: ignore[arg-type]
        self.seen: list[object] = []
        self.torn_down = threading.Event()

    def handle(self, item: object) -> None:
        if item == "boom":
            raise RuntimeError("it broke")
        self.seen.append(item)

    def teardown(self) -> None:
        self.torn_down.set()


def test_a_worker_handles_its_inbox_in_order_and_stops_on_the_sentinel() -> None:
    inbox = FrameQueue()
    worker = Recorder(inbox)
    worker.start()
    for item in (1, 2, 3):
        inbox.put(item)
    inbox.put(STOP)
    assert worker.exited.wait(5) and worker.seen == [1, 2, 3]
    assert worker.stop() and worker.torn_down.is_set() and not worker.failed


def test_a_failing_worker_logs_its_traceback_and_reports_a_stage_failure(caplog: pytest.LogCaptureFixture) -> None:
    failures: list[StageFailed] = []
    inbox = FrameQueue()
    worker = Recorder(inbox, failures.append)
    worker.start()
    with caplog.at_level(logging.ERROR, logger="agent.worker"):
        inbox.put("boom")
        assert worker.exited.wait(5)
    assert worker.failed and worker.torn_down.is_set()
    assert failures == [StageFailed("rec-test", "RuntimeError: it broke", t=failures[0].t)]
    assert any(r.exc_info for r in caplog.records)


def test_a_worker_that_does_not_stop_in_time_is_named_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()

    class Stuck(Worker):
        def handle(self, item: object) -> None:
            release.wait(5)

    inbox = FrameQueue()
    worker = Stuck("stuck-test", inbox, lower_priority=False)
    worker.start()
    inbox.put("work")
    with caplog.at_level(logging.WARNING, logger="agent.worker"):
        assert not worker.stop(timeout_secs=0.1)
    assert "stuck-test: did not exit within 0.1 s" in caplog.text
    release.set()
    assert worker.exited.wait(5)


def test_a_polling_worker_ticks_until_stopped() -> None:
    ticks: list[int] = []

    class Poller(Worker):
        period_secs = 0.01

        def tick(self) -> None:
            ticks.append(1)

    worker = Poller("poll-test", lower_priority=False)
    worker.start()
    while len(ticks) < 3:
        worker.exited.wait(0.01)
    assert worker.stop() and worker.exited.is_set()


# -- the pacer ------------------------------------------------------------------------

def holding(pacer: Pacer) -> bool:
    return pacer.holding  # (a function, so that the type checker does not pin it between calls)


def test_the_pacer_holds_generation_while_the_first_audio_is_synthesised() -> None:
    now = [10.0]
    pacer = Pacer(clock=lambda: now[0])
    pacer.begin(1)
    assert pacer.sent(1) and holding(pacer)  # nothing ready ahead: wait for this chunk
    pacer.ready(1, 3.0)
    assert not holding(pacer) and pacer.audio_ahead_secs() == 3.0
    assert not pacer.sent(1)  # 3 s ahead: generation may go on
    pacer.playing(1, 10.0)
    now[0] = 12.5
    assert pacer.audio_ahead_secs() == pytest.approx(0.5)
    assert pacer.sent(1) and not pacer.wait(threading.Event(), max_secs=0.0)
    pacer.release(2)
    assert holding(pacer)  # another reply's release does not count
    pacer.release(1)
    assert pacer.wait(threading.Event())


# -- the conductor's interrupt ------------------------------------------------------------

class Voice(TtsEngine):
    def synthesize(self, text: str) -> np.ndarray:
        return np.full(len(text) * 320, 500, dtype=np.int16)


def state(c: Conductor) -> State:
    return c.machine.state


def conductor(tmp_path: Path) -> tuple[Conductor, CallSession, FrameQueue, FrameQueue]:
    hangups: list[str] = []
    session = CallSession("7", "sip:caller@test", queue.SimpleQueue(), PlayoutBuffer(), hangups.append)
    session.records_dir = str(tmp_path)
    machine = TurnMachine(TurnConfig(barge_in_ms=250, name="call 7"), lambda: 100.0)
    to_dialog, to_tts = FrameQueue(), FrameQueue()
    return Conductor(session, machine, to_dialog, to_tts, Pacer(), 99.0), session, to_dialog, to_tts


def asked(c: Conductor, to_dialog: FrameQueue, text: str) -> ReplyRequest:
    """The caller's final words: the reply request the conductor sends to the dialog stage."""
    c.feed(FinalTranscript(text, 99.5, 99.9, t=100.0))
    request = to_dialog.get(timeout=0)
    assert isinstance(request, ReplyRequest) and request.text == text
    return request


def chunk_of(request: ReplyRequest, text: str, index: int = 0) -> SpeechChunk:
    return SpeechChunk(text, AudioChunk(np.full(3200, 500, dtype=np.int16)), request.reply, index)


def test_an_interrupt_flushes_playout_synthesis_and_generation(tmp_path: Path) -> None:
    c, session, to_dialog, to_tts = conductor(tmp_path)
    request = asked(c, to_dialog, "tell me a story")
    for i, text in enumerate(["Once upon a time.", "There was a king.", "He had three sons."]):
        to_tts.put(TextChunk(request.reply, i, text))
    c.feed(chunk_of(request, "Once upon a time."))
    c.feed(chunk_of(request, "There was a king.", 1))
    assert session.playout.pending_frames == 20 and state(c) is State.SPEAKING
    for _ in range(10):  # the caller hears the whole first chunk
        session.playout.pop()
    to_dialog.put(ReplyRequest(99, "another call's work", ()))
    c.feed(LongSpeech(260))  # the caller's sound pauses the audio; their words then stop it
    assert session.playout.held and session.playout.pop() is None and session.playout.pending_frames == 10
    assert not request.cancel.is_set()
    c.feed(SpeechPaused("Stop.", 100.5))
    assert request.cancel.is_set()
    assert session.playout.pending_frames == 0
    assert to_tts.empty()
    # only what belonged to the stopped reply went; the brain is then asked to get ready for the next turn
    left = [to_dialog.get(timeout=0), to_dialog.get(timeout=0)]
    assert [(r.reply, r.prepare) for r in left if isinstance(r, ReplyRequest)] == [(99, False), (0, True)]
    assert state(c) is State.INTERRUPTED
    c.close()
    lines = [json.loads(line) for line in (tmp_path / "transcript.jsonl").read_text().splitlines()]
    assert lines[-1]["text"] == "Once upon a time." and lines[-1]["interrupted"] is True


def test_a_backchannel_over_the_agent_resumes_its_audio(tmp_path: Path) -> None:
    c, session, to_dialog, _ = conductor(tmp_path)
    request = asked(c, to_dialog, "tell me a story")
    c.feed(chunk_of(request, "Once upon a time."))
    session.playout.pop()
    c.feed(LongSpeech(260))
    assert session.playout.pop() is None and state(c) is State.PAUSED
    c.feed(FinalTranscript("Mm-hmm.", 100.4, 100.9, t=101.0))
    assert not session.playout.held and session.playout.pop() is not None and state(c) is State.SPEAKING
    assert not request.cancel.is_set()
    c.close()


class CachingVoice(Voice):
    """Says which of its methods ran, and on which thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def synthesize(self, text: str) -> np.ndarray:
        self.calls.append(("synthesize", threading.current_thread().name))
        return super().synthesize(text)

    def synthesize_cached(self, text: str) -> np.ndarray:
        self.calls.append(("cached", threading.current_thread().name))
        return super().synthesize(text)


def test_the_greeting_is_said_by_the_tts_stage_from_its_cache_not_by_the_conductor(tmp_path: Path) -> None:
    c, session, _, to_tts = conductor(tmp_path)
    voice, out = CachingVoice(), FrameQueue()
    stage = TtsStage("tts-test", voice, to_tts, out.put)
    c.greet("Hello, caller.")
    assert voice.calls == [] and session.playout.pending_frames == 0  # the conductor only asked
    stage.start()
    speech, done = out.get(timeout=5), out.get(timeout=5)
    assert stage.stop()
    assert voice.calls == [("cached", "tts-test")]
    assert isinstance(speech, SpeechChunk) and speech.text == "Hello, caller."
    assert isinstance(done, SynthesisDone) and (done.reply, done.chunks) == (1, 1)
    heard: list[PlayoutProgress] = []
    session.playout.on_progress = heard.append
    c.feed(speech)
    c.feed(done)
    assert session.playout.pending_frames == len("Hello, caller.") and state(c) is State.SPEAKING
    while session.playout.pop() is not None:
        pass
    for progress in heard:
        c.feed(progress)
    assert state(c) is State.LISTENING
    c.close()
    lines = [json.loads(line) for line in (tmp_path / "transcript.jsonl").read_text().splitlines()]
    assert lines == [{"role": "assistant", "text": "Hello, caller.", "start_secs": 1.0, "end_secs": 1.0,
                      "interrupted": False}]
    assert not (tmp_path / "timeline.jsonl").read_text()  # a greeting is no turn, as before


def test_hang_up_mid_reply_keeps_the_transcript_of_what_was_heard(tmp_path: Path) -> None:
    c, session, to_dialog, _ = conductor(tmp_path)
    request = asked(c, to_dialog, "hello")
    c.feed(chunk_of(request, "Hi there, caller."))
    c.feed(ReplyGenerated(request.reply, "Hi there, caller.", 1))
    c.feed(SynthesisDone(request.reply, 1))
    for _ in range(5):
        session.playout.pop()
    c.feed(Hangup("caller hung up"))
    c.close()
    lines = [json.loads(line) for line in (tmp_path / "transcript.jsonl").read_text().splitlines()]
    assert lines[-1] == {"role": "assistant", "text": "Hi there,", "start_secs": 1.0, "end_secs": 1.0,
                         "interrupted": True}


# -- the dialog stage -------------------------------------------------------------------------

@pytest.mark.parametrize("at_once", [False, True])
def test_the_dialog_stage_streams_a_reply_as_numbered_chunks_and_ends_it(at_once: bool) -> None:
    from collections.abc import Iterator

    from agent.dialog.base import Message
    from agent.dialog.scripted import ScriptedBrain
    from agent.dialog.stage import DialogStage

    class AtOnce(ScriptedBrain):
        """The whole reply in one delta: one delta completes several chunks."""

        def reply(self, history: list[Message], user_text: str, cancel: threading.Event,
              unsure: tuple[str, ...] = ()) -> Iterator[str]:
            yield "".join(d for d in super().reply(history, user_text, cancel) if isinstance(d, str)) + " "

    inbox, to_tts, reports = FrameQueue(), FrameQueue(), FrameQueue()
    brain = AtOnce() if at_once else ScriptedBrain()
    stage = DialogStage("dialog-test", brain, inbox, to_tts.put, reports.put, Pacer(), pace=False)
    stage.start()
    inbox.put(ReplyRequest(3, "long", ()))
    frames: list[object] = []
    while not frames or not isinstance(frames[-1], ReplyGenerated):
        frames.append(to_tts.get(timeout=5))
    assert stage.stop()
    chunks = [f for f in frames if isinstance(f, TextChunk)]
    done = frames[-1]
    assert isinstance(done, ReplyGenerated) and done.reply == 3 and len(chunks) > 3
    assert [c.index for c in chunks] == list(range(len(chunks))) and done.chunks == len(chunks)
    assert " ".join(c.text for c in chunks).split() == done.text.split()


def test_the_recogniser_is_given_the_agent_s_words_only_when_a_capture_asked_them() -> None:
    from agent.pipeline import capture_question

    asked = {"role": "assistant", "text": "And at what time?"}
    decided = {"role": "action", "action": "decision", "by": "rule", "kind": "capture"}
    assert capture_question([{"role": "user", "text": "a table for 4"}, asked, decided]) == "And at what time?"
    assert capture_question([{"role": "user", "text": "hi"}, {"role": "assistant", "text": "We open at 6."},
                             {"role": "action", "action": "decision", "by": "model", "kind": "answer"}]) == ""
    assert capture_question([asked, decided, {"role": "user", "text": "8 pm"}]) == ""
    assert capture_question([]) == ""
