"""Voice-activity detection with Silero VAD v6 (a small ONNX network) on 20 ms frames.

The model ships with faster-whisper (``faster_whisper/assets/silero_vad_v6.onnx``,
MIT).  It scores 32 ms windows (512 samples at 16 kHz, with the 64 samples
before them as context) and carries an LSTM state from one window to the
next.  Unlike an energy detector it tells speech from line noise, hum,
clicks and breath at any level, so neither endpointing nor barge-in fires
on them.

:class:`SileroVad` has :class:`~agent.turn.vad.Vad`'s interface (one call per
20 ms frame): it buffers frames, scores each complete window (~0.15 ms in
onnxruntime, which releases the GIL; one thread) and answers with
hysteresis: speech from a window scoring ``threshold`` until one scores
under ``release``.  Frames quieter than ``floor_db`` are silence without
running the network.  One ONNX session serves every call of the process
(``run`` is thread-safe); each call has its own state.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import ConfigError
from agent.models import package_dir
from agent.turn.vad import frame_level_dbfs

__all__ = ["SileroVad", "silero_model_path"]

WINDOW = 512
CONTEXT = 64
_STATE_SHAPE = (1, 1, 128)


def silero_model_path() -> Path:
    """The Silero VAD model faster-whisper ships (ConfigError if it is not installed)."""
    directory = package_dir("faster_whisper")
    path = directory / "assets" / "silero_vad_v6.onnx" if directory else None
    if path is None or not path.is_file():
        raise ConfigError("the silero VAD needs faster-whisper's silero_vad_v6.onnx (run scripts/setup), "
                          "or use --vad energy")
    return path


@functools.lru_cache(maxsize=2)
def _session(path: str) -> Any:
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1  # a 0.15 ms inference: more threads would only spin
    opts.enable_cpu_mem_arena = False
    opts.log_severity_level = 4
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


_load_lock = threading.Lock()


class SileroVad:
    """Silero VAD v6 with hysteresis (see the module docstring)."""

    def __init__(self, threshold: float = 0.5, release: float = 0.35, floor_db: float = -60.0,
                 model: Path | None = None) -> None:
        if not 0.0 < release <= threshold < 1.0:
            raise ValueError(f"need 0 < release ({release}) <= threshold ({threshold}) < 1")
        with _load_lock:
            self._session = _session(str(model or silero_model_path()))
        self.threshold = threshold
        self.release = release
        self.floor_db = floor_db
        self.windows = 0
        """Windows the network scored (the rest were under ``floor_db``)."""
        self.reset()

    def reset(self) -> None:
        """Forget the state (e.g. at the start of a new call)."""
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._speaking = False
        self.last_prob = 0.0

    def is_speech(self, frame: np.ndarray) -> bool:
        """Feed one frame (int16, 16 kHz); is the caller speaking now?"""
        samples = np.asarray(frame, dtype=np.float32) / 32768.0
        self._pending = np.concatenate((self._pending, samples))
        while len(self._pending) >= WINDOW:
            window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
            self._score(window)
        return self._speaking

    def _score(self, window: np.ndarray) -> None:
        if frame_level_dbfs(window * 32768.0) < self.floor_db:
            prob = 0.0
        else:
            batch = np.concatenate((self._context, window))[np.newaxis, :]
            out, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
            prob = float(np.asarray(out).reshape(-1)[0])
            self.windows += 1
        self._context = window[-CONTEXT:]
        self.last_prob = prob
        if prob >= self.threshold:
            self._speaking = True
        elif prob < self.release:
            self._speaking = False

    def __repr__(self) -> str:
        return f"SileroVad(threshold={self.threshold}, release={self.release}, floor_db={self.floor_db})"
