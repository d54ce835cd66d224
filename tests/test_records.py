"""Per-call records: the recorder makes its folder and writes on its own thread, finishes without
being waited for, pads the last frames, survives a disk error; the JSON-lines writer makes its folder."""

from __future__ import annotations

import collections
import json
import logging
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent.app import _records_folder
from agent.frames import FRAME_SAMPLES
from agent.records import JsonLinesWriter, MediaRecorder, read_wav


def frame_of(value: int) -> bytes:
    return np.full(FRAME_SAMPLES, value, dtype=np.int16).tobytes()


def wait_for(condition: Callable[[], bool], secs: float = 5.0) -> bool:
    deadline = time.monotonic() + secs
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def wav_samples(path: Path) -> int:
    """Samples per channel in the WAV so far (-1 before its first header is on disk)."""
    try:
        return len(read_wav(path)[1])
    except (OSError, EOFError, wave.Error):
        return -1


def taps() -> tuple[collections.deque[bytes], collections.deque[bytes]]:
    return collections.deque(), collections.deque()


def test_the_sip_thread_only_names_the_folder(tmp_path: Path) -> None:
    folder = _records_folder(tmp_path / "records", 3)
    assert folder.parent == tmp_path / "records" and folder.name.endswith("-call3")
    assert not (tmp_path / "records").exists()


def test_the_recorder_makes_its_folder_on_its_thread_and_finishes_without_being_waited_for(tmp_path: Path) -> None:
    rx, tx = taps()
    path = tmp_path / "records" / "call1" / "audio.wav"
    recorder = MediaRecorder(path, rx, tx)
    assert not path.parent.exists()  # the constructor only keeps the path
    recorder.start()
    assert recorder.started.wait(5) and path.parent.is_dir()
    rx.extend([frame_of(1), frame_of(2), frame_of(3)])
    tx.extend([frame_of(-1), frame_of(-2)])  # the call ended between the two callbacks of a tick
    recorder.finish()
    assert recorder.exited.wait(5) and not recorder.failed
    assert recorder.stop(0.1)  # (shutdown) already done: nothing to wait for
    rate, stereo = read_wav(path)
    assert rate == 16000 and stereo.shape == (3 * FRAME_SAMPLES, 2)
    assert stereo[::FRAME_SAMPLES].tolist() == [[1, -1], [2, -2], [3, 0]]
    assert not rx and not tx


def test_the_recorder_writes_as_the_call_goes_on(tmp_path: Path) -> None:
    rx, tx = taps()
    path = tmp_path / "audio.wav"
    recorder = MediaRecorder(path, rx, tx)
    recorder.start()
    rx.extend([frame_of(5)] * 10)
    tx.extend([frame_of(6)] * 8)
    assert wait_for(lambda: wav_samples(path) == 8 * FRAME_SAMPLES)  # (its header is valid after each flush)
    assert (len(rx), len(tx)) == (2, 0)  # only frames both ways are written while the call goes on
    assert recorder.stop()


def test_a_disk_error_ends_the_recording_not_the_call_and_the_taps_do_not_grow(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "taken").write_text("a file where the folder should be")
    rx, tx = taps()
    recorder = MediaRecorder(tmp_path / "taken" / "audio.wav", rx, tx)
    with caplog.at_level(logging.ERROR, logger="agent.records"):
        recorder.start()
        assert recorder.started.wait(5)
        rx.extend([frame_of(1)] * 5)
        tx.extend([frame_of(2)] * 5)
        assert wait_for(lambda: not rx and not tx)
    assert not rx and not tx and not recorder.failed and not recorder.exited.is_set()
    assert "cannot record to" in caplog.text and "the call goes on unrecorded" in caplog.text
    assert recorder.stop()


def test_a_json_lines_writer_makes_its_folder(tmp_path: Path) -> None:
    writer = JsonLinesWriter(tmp_path / "records" / "call2" / "transcript.jsonl")
    writer.write({"role": "assistant", "text": "Hello."})
    writer.close()
    lines = (tmp_path / "records" / "call2" / "transcript.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"role": "assistant", "text": "Hello."}]
