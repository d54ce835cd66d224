"""Voice-activity detection with Silero VAD v6.2 (a small ONNX network) on 20 ms frames.

The model is Silero's own ``silero_vad.onnx`` (MIT), unpacked from the
authors' ``silero-vad`` wheel by ``scripts/get-models`` and pinned in
``models/SHA256SUMS``.  It scores 32 ms windows (512 samples at 16 kHz, with
the 64 samples before them as context) and carries a recurrent state from one
window to the next.  Unlike an energy detector it tells speech from line
noise, hum, clicks and breath at any level, so neither endpointing nor
barge-in fires on them.

It hears narrow-band speech too: the copy faster-whisper ships
(``silero_vad_v6.onnx``, a 16 kHz-only export) scored digits read over PCMU
at 0.1-0.4 where this one scores 0.9-1.0, so a number read in groups lost
most of its groups before the recogniser ever got them.  Both exports' input
layouts are read (``model=`` may name either).

:class:`SileroVad` has :class:`~agent.turn.vad.Vad`'s interface (one call per
20 ms frame): it buffers frames, scores each complete window (~0.2 ms in
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

from agent.models import GET_MODELS_FIX, check_file, check_pinned, model_path
from agent.turn.vad import frame_level_dbfs

__all__ = ["SileroVad", "silero_model_path"]

WINDOW = 512
CONTEXT = 64
_STATE_SHAPE = (2, 1, 128)
"""The recurrent state of Silero's own export (``state``); faster-whisper's splits it in ``h`` and ``c``."""
_SAMPLE_RATE = np.array(16000, dtype=np.int64)


@functools.lru_cache(maxsize=1)
def silero_model_path() -> Path:
    """The Silero VAD model under models/ (a ModelError naming the fix if it is missing or altered)."""
    fix = f"{GET_MODELS_FIX}, or use --vad energy"
    file = check_file(model_path("silero-vad"), "VAD model Silero v6.2", fix)
    check_pinned(file, "VAD model Silero v6.2", GET_MODELS_FIX)
    return file


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
        self._split_state = "h" in {i.name for i in self._session.get_inputs()}
        self.threshold = threshold
        self.release = release
        self.floor_db = floor_db
        self.windows = 0
        """Windows the network scored (the rest were under ``floor_db``)."""
        self.reset()

    def reset(self) -> None:
        """Forget the state (e.g. at the start of a new call)."""
        self._state = np.zeros(_STATE_SHAPE, dtype=np.float32)
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
            if self._split_state:
                h, c = self._state[:1], self._state[1:]
                out, h, c = self._session.run(None, {"input": batch, "h": h, "c": c})
                self._state = np.concatenate((h, c))
            else:
                out, self._state = self._session.run(None, {"input": batch, "state": self._state,
                                                            "sr": _SAMPLE_RATE})
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
