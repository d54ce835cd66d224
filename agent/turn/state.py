"""The states of a call's turn-taking (see :mod:`agent.turn.machine`)."""

from __future__ import annotations

import enum

__all__ = ["IDLE", "SPECULATIVE", "TRANSFER_FAILED", "State"]


class State(enum.Enum):
    LISTENING = "listening"
    SPECULATING = "speculating"
    HELD = "held"
    THINKING = "thinking"
    SPEAKING = "speaking"
    PAUSED = "paused"
    INTERRUPTED = "interrupted"
    DISCARDED = "discarded"
    TRANSFERRING = "transferring"
    GOODBYE = "goodbye"
    ENDED = "ended"


TRANSFER_FAILED = "I'm sorry, I couldn't put you through just now. Is there anything else I can help with?"
"""Said when a transfer was refused or timed out; the call goes on."""
IDLE = (State.LISTENING, State.INTERRUPTED, State.DISCARDED)
"""States in which the caller's next words start a turn."""
SPECULATIVE = (State.SPECULATING, State.HELD)
