"""The media bridge: one pjsua2 ``AudioMediaPort`` per call, 16 kHz mono, 20 ms.

The two frame callbacks run on pjmedia's clock thread 50 times a second each.
They only copy, stamp, enqueue and count: the received frame goes into the
call's input queue as an :class:`~agent.frames.AudioChunk` stamped on arrival,
and the next outgoing frame comes from the playout buffer (silence when
empty).  An exception in a callback is counted and logged (at most once per
``ERROR_LOG_SECS``), never raised into C++.  pjmedia's conference bridge does
codec and rate conversion.

The recording taps get exactly one frame each per clock tick, so the call
recorder's two channels stay aligned.  Each tick the bridge first asks the
port for its outgoing frame (only while the port has a listener), then hands
it the received one (always: a NONE frame when nothing transmits to it).  So
the receive callback is the recording's clock: it adds the received frame to
``rx`` (silence for a frame dropped or without audio), and silence to ``tx``
when no outgoing frame was asked for since the tick before.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import queue
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pjsua2 as pj

from ..frames import FRAME_MS, SAMPLE_RATE, AudioChunk, Counters
from .playout import FRAME_BYTES, PlayoutBuffer
from .priority import BOOSTER

__all__ = ["CallMediaPort", "Taps", "vector_bytes", "SILENCE"]

log = logging.getLogger(__name__)

TX_GAP_SECS = 0.040
"""An outgoing frame this late after the one before counts as a gap (metrics)."""

SILENCE = bytes(FRAME_BYTES)
RX_MAX_FRAMES = 3000
"""Received frames kept when nobody reads them (60 s); beyond, frames are dropped and counted."""
ERROR_LOG_SECS = 10.0
"""Callback exceptions are logged at most this often per port (each one is counted)."""
RxQueue = queue.SimpleQueue[AudioChunk | None]


class Taps(NamedTuple):
    """A copy of every 20 ms frame each way, one per clock tick, for the call recorder."""

    rx: collections.deque[bytes]
    tx: collections.deque[bytes]


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

    ``rx`` receives each 20 ms frame (int16, 16 kHz) as an :class:`AudioChunk`
    (at most ``rx_max_frames`` wait there); ``playout`` is drained one frame per
    tick.  ``taps`` (see :meth:`record`) get a copy of each frame for the call
    recorder.
    """

    def __init__(self, name: str, playout: PlayoutBuffer, rx: RxQueue, *,
                 rx_max_frames: int = RX_MAX_FRAMES) -> None:
        super().__init__()
        self.rx_max_frames = rx_max_frames
        self.attach(playout, rx)
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, SAMPLE_RATE, 1, FRAME_MS * 1000, 16)
        self.createPort(name, fmt)

    def attach(self, playout: PlayoutBuffer, rx: RxQueue) -> None:
        """Serve a new call.  Only while the port is connected to no call.

        Ports are reused rather than destroyed between calls: destroying one
        while the media clock may be about to call it is a use after free.
        """
        self.rx = rx
        self.playout = playout
        self.counters = Counters()
        self._t_error_logged = 0.0
        self.taps: Taps | None = None
        self._tx_tapped = False
        """An outgoing frame went to ``taps.tx`` since the last received one."""
        self.last_tx_time = 0.0
        self.max_tx_gap_secs = 0.0

    def record(self) -> Taps:
        """Start copying frames into new taps, from the next tick on (any thread).

        One assignment: the clock thread sees both taps or neither.
        """
        taps = Taps(collections.deque(), collections.deque())
        self.taps = taps
        return taps

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        """Real time (pj clock thread): copy, stamp and enqueue the frame, count it, tap it, return."""
        data = SILENCE
        try:
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
                data = self._enqueue(vector_bytes(frame.buf))
            else:
                self.counters.rx_no_audio += 1
        except Exception:  # never let an exception cross into C++
            self.counters.rx_dropped += 1
            self._callback_failed("receive")
        taps = self.taps
        if taps is not None:  # one frame each way per tick, whatever happened
            taps.rx.append(data)
            if not self._tx_tapped:
                taps.tx.append(SILENCE)  # no frame was asked of the port this tick: nothing went out
            self._tx_tapped = False

    def _enqueue(self, data: bytes) -> bytes:
        """Queue a received frame for the call; what the recording gets (silence if dropped)."""
        if len(data) != FRAME_BYTES or self.rx.qsize() >= self.rx_max_frames:
            self.counters.rx_dropped += 1
            return SILENCE
        self.rx.put(AudioChunk(np.frombuffer(data, dtype=np.int16), t=time.monotonic()))
        self.counters.rx_frames += 1
        return data

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        """Real time (pj clock thread): hand out the next playout frame or silence, tap it, return."""
        sent = SILENCE
        try:
            BOOSTER.check()
            data = self.playout.pop()
            if data is None:
                data = SILENCE
                self.counters.tx_silent += 1
            self.counters.tx_frames += 1
            now = time.monotonic()
            if self.last_tx_time:
                gap = now - self.last_tx_time
                self.max_tx_gap_secs = max(self.max_tx_gap_secs, gap)
                self.counters.tx_gaps += gap > TX_GAP_SECS
            self.last_tx_time = now
            frame.buf = pj.ByteVector(data)
            frame.size = FRAME_BYTES
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            sent = data
        except Exception:  # never let an exception cross into C++
            self._callback_failed("send")
        taps = self.taps
        if taps is not None:
            taps.tx.append(sent)
            self._tx_tapped = True

    def _callback_failed(self, which: str) -> None:
        """Count a callback's exception; log it with its traceback, rate-limited."""
        self.counters.callback_errors += 1
        now = time.monotonic()
        if now - self._t_error_logged >= ERROR_LOG_SECS:
            self._t_error_logged = now
            log.warning("media port: %s callback failed (%d so far)", which, self.counters.callback_errors,
                        exc_info=True)
