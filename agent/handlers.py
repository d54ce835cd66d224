"""Simple call handlers: a test tone and an echo (line checks, tests, demos)."""

from __future__ import annotations

import logging

import numpy as np

from .config import Config
from .frames import SAMPLE_RATE
from .session import CallHandler, CallSession

__all__ = ["ToneHandler", "EchoHandler", "tone", "make_handler"]

log = logging.getLogger(__name__)

TONE_LEAD_FRAMES = 25  # keep half a second of tone queued


def tone(freq_hz: float, secs: float, level_dbfs: float = -12.0, rate: int = SAMPLE_RATE,
         phase_samples: int = 0) -> np.ndarray:
    """A sine tone as int16 samples."""
    amp = 32767.0 * 10 ** (level_dbfs / 20.0)
    n = np.arange(phase_samples, phase_samples + int(secs * rate))
    return (amp * np.sin(2 * np.pi * freq_hz * n / rate)).astype(np.int16)


class ToneHandler(CallHandler):
    """Plays a continuous tone to the caller and reads (and discards) the caller's audio."""

    def __init__(self, freq_hz: float = 1000.0) -> None:
        self.freq_hz = freq_hz

    def run(self, session: CallSession) -> None:
        phase = 0
        block_secs = 0.2
        while not session.ended.is_set():
            while session.playout.pending_frames < TONE_LEAD_FRAMES:
                session.play(tone(self.freq_hz, block_secs, phase_samples=phase))
                phase += int(block_secs * SAMPLE_RATE)
            session.read_frame(timeout=0.05)  # keep the input queue drained


class EchoHandler(CallHandler):
    """Plays the caller's audio back to them (a line check)."""

    def run(self, session: CallSession) -> None:
        for frame in session.frames():
            session.play(frame)



def make_handler(cfg: Config) -> CallHandler:
    """The handler for ``--brain``: tone and echo are built in; the others converse."""
    brain = cfg.speech.brain
    if brain == "tone":
        return ToneHandler(cfg.speech.tone_hz)
    if brain == "echo":
        return EchoHandler()
    from .engines import load_engines
    from .pipeline import ConversationHandler

    return ConversationHandler(load_engines(cfg.speech), cfg.speech)
