"""Small typed frames: everything one stage of a call passes to another.

Data flows one way: caller audio -> turn (VAD, endpointing, barge-in) -> STT
-> conductor -> dialog -> TTS -> playout.  Control frames (:class:`Hangup`,
:class:`StageFailed`) jump the queue; an interrupt (the conductor's answer to
:class:`LongSpeech` while the agent talks) flushes what is downstream and
comes back as a :class:`~agent.turn.actions.PlayoutCleared`.  Every frame is
frozen and stamped with the monotonic time it was created (``t``,
keyword-only, defaulting to ``time.monotonic()``); caller audio is stamped in
the media port's receive callback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "SAMPLE_RATE",
    "FRAME_SAMPLES",
    "FRAME_MS",
    "Frame",
    "AudioChunk",
    "SpeechStarted",
    "CallerSpeech",
    "SpeechActivity",
    "SpeechOnset",
    "LongSpeech",
    "SpeechPause",
    "SpeechEnded",
    "Transcript",
    "SpeechPaused",
    "FinalTranscript",
    "ReplyRequest",
    "TextDelta",
    "TextChunk",
    "ReplyGenerated",
    "SpeechChunk",
    "SpokenPhrase",
    "SynthesisDone",
    "PlayoutProgress",
    "DtmfEvent",
    "Hangup",
    "InputEnded",
    "StageFailed",
    "Counters",
]

SAMPLE_RATE = 16000
"""The rate of every audio frame inside the agent (Hz)."""
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
"""Samples in one 20 ms frame at :data:`SAMPLE_RATE` (320)."""


@dataclass(frozen=True, kw_only=True)
class Frame:
    """Base of every frame: ``t`` is the monotonic time it was created."""

    t: float = field(default_factory=time.monotonic)


# -- caller audio and what the turn stage makes of it -------------------------


@dataclass(frozen=True)
class AudioChunk(Frame):
    """Mono int16 audio with its rate; ``t`` is when it was captured."""

    samples: np.ndarray
    rate: int = SAMPLE_RATE

    @property
    def duration_secs(self) -> float:
        return len(self.samples) / self.rate


@dataclass(frozen=True)
class SpeechStarted(Frame):
    """The caller began a run of speech at ``t_start_of_speech``; ``pre_roll`` is the audio from just before."""

    t_start_of_speech: float
    pre_roll: np.ndarray


@dataclass(frozen=True)
class CallerSpeech(Frame):
    """One frame of audio inside the caller's turn (between start and end of speech)."""

    samples: np.ndarray
    speech: bool = True
    """The VAD heard speech in it (else it is a pause between words)."""


@dataclass(frozen=True)
class SpeechOnset(Frame):
    """The caller's sound began (one VAD frame, not yet long enough to count as speech)."""


@dataclass(frozen=True)
class SpeechActivity(Frame):
    """The caller is speaking: ``speech_ms`` of speech so far in this turn."""

    speech_ms: int
    t_start_of_speech: float = 0.0


@dataclass(frozen=True)
class LongSpeech(Frame):
    """The caller's current run of speech reached the barge-in threshold (``speech_ms``)."""

    speech_ms: int


@dataclass(frozen=True)
class SpeechPause(Frame):
    """Silence for the pause time in the middle of a turn (the STT stage adds the words so far)."""

    t_end_of_speech: float


@dataclass(frozen=True)
class SpeechEnded(Frame):
    """The endpoint fired: the caller stopped at ``t_end_of_speech``; decided at ``t_endpoint``."""

    t_end_of_speech: float
    t_endpoint: float


# -- what the recogniser makes of it ------------------------------------------


@dataclass(frozen=True)
class Transcript(Frame):
    """A partial or final recognition result.

    ``confidence`` (0..1): how sure the recogniser is of its least certain stretch of
    the text (Whisper: the mean token probability); 1.0 from recognisers that do not say.
    ``unsure``: the words of the text it was unsure of (lower case; none from recognisers that do not say).
    """

    text: str
    final: bool
    confidence: float = 1.0
    unsure: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpeechPaused(Frame):
    """The caller paused mid-turn; ``text`` is the latest partial (enough to start on a reply)."""

    text: str
    t_end_of_speech: float
    confidence: float = 1.0
    unsure: tuple[str, ...] = ()


