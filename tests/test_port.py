"""The media port against a real pjsua2 library (null sound device, no call): every clock tick puts
exactly one frame each way into the recording, whatever the port drops, so the recorder's two
channels stay aligned.

The test drives the callbacks as pjmedia's conference bridge does each tick: the outgoing frame is
asked for first (only while the port has a listener), then the received one is handed over.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pjsua2 as pj
import pytest

from agent.frames import FRAME_SAMPLES
from agent.media import port as port_module
from agent.media.playout import FRAME_BYTES, PlayoutBuffer
from agent.media.port import SILENCE, CallMediaPort
from agent.records import MediaRecorder, read_wav


@pytest.fixture(scope="module")
def endpoint() -> Iterator[pj.Endpoint]:
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = False
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    cfg.medConfig.clockRate = 16000
    cfg.medConfig.sndClockRate = 16000
    ep.libInit(cfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    yield ep
    ep.audDevManager().setNoDev()
    ep.libDestroy()


@pytest.fixture()
def port(endpoint: pj.Endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[CallMediaPort]:
    monkeypatch.setattr(port_module.BOOSTER, "check", lambda: None)  # no real-time priority for pytest's thread
    media_port = CallMediaPort("test", PlayoutBuffer(), queue.SimpleQueue(), rx_max_frames=4)
    yield media_port
    # Destroyed now, whoever still holds the Python object (pytest does, and a failed test's traceback):
    # a port that outlives the library aborts the process.
    pj.AudioMediaPort.__swig_destroy__(media_port)


def frame_of(value: int) -> bytes:
    return np.full(FRAME_SAMPLES, value, dtype=np.int16).tobytes()


def media_frame(data: bytes, kind: int = pj.PJMEDIA_FRAME_TYPE_AUDIO) -> pj.MediaFrame:
    frame = pj.MediaFrame()
    frame.type = kind
    frame.buf = pj.ByteVector(data)
    frame.size = len(data)
    return frame


def frame_values(channel: np.ndarray) -> list[int]:
    """One value per 20 ms frame (each test frame is constant)."""
    frames = channel.reshape(-1, FRAME_SAMPLES)
    assert (frames == frames[:, :1]).all()
    return [int(v) for v in frames[:, 0]]


def test_dropped_frames_keep_the_recording_aligned(port: CallMediaPort, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    agent = np.concatenate([np.full(FRAME_SAMPLES, 1000 + k, dtype=np.int16) for k in range(20)])
    port.playout.push(agent)
    sent: dict[int, pj.MediaFrame] = {}

    def requested(tick: int) -> None:
        sent[tick] = pj.MediaFrame()
        port.onFrameRequested(sent[tick])

    def unreadable(vec: pj.ByteVector) -> bytes:
        raise RuntimeError("unreadable frame")

    requested(0)  # tick 0 has begun when the recording starts: its outgoing frame is not recorded
    taps = port.record()
    recorder = MediaRecorder(tmp_path / "call" / "audio.wav", taps.rx, taps.tx)
    recorder.start()
    caller_in: list[int] = []  # what reached the call's input queue
    for tick in range(12):
        if tick == 8:  # the call reads its queue (full since tick 5)
            while not port.rx.empty():
                chunk = port.rx.get_nowait()
                assert chunk is not None
                caller_in.append(int(chunk.samples[0]))
        if tick == 9:
            with monkeypatch.context() as m:
                m.setattr(port.playout, "pop", lambda: 1 // 0)
                requested(tick)  # the send callback fails
        elif tick not in (0, 5):  # tick 5: the port has no listener, nothing is asked of it
            requested(tick)
        caller = frame_of(tick + 1)
        if tick == 3:
            port.onFrameReceived(media_frame(caller[: FRAME_BYTES // 2]))  # wrong length
        elif tick == 4:
            port.onFrameReceived(media_frame(b"", pj.PJMEDIA_FRAME_TYPE_NONE))  # nothing transmits to the port
        elif tick == 6:
            with monkeypatch.context() as m:
                m.setattr(port_module, "vector_bytes", unreadable)
                port.onFrameReceived(media_frame(caller))  # the receive callback fails
        else:
            port.onFrameReceived(media_frame(caller))
    recorder.finish()
    assert recorder.exited.wait(5) and not recorder.failed

    rate, stereo = read_wav(tmp_path / "call" / "audio.wav")
    assert rate == 16000 and stereo.shape == (12 * FRAME_SAMPLES, 2)
    # the caller's frames at their own ticks; silence where the port dropped one or had none
    assert frame_values(stereo[:, 0]) == [1, 2, 3, 0, 0, 6, 0, 0, 9, 10, 11, 12]
    # the agent's frames in the order they went out; silence where none was asked for (tick 5),
    # the send failed (tick 9), or the tick had begun before the recording (tick 0)
    assert frame_values(stereo[:, 1]) == [0, 1001, 1002, 1003, 1004, 0, 1005, 1006, 1007, 0, 1008, 1009]
    assert caller_in == [1, 2, 3, 6]  # tick 7's frame found the queue full
    c = port.counters
    assert (c.rx_frames, c.rx_dropped, c.rx_no_audio, c.callback_errors) == (8, 3, 1, 2)
    assert c.tx_frames == 10
    assert bytes(sent[1].buf) == frame_of(1001) and sent[1].type == pj.PJMEDIA_FRAME_TYPE_AUDIO
    assert sent[9].type != pj.PJMEDIA_FRAME_TYPE_AUDIO and sent[9].size == 0  # pjmedia got no audio then


def test_a_port_reused_for_a_new_call_stops_recording_the_old_one(port: CallMediaPort) -> None:
    taps = port.record()
    port.onFrameRequested(pj.MediaFrame())
    port.onFrameReceived(media_frame(frame_of(7)))
    port.attach(PlayoutBuffer(), queue.SimpleQueue())
    port.onFrameRequested(pj.MediaFrame())
    port.onFrameReceived(media_frame(frame_of(8)))
    assert list(taps.rx) == [frame_of(7)] and list(taps.tx) == [SILENCE]
    assert port.taps is None and port.counters.rx_frames == 1
