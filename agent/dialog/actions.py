"""What a brain can do besides talking: the call actions of a reply.

A brain's ``reply`` yields text deltas and, among them, these records.  The
dialog stage passes them to the conductor; the turn machine keeps them with
the reply and carries them out once the caller has heard the reply (a reply
the caller talked over loses its actions).  Every action is written to the
call's transcript (role ``action``) and to its turn's timeline record.

    Transfer(target)     blind transfer (SIP REFER) to ``target``; the agent's
                         leg ends once the transfer succeeded, else the agent
                         says so and the call goes on
    SendDigits(digits)   send DTMF (RFC 4733 telephone events)
    HangUp(reason)       end the call
    LookUp(topic, facts) the facts a reply was grounded in (recorded only)
    Decision(by, kind)   the reply was decided by a rule, or cut short by the
                         grounding guard (recorded and counted only)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CALL_ACTIONS", "RECORDED_ONLY", "CallAction", "Decision", "HangUp", "LookUp", "SendDigits", "Transfer",
           "action_record", "check_digits", "describe"]

DIGITS = re.compile(r"^[0-9*#A-Da-d]+$")


def check_digits(digits: str) -> str:
    """``digits`` if they are DTMF digits (0-9, *, #, A-D), else ValueError."""
    if not DIGITS.match(digits):
        raise ValueError(f"not DTMF digits: {digits!r} (0-9, *, #, A-D)")
    return digits.upper()


@dataclass(frozen=True)
class Transfer:
    """Put the caller through to ``target`` (a SIP URI); ``who`` names them in the logs."""

    target: str
    who: str = ""


@dataclass(frozen=True)
class SendDigits:
    """Send ``digits`` as DTMF telephone events."""

    digits: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "digits", check_digits(self.digits))


@dataclass(frozen=True)
class HangUp:
    """End the call once the reply is heard."""

    reason: str = "agent hung up"


@dataclass(frozen=True)
class LookUp:
    """The reply was grounded in these facts of ``topic`` (nothing to carry out)."""

    topic: str
    facts: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Decision:
    """Who decided the reply, when not the model alone (nothing to carry out).

    ``by`` is "rule" (``kind``: "person", "clock", "ask back", "not in the facts", ...) or "guard" (``kind``:
    the claim it stopped, "number", "day" or "name"); ``detail`` says what was heard or said.
    """

    by: str
    kind: str
    detail: str = ""


RECORDED_ONLY = (LookUp, Decision)
"""Actions that are written down, never carried out."""
CallAction = Transfer | SendDigits | HangUp | LookUp | Decision
CALL_ACTIONS = (Transfer, SendDigits, HangUp, LookUp, Decision)

_NAMES = {Transfer: "transfer", SendDigits: "send_digits", HangUp: "hang_up", LookUp: "look_up", Decision: "decision"}


def action_record(action: CallAction, **extra: Any) -> dict[str, Any]:
    """The action as a transcript/timeline record: ``{"action": "transfer", "target": ...}`` (no empty fields)."""
    fields = {key: list(value) if isinstance(value, tuple) else value for key, value in action.__dict__.items()
              if value != ""}
    return {"action": _NAMES[type(action)], **fields, **extra}


def describe(action: CallAction) -> str:
    """The action in a few words, for the log."""
    match action:
        case Transfer():
            return f"transfer to {action.target}" + (f" ({action.who})" if action.who else "")
        case SendDigits():
            return f"DTMF {action.digits}"
        case HangUp():
            return f"hang-up ({action.reason})"
        case LookUp():
            return f"facts of {action.topic}"
        case Decision():
            return f"{action.by}: {action.kind}" + (f" ({action.detail})" if action.detail else "")
