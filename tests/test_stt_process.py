"""PocketSphinx in a child process: same words, pooled workers, clean errors."""

from __future__ import annotations

import time

import pytest

from agent.errors import ModelError
from agent.stt.process import ProcessSttEngine
from tests.speech_helpers import speech_16k


def _recognise(engine: ProcessSttEngine, text: str) -> tuple[str, int]:
    stream = engine.new_stream()
    audio = speech_16k(text)
    partials = 0
    for i in range(0, len(audio) - 319, 320):
        if stream.accept(audio[i : i + 320]) is not None:
            partials += 1
        time.sleep(0.005)  # partials come back asynchronously, as they do in a real call
    final = stream.finish().text
    stream.close()
    return final, partials


def test_words_come_back_from_the_child_process_and_workers_are_reused() -> None:
    engine = ProcessSttEngine("pocketsphinx")
    try:
        final, partials = _recognise(engine, "What is the weather like today?")
        assert "weather" in final and partials > 0
        final, _ = _recognise(engine, "Can you tell me the time please?")
        assert "time" in final
        assert len(engine._idle) == 1  # the one worker went back to the pool twice
    finally:
        engine.close()


def test_a_broken_engine_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="/nope/vosk"):
        ProcessSttEngine("vosk", "/nope/vosk")
