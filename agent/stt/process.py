"""Run an STT engine in a child process, one process per stream (pooled).

PocketSphinx's Python binding holds the GIL while it decodes (a few ms per
frame, tens of ms for a final), which delays the media clock thread that
shares the GIL and leaves gaps in outgoing RTP.  In a child process the
decoding holds nobody's GIL; the parent only writes frames to a pipe and
waits on it with the GIL released.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from agent.errors import ModelError
from agent.frames import Transcript
from agent.stt.base import SttEngine, SttStream

__all__ = ["ProcessSttEngine"]

log = logging.getLogger(__name__)

FINISH_TIMEOUT_SECS = 10.0
START_TIMEOUT_SECS = 60.0
_AUDIO, _FINISH, _RESET, _QUIT = b"A", b"F", b"R", b"Q"


def _serve(conn: Connection, name: str, model: str | None) -> None:
    """The child: load the engine, then decode what the pipe brings.

    It keeps normal priority: the final transcript is on the critical path, and
    the LLM and TTS threads (lowered) may be busy on a speculative reply.
    """
    from agent.stt.base import create_stt

    try:
        stream = create_stt(name, model, in_process=True).new_stream()
    except Exception as exc:  # reported to the parent as one line
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", ""))
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        kind, payload = data[:1], data[1:]
        if kind == _AUDIO:
            partial = stream.accept(np.frombuffer(payload, dtype=np.int16))
            if partial is not None:
                conn.send(("partial", partial.text))
        elif kind == _FINISH:
            conn.send(("final", stream.finish().text))
        elif kind == _RESET:
            stream.reset()
        elif kind == _QUIT:
            stream.close()
            return


class _Worker:
    def __init__(self, name: str, model: str | None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, name, model), name=f"stt-{name}", daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(START_TIMEOUT_SECS):
            self.stop()
            raise ModelError(f"the {name} recogniser did not start within {START_TIMEOUT_SECS:.0f} s")
        kind, text = self.conn.recv()
        if kind == "error":
            self.stop()
            raise ModelError(text)

    def stop(self) -> None:
        try:
            self.conn.send_bytes(_QUIT)
        except (OSError, ValueError):
            pass
        self.proc.join(2.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(1.0)
        self.conn.close()


class _ProcessStream(SttStream):
    def __init__(self, engine: ProcessSttEngine, worker: _Worker) -> None:
        self._engine = engine
        self._worker: _Worker | None = worker

    def _conn(self) -> Connection:
        if self._worker is None:
            raise RuntimeError("the STT stream is closed")
        return self._worker.conn

    def accept(self, samples: np.ndarray, speech: bool = True) -> Transcript | None:
        conn = self._conn()
        conn.send_bytes(_AUDIO + np.ascontiguousarray(samples, dtype=np.int16).tobytes())
        latest: Transcript | None = None
        while conn.poll():
            kind, text = conn.recv()
            if kind == "partial":
                latest = Transcript(text, final=False, t=time.monotonic())
        return latest

    def finish(self) -> Transcript:
        conn = self._conn()
        conn.send_bytes(_FINISH)
        deadline = time.monotonic() + FINISH_TIMEOUT_SECS
        while conn.poll(max(0.0, deadline - time.monotonic())):
            kind, text = conn.recv()
            if kind == "final":
                return Transcript(text, final=True, t=time.monotonic())
        raise RuntimeError("the recogniser process did not answer")

    def reset(self) -> None:
        self._conn().send_bytes(_RESET)

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            self._engine._release(worker)


class ProcessSttEngine(SttEngine):
    """``create_stt(name, model)`` in child processes, one per concurrent stream."""

    def __init__(self, name: str, model: str | None = None) -> None:
        self.engine_name = name
        self._model = model
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self.prewarm(1)  # fails here, with the engine's own message, if the model is bad

    def prewarm(self, n_workers: int) -> None:
        with self._lock:
            missing = n_workers - len(self._idle)
        for _ in range(missing):
            worker = _Worker(self.engine_name, self._model)
            with self._lock:
                self._idle.append(worker)

    def new_stream(self) -> SttStream:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        return _ProcessStream(self, worker or _Worker(self.engine_name, self._model))

    def _release(self, worker: _Worker) -> None:
        try:
            worker.conn.send_bytes(_RESET)
        except (OSError, ValueError):
            worker.stop()
            return
        with self._lock:
            self._idle.append(worker)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    def __repr__(self) -> str:
        return f"ProcessSttEngine({self.engine_name!r})"

    def __getstate__(self) -> Any:  # pragma: no cover - never pickled
        raise TypeError("ProcessSttEngine cannot be pickled")
