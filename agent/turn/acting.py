"""The turn machine's call actions and keyed digits (pure; mixed into :class:`~agent.turn.machine.TurnMachine`).

A reply's call actions (:mod:`agent.dialog.actions`) are carried out once the
caller has heard all of it, and recorded in the transcript whether carried
out, dropped (the caller talked over the reply) or how they ended.  A
transfer puts the machine in ``transferring`` until its outcome: success
ends the agent's leg, failure is said and the call goes on.  Digits the
caller keys become a turn at ``#`` or ``digits_secs`` after the last one;
``#`` alone ends the call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from agent.dialog.actions import RECORDED_ONLY, HangUp, Transfer, action_record, describe
from agent.dialog.base import Message
from agent.frames import ActionResult, DtmfEvent, FinalTranscript
from agent.turn.actions import Action, CarryOut, EndCall, WriteAction
from agent.turn.reply import Reply
from agent.turn.state import IDLE, TRANSFER_FAILED, State

if TYPE_CHECKING:
    from agent.turn.machine import TurnConfig

__all__ = ["Acting"]

log = logging.getLogger(__name__)


class Acting:
    """Call actions and digits for the turn machine, which provides the attributes and methods below."""

    cfg: TurnConfig
    clock: Callable[[], float]
    state: State
    _ended: bool
    _speech_start: float
    _digits: str
    _digits_done: bool
    _t_digit: float
    history: list[Message]

    def greet(self, text: str) -> list[Action]:  # pragma: no cover - the machine's
        raise NotImplementedError

    def _final(self, frame: FinalTranscript) -> list[Action]:  # pragma: no cover - the machine's
        raise NotImplementedError

    def _carry_out(self, reply: Reply, interrupted: bool) -> list[Action]:
        """The reply is over: its call actions, carried out (heard) or dropped (talked over)."""
        out: list[Action] = []
        for action in reply.actions:
            record = action_record(action)
            if isinstance(action, RECORDED_ONLY):
                out.append(WriteAction(record, self.clock()))
                continue
            if interrupted:
                log.info("%s: %s not carried out: the caller spoke over the reply", self.cfg.name, describe(action))
                out.append(WriteAction({**record, "result": "dropped: the caller spoke over the reply"}, self.clock()))
                continue
            log.info("%s: carrying out the reply's %s", self.cfg.name, describe(action))
            out += [WriteAction({**record, "result": "requested"}, self.clock()), CarryOut(action)]
            if isinstance(action, Transfer):
                self.state = State.TRANSFERRING
            elif isinstance(action, HangUp):
                self.state = State.GOODBYE
        return out

    def _action_done(self, frame: ActionResult) -> list[Action]:
        record = action_record(frame.action, result=frame.detail, ok=frame.ok)
        out: list[Action] = [WriteAction(record, self.clock())]
        if not isinstance(frame.action, Transfer) or self.state is not State.TRANSFERRING:
            return out
        if frame.ok:
            log.info("%s: transferred to %s (%s)", self.cfg.name, frame.action.target, frame.detail)
            self.state = State.GOODBYE
            return [*out, EndCall(f"transferred to {frame.action.target}")]
        log.warning("%s: transfer to %s failed: %s; the call goes on", self.cfg.name, frame.action.target,
                    frame.detail)
        self.state = State.LISTENING
        return out + self.greet(TRANSFER_FAILED)

    def _digit(self, frame: DtmfEvent) -> list[Action]:
        if frame.digit != "#":
            self._digits, self._t_digit = self._digits + frame.digit, frame.t
            return []
        if self._digits:
            self._digits_done = True
            return self.tick()
        asked = next((m.text for m in reversed(self.history) if m.role == "assistant"), "")
        if "press hash" in asked.lower():  # "key it in and press hash": a # too early is not a goodbye
            log.info("%s: caller pressed # before any digit, while digits were asked for: ignored", self.cfg.name)
            return []
        log.info("%s: caller pressed #: hanging up", self.cfg.name)
        return [EndCall("caller pressed #")]

    def tick(self) -> list[Action]:
        """Called a few times a second: keyed digits become a turn at ``#`` or after ``digits_secs``,
        once the agent is not speaking (digits keyed over a reply wait for its end)."""
        if not self._digits or self._ended:
            return []
        if not (self._digits_done or self.clock() - self._t_digit >= self.cfg.digits_secs) or self.state not in IDLE:
            return []
        digits, t = self._digits, self._t_digit
        self._digits, self._digits_done, self._speech_start = "", False, t
        return self._final(FinalTranscript(digits, t, t))
