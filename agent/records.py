"""Per-call records: a stereo WAV (caller left, agent right) and JSON-lines logs.

Everything is written incrementally and flushed often, so a crash of the
agent loses at most the last moments of a call: the WAV header is rewritten
after each flush, and each JSON line is flushed as it is written.

Nothing here runs on the SIP or the media clock thread: a writer creates the
call's folder if it is not there yet, on the thread that opens it (the
recorder's own thread, or the call's), so the SIP thread only names the folder.
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
        path.parent.mkdir(parents=True, exist_ok=True)
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
    """Drains a call port's rx/tx taps into a stereo WAV every ``FLUSH_SECS``, on a thread of its own.

    The constructor only keeps the path: the thread creates the folder and
    opens the file (``started`` is set once it has tried), so whoever starts it
    never waits on the disk.  :meth:`finish` asks it to write what is left and
    close the file, and returns at once; ``stop()`` does the same and waits
    (agent shutdown).  A disk error ends the recording, not the call: the taps
    are then still drained, and their frames dropped, so they do not grow.
    """

    period_secs = FLUSH_SECS

    def __init__(self, path: Path, rx_tap: collections.deque[bytes], tx_tap: collections.deque[bytes]) -> None:
        super().__init__(f"rec-{path.parent.name}")
        self.path = path
        self.writer: StereoWavWriter | None = None
        self._rx = rx_tap
        self._tx = tx_tap

    def finish(self) -> None:
        """Ask the thread to write the last frames and close the file; does not wait (any thread)."""
        self.request_stop()

    def setup(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = StereoWavWriter(self.path)
        except OSError:
            log.exception("%s: cannot record to %s; the call goes on unrecorded", self.name, self.path)

    def tick(self) -> None:
        self._drain(final=False)

    def teardown(self) -> None:
        try:
            self._drain(final=True)
        finally:
            self._close()

    def _drain(self, final: bool) -> None:
        """Write the frames both taps have (``final``: all of them, the shorter one padded with silence)."""
        n = max(len(self._rx), len(self._tx)) if final else min(len(self._rx), len(self._tx))
        if n == 0:
            return
        left, right = _take(self._rx, n), _take(self._tx, n)
        if self.writer is None:
            return
        try:
            self.writer.write(left, right)
            self.writer.flush()
        except OSError:
            log.exception("%s: writing %s failed; the rest of the call goes unrecorded", self.name, self.path)
            self._close()

    def _close(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            try:
                writer.close()
            except OSError:
                log.exception("%s: closing %s failed", self.name, self.path)


def _take(tap: collections.deque[bytes], n: int) -> np.ndarray:
    """The next ``n`` frames of ``tap`` as samples (silence past its end), taken off it."""
    raw = b"".join([tap.popleft() for _ in range(min(n, len(tap)))])
    return np.frombuffer(raw.ljust(n * FRAME_BYTES, b"\0"), dtype=np.int16)
