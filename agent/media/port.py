"""The media bridge: one pjsua2 ``AudioMediaPort`` per call, 16 kHz mono, 20 ms.

The two frame callbacks run on pjmedia's clock thread 50 times a second each.
They do O(1) work only: copy the received frame into the call's input queue,
and take the next outgoing frame from the playout buffer (silence when empty).
pjmedia's conference bridge does codec and rate conversion.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import queue
import time
from typing import Callable

import numpy as np
import pjsua2 as pj

from ..frames import FRAME_MS, SAMPLE_RATE, Counters
from .playout import FRAME_BYTES, PlayoutBuffer
from ..turn.bargein import BargeInGate
from .priority import BOOSTER

__all__ = ["CallMediaPort", "vector_bytes", "SILENCE"]

log = logging.getLogger(__name__)

SILENCE = bytes(FRAME_BYTES)
RX_MAX_FRAMES = 3000
"""Received frames kept when nobody reads them (60 s); beyond, frames are dropped and counted."""


def _vector_bytes_slow(vec: pj.ByteVector) -> bytes:
    return bytes(vec)


def _vector_bytes_fast(vec: pj.ByteVector) -> bytes:
    # A SWIG std::vector<unsigned char>: read [begin, end) straight from memory.
    addr = int(vec.this)
    begin = ctypes.c_void_p.from_address(addr).value or 0
    end = ctypes.c_void_p.from_address(addr + ctypes.sizeof(ctypes.c_void_p)).value or 0
    return ctypes.string_at(begin, end - begin) if end > begin else b""


def _pick_vector_bytes() -> Callable[[pj.ByteVector], bytes]:
    """Use the O(1) reader when it provably matches the element-wise copy here."""
    probe = bytes(range(256)) * 3
    try:
        if _vector_bytes_fast(pj.ByteVector(probe)) == probe:
            return _vector_bytes_fast
    except Exception:  # pragma: no cover - depends on the wheel's layout
        pass
    log.warning("fast frame copy unavailable; using the slow element-wise copy")
    return _vector_bytes_slow


vector_bytes = _pick_vector_bytes()


class CallMediaPort(pj.AudioMediaPort):
    """Moves one call's frames between pjmedia and Python.

    ``rx`` receives raw 640-byte frames (int16 LE, 16 kHz); ``playout`` is
    drained one frame per tick.  ``rx_tap`` / ``tx_tap`` (optional deques)
    get a copy of each frame for the call recorder.
    """

    def __init__(self, name: str, playout: PlayoutBuffer, rx: queue.SimpleQueue[bytes | None]) -> None:
        super().__init__()
        self.attach(playout, rx)
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, SAMPLE_RATE, 1, FRAME_MS * 1000, 16)
        self.createPort(name, fmt)

    def attach(self, playout: PlayoutBuffer, rx: queue.SimpleQueue[bytes | None],
               gate: BargeInGate | None = None) -> None:
        """Serve a new call.  Only while the port is connected to no call.

        Ports are reused rather than destroyed between calls: destroying one
        while the media clock may be about to call it is a use after free.
        """
        self.rx = rx
        self.playout = playout
        self.counters = Counters()
        self.gate = gate
        self.rx_tap: collections.deque[bytes] | None = None
        self.tx_tap: collections.deque[bytes] | None = None
        self.last_tx_time = 0.0
        self.max_tx_gap_secs = 0.0

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        """Real time (pj clock thread): copy the frame into the input queue and return."""
        try:
            if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
                return
            data = vector_bytes(frame.buf)
            if len(data) != FRAME_BYTES or self.rx.qsize() >= RX_MAX_FRAMES:
                self.counters.rx_dropped += 1
                return
            self.rx.put(data)
            gate = self.gate
            if gate is not None and gate.feed(np.frombuffer(data, dtype=np.int16)):
                gate.dropped_frames = self.playout.clear()  # barge-in: the caller talks over the agent
            if self.rx_tap is not None:
                self.rx_tap.append(data)
            self.counters.rx_frames += 1
        except Exception:  # never let an exception cross into C++
            self.counters.rx_dropped += 1

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        """Real time (pj clock thread): hand out the next playout frame or silence."""
        try:
            BOOSTER.check()
            data = self.playout.pop()
            if data is None:
                data = SILENCE
                self.counters.tx_silent += 1
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            frame.buf = pj.ByteVector(data)
            frame.size = FRAME_BYTES
            if self.tx_tap is not None:
                self.tx_tap.append(data)
            self.counters.tx_frames += 1
            now = time.monotonic()
            if self.last_tx_time and now - self.last_tx_time > self.max_tx_gap_secs:
                self.max_tx_gap_secs = now - self.last_tx_time
            self.last_tx_time = now
        except Exception:
            self.counters.extra["tx_errors"] = self.counters.extra.get("tx_errors", 0) + 1
