"""What the turn state machine asks the conductor to do, and the one frame it gets back.

Actions are plain frozen records: the machine stays pure, the conductor
carries them out (starting a reply, queueing audio, stopping it, writing the
call's records, ending the call).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.frames import Frame, PlayoutProgress, SpeechChunk

__all__ = [
    "Action", "CancelReply", "CarryOut", "EndCall", "Greet", "HoldPlayout", "Play", "PlayoutCleared", "Prepare",
    "ResumePlayout", "StartReply", "Interrupt", "WriteAction", "WriteTimeline", "WriteTranscript",
]


@dataclass(frozen=True)
class StartReply:
    """Generate reply ``reply`` to ``text`` (``history`` excludes ``text``)."""

    reply: int
    text: str
    history: tuple[Any, ...]
    unsure: tuple[str, ...] = ()
    """The words of ``text`` the recogniser was unsure of."""


@dataclass(frozen=True)
class Greet:
    """Say the greeting ``text`` as reply ``reply``."""

    reply: int
    text: str


@dataclass(frozen=True)
class CancelReply:
    """Drop reply ``reply`` nobody heard: stop its generation and synthesis."""

    reply: int


@dataclass(frozen=True)
class Play:
    """Queue one synthesised chunk for the caller."""

    reply: int
    chunk: SpeechChunk


@dataclass(frozen=True)
class HoldPlayout:
    """The caller made a sound over reply ``reply``: send silence, keep its audio queued."""

    reply: int


@dataclass(frozen=True)
class ResumePlayout:
    """It was only a backchannel or a noise: go on playing reply ``reply`` where it stopped."""

    reply: int


@dataclass(frozen=True)
class Interrupt:
    """Stop reply ``reply`` now (barge-in after ``speech_ms``, or 0 at hang-up): flush everything
    downstream, then feed back a :class:`PlayoutCleared`."""

    reply: int
    speech_ms: int


@dataclass(frozen=True)
class Prepare:
    """The line is quiet: let the brain get ready for the next turn with ``history``."""

    history: tuple[Any, ...]


@dataclass(frozen=True)
class EndCall:
    reason: str


@dataclass(frozen=True)
class WriteTranscript:
    role: str
    text: str
    t_start: float
    t_end: float
    interrupted: bool
    unsure: tuple[str, ...] = ()
    """The caller's words the recogniser was unsure of (recorded for tuning what is asked back)."""


@dataclass(frozen=True)
class CarryOut:
    """Carry out a call action (:mod:`agent.dialog.actions`) the caller has heard announced."""

    action: Any


@dataclass(frozen=True)
class WriteAction:
    """Write a call action (its record, with ``t``) to the call's transcript."""

    record: dict[str, Any]
    t: float


@dataclass(frozen=True)
class WriteTimeline:
    record: dict[str, Any]


Action = (StartReply | Greet | CancelReply | Play | HoldPlayout | ResumePlayout | Interrupt | Prepare | EndCall
          | CarryOut | WriteAction | WriteTranscript | WriteTimeline)


@dataclass(frozen=True)
class PlayoutCleared(Frame):
    """Reply ``reply``'s audio was stopped: how much of each of its items went out."""

    reply: int
    progress: tuple[PlayoutProgress, ...]
    speech_ms: int = 0
    dropped_frames: int = 0
