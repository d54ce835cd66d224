"""End of turn from the sound of the caller's voice: Smart Turn v3.2 (a small ONNX network).

The model (Daily's Smart Turn v3.2, BSD-2-Clause; a Whisper-tiny encoder with
a classifier, int8) hears the last 8 s of a turn at 16 kHz and scores how
likely the speaker is done: the pitch, pace and drawl of an unfinished
phrase ("And so, my fellow...") against the fall of a finished one.  It is
unpacked from the ``pipecat-ai`` wheel by ``scripts/get-models`` (the file
only: the package is never installed or imported; see models/README.md).

Its input is Whisper's log-mel spectrogram of exactly 8 s (80 bands, 10 ms
hops, 800 frames) of audio normalised to zero mean and unit variance, the
turn left-padded with silence when shorter.  Those features are computed
here with numpy (the same mel filters as faster-whisper's); one check costs
~40 ms on one thread, in onnxruntime, which releases the GIL.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import ModelError
from agent.frames import SAMPLE_RATE
from agent.models import GET_MODELS_FIX, check_file, check_pinned, model_path

__all__ = ["SmartTurn", "smart_turn_model_path", "turn_features"]

SECONDS = 8
N_FFT = 400
HOP = 160
N_MELS = 80
FRAMES = SECONDS * SAMPLE_RATE // HOP
MODEL_FIX = f"{GET_MODELS_FIX}, give --turn-model a Smart Turn v3 .onnx file, or use --end-of-turn silence"


@functools.lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    from faster_whisper.feature_extractor import FeatureExtractor

    return FeatureExtractor.get_mel_filters(SAMPLE_RATE, N_FFT, n_mels=N_MELS).astype(np.float32)


_WINDOW = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann


def turn_features(samples: np.ndarray) -> np.ndarray:
    """The model's input for the turn ``samples`` (int16 or float, 16 kHz): shape (1, 80, 800), float32."""
    raw = np.asarray(samples).reshape(-1)
    audio = raw.astype(np.float32) / 32768.0 if raw.dtype.kind in "iu" else raw.astype(np.float32)
    length = SECONDS * SAMPLE_RATE
    audio = audio[-length:]
    if audio.size < length:
        audio = np.concatenate((np.zeros(length - audio.size, dtype=np.float32), audio))
    audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    padded = np.pad(audio, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=-1)) ** 2  # (801, 201)
    mel = _mel_filters() @ power[:-1].T.astype(np.float32)  # (80, 800): the last frame is dropped
    log_mel = np.log10(np.maximum(mel, 1e-10))
    log_mel = np.maximum(log_mel, log_mel.max() - 8.0)
    return ((log_mel + 4.0) / 4.0)[np.newaxis].astype(np.float32)


def smart_turn_model_path(path: str | Path | None = None) -> Path:
    """The Smart Turn model file: ``path`` (``--turn-model``) or the default under models/, checked."""
    if path:
        return check_file(path, "end-of-turn model", MODEL_FIX)
    file = check_file(model_path("smart-turn"), "end-of-turn model Smart Turn v3.2", MODEL_FIX)
    check_pinned(file, "end-of-turn model Smart Turn v3.2", GET_MODELS_FIX)
    return file


@functools.lru_cache(maxsize=2)
def _session(path: str) -> Any:
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1  # the model stages have the cores; a check waits ~40 ms
    opts.enable_cpu_mem_arena = False
    opts.log_severity_level = 4
    try:
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)
    except Exception as exc:  # onnxruntime raises its own types for a file that is not a model
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"end-of-turn model cannot be loaded: {path}: {reason[:160]} ({MODEL_FIX})") from None
    inputs = {i.name: i.shape for i in session.get_inputs()}
    if list(inputs) != ["input_features"] or list(inputs["input_features"])[1:] != [N_MELS, FRAMES]:
        raise ModelError(f"end-of-turn model is not a Smart Turn v3 model: {path} (its inputs are {inputs}; "
                         f"{MODEL_FIX})")
    return session


_load_lock = threading.Lock()


class SmartTurn:
    """Scores whether a turn is finished from its audio (see the module docstring).

    One ONNX session serves every call of the process (``run`` is thread-safe).
    """

    def __init__(self, model: str | Path | None = None) -> None:
        self.path = smart_turn_model_path(model)
        with _load_lock:
            self._session = _session(str(self.path))
        self.checks = 0

    def probability(self, samples: np.ndarray) -> float:
        """How likely the speaker of ``samples`` (the turn so far, 16 kHz) is done: 0..1."""
        out = self._session.run(None, {"input_features": turn_features(samples)})
        self.checks += 1
        return float(np.asarray(out[0]).reshape(-1)[0])

    def __repr__(self) -> str:
        return f"SmartTurn({self.path.name})"
