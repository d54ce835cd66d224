"""Per-call records: a stereo WAV (caller left, agent right) and JSON-lines logs.

Everything is written incrementally and flushed often, so a crash of the
agent loses at most the last moments of a call: the WAV header is rewritten
after each flush, and each JSON line is flushed as it is written.
"""

from __future__ import annotations

import collections
import json
import logging
import struct
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

from .frames import FRAME_SAMPLES, SAMPLE_RATE
from .worker import Worker

__all__ = ["StereoWavWriter", "JsonLinesWriter", "MediaRecorder", "read_wav"]

log = logging.getLogger(__name__)

FLUSH_SECS = 0.25
FRAME_BYTES = FRAME_SAMPLES * 2


class StereoWavWriter:
    """A 16-bit stereo PCM WAV whose header is valid after every ``flush()``."""

    def __init__(self, path: Path, rate: int = SAMPLE_RATE) -> None:
        self.path = path
        self.rate = rate
        self._f: IO[bytes] = open(path, "wb")
        self._data_bytes = 0
        self._write_header()

    def _write_header(self) -> None:
        block = 4
        header = b"RIFF" + struct.pack("<I", 36 + self._data_bytes) + b"WAVE"
        header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, self.rate, self.rate * block, block, 16)
        header += b"data" + struct.pack("<I", self._data_bytes)
        self._f.seek(0)
        self._f.write(header)
        self._f.seek(0, 2)

    def write(self, left: np.ndarray, right: np.ndarray) -> None:
        frames = np.empty((len(left), 2), dtype=np.int16)
        frames[:, 0] = left
        frames[:, 1] = right
        raw = frames.tobytes()
        self._f.write(raw)
        self._data_bytes += len(raw)

    def flush(self) -> None:
        self._write_header()
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
            self._f.close()


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """Read a 16-bit PCM WAV: (rate, samples shaped (n, channels))."""
    import wave

    with wave.open(str(path), "rb") as w:
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return rate, data.reshape(-1, channels)


class JsonLinesWriter:
    """Append-only JSON lines, each flushed when written; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            if not self._f.closed:
                self._f.write(line + "\n")
                self._f.flush()

    def close(self) -> None:
        with self._lock:
            self._f.close()


class MediaRecorder(Worker):
    """Drains a call port's rx/tx taps into a stereo WAV every ``FLUSH_SECS``, on a worker thread."""

    period_secs = FLUSH_SECS

    def __init__(self, path: Path, rx_tap: collections.deque[bytes], tx_tap: collections.deque[bytes]) -> None:
        super().__init__(f"rec-{path.parent.name}")
        self.writer = StereoWavWriter(path)
        self._rx = rx_tap
        self._tx = tx_tap

    def _drain(self, final: bool) -> None:
        n = min(len(self._rx), len(self._tx))
        if final:
            n = max(len(self._rx), len(self._tx))
        if n == 0:
            return
        left = np.zeros(n * FRAME_SAMPLES, dtype=np.int16)
        right = np.zeros(n * FRAME_SAMPLES, dtype=np.int16)
        for i in range(n):
            sl = slice(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)
            if self._rx:
                left[sl] = np.frombuffer(self._rx.popleft(), dtype=np.int16)
            if self._tx:
                right[sl] = np.frombuffer(self._tx.popleft(), dtype=np.int16)
        self.writer.write(left, right)
        self.writer.flush()

    def tick(self) -> None:
        self._drain(final=False)

    def teardown(self) -> None:
        try:
            self._drain(final=True)
        finally:
            self.writer.close()