@dataclass(frozen=True)
class FinalTranscript(Frame):
    """The text of one caller turn; ``t`` is when the final text was ready."""

    text: str
    t_end_of_speech: float
    t_endpoint: float
    confidence: float = 1.0
    whole: str = ""
    """When the caller went on before hearing the reply to their last words: those words and these, decoded
    again as one piece (more accurate than the two pieces apart); else empty."""
    unsure: tuple[str, ...] = ()
    """The words of ``text`` the recogniser was unsure of (see :class:`Transcript`)."""

    @property
    def t_ready(self) -> float:
        return self.t


# -- the agent's reply --------------------------------------------------------


@dataclass(frozen=True)
class ReplyRequest(Frame):
    """Ask the dialog stage for reply ``reply`` to ``text`` (``history`` excludes ``text``).

    Setting ``cancel`` stops the reply within one delta.  ``prepare``: no reply,
    only get ready for the next turn (e.g. evaluate the prompt prefix).
    """

    reply: int
    text: str
    history: tuple[Any, ...]
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    prepare: bool = False
    unsure: tuple[str, ...] = ()
    """The words of ``text`` the recogniser was unsure of."""


@dataclass(frozen=True)
class TextDelta(Frame):
    """A piece of reply ``reply`` as the brain produces it."""

    reply: int
    text: str


@dataclass(frozen=True)
class TextChunk(Frame):
    """A speakable chunk of reply ``reply`` (from the chunker), number ``index``."""

    reply: int
    index: int
    text: str


@dataclass(frozen=True)
class ReplyGenerated(Frame):
    """The brain finished reply ``reply`` (``text`` is all it said; ``chunks`` were sent)."""

    reply: int
    text: str
    chunks: int


@dataclass(frozen=True)
class ActionRequested(Frame):
    """Reply ``reply`` asks for a call action (:mod:`agent.dialog.actions`), to carry out once it is heard."""

    reply: int
    action: Any


@dataclass(frozen=True)
class SpeechChunk(Frame):
    """Synthesised audio (16 kHz) for chunk ``index`` of reply ``reply``."""

    text: str
    audio: AudioChunk
    reply: int = 0
    index: int = 0


@dataclass(frozen=True)
class SpokenPhrase(Frame):
    """A fixed phrase (the greeting, a failed transfer's apology) that is the whole of reply ``reply``.

    The TTS stage speaks it as one chunk, from its engine's cache of fixed phrases, then ends the reply.
    """

    reply: int
    text: str


@dataclass(frozen=True)
class SynthesisDone(Frame):
    """Every chunk of reply ``reply`` has been synthesised (``chunks`` of them)."""

    reply: int
    chunks: int


@dataclass(frozen=True)
class PlayoutProgress(Frame):
    """An item of audio started, finished or was cut: ``played`` of its ``total`` frames went out.

    ``t_first_out`` is when its first frame went to the caller (0.0 if none did).
    """

    tag: Hashable
    played: int
    total: int
    t_first_out: float = 0.0

    @property
    def done(self) -> bool:
        return self.played >= self.total

    @property
    def heard_fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.played / self.total)


# -- control ------------------------------------------------------------------


@dataclass(frozen=True)
class DtmfEvent(Frame):
    digit: str


@dataclass(frozen=True)
class Hangup(Frame):
    """The call is over (either side hung up)."""

    reason: str = ""


@dataclass(frozen=True)
class InputEnded(Frame):
    """The caller's audio is over (the call ended): the turn stage has passed on all it heard, words cut off by
    the hang-up too, and the STT stage has decoded them (it forwards this frame after them)."""


@dataclass(frozen=True)
class ActionResult(Frame):
    """How a call action the SIP side carried out ended: ``ok``, and the SIP status in ``detail``."""

    action: Any
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class StageFailed(Frame):
    """A stage of one call stopped on an unexpected error (logged with its traceback)."""

    stage: str
    reason: str


@dataclass
class Counters:
    """Per-call media counters, written only by the media clock thread."""

    rx_frames: int = 0
    tx_frames: int = 0
    tx_silent: int = 0
    rx_dropped: int = 0
    callback_errors: int = 0
    tx_gaps: int = 0
    """Outgoing frames handed out more than 40 ms after the one before (the clock fell behind)."""
    rx_no_audio: int = 0
    """Received callbacks without audio (pjmedia's NONE frames: nothing was sent to the port that tick)."""
