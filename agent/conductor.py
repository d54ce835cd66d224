"""The conductor: runs one call's turn state machine and carries out its actions.

It reads the call's control inbox (speech activity, transcripts, text deltas
and chunks, synthesised speech, playout progress, DTMF, hang-up, stage
failures), feeds each frame to the pure :class:`~agent.turn.machine.TurnMachine`
and does what it answers: hand a reply request to the dialog stage (or a
fixed phrase, the greeting, to the TTS stage), queue audio for playout, stop
a reply (flush the playout and everything queued downstream, cancel
generation), write the call's records, end the call.  It never blocks on a
model, not even for the greeting: it stays free to react to a barge-in at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

from agent.dialog.actions import HangUp, SendDigits, Transfer
from agent.dialog.base import Message
from agent.dialog.capture import Capture
from agent.dialog.pacer import Pacer
from agent.frames import (
    Frame,
    PlayoutProgress,
    ReplyRequest,
    SpeechChunk,
    SpokenPhrase,
    SynthesisDone,
    Transcript,
)
from agent.metrics import METRICS
from agent.queues import FrameQueue
from agent.records import JsonLinesWriter
from agent.session import CallSession
from agent.turn.actions import (
    Action,
    CancelReply,
    CarryOut,
    EndCall,
    Greet,
    HoldPlayout,
    Interrupt,
    Play,
    PlayoutCleared,
    Prepare,
    ResumePlayout,
    StartReply,
    WriteAction,
    WriteTimeline,
    WriteTranscript,
)
from agent.turn.machine import TurnMachine

__all__ = ["Conductor"]

log = logging.getLogger(__name__)


class Conductor:
    """Carries out the actions of one call's :class:`TurnMachine` (see the module docstring)."""

    def __init__(
        self,
        session: CallSession,
        machine: TurnMachine,
        to_dialog: FrameQueue,
        to_tts: FrameQueue,
        pacer: Pacer,
        t0: float,
        captures: Callable[[Sequence[Message]], list[Capture]] | None = None,
    ) -> None:
        self.s = session
        self.machine = machine
        self.to_dialog = to_dialog
        self.to_tts = to_tts
        self.pacer = pacer
        self._t0 = t0
        self._requests: dict[int, ReplyRequest] = {}
        self._tags: list[Hashable] = []
        """Playout tags of the reply in progress (one reply at a time)."""
        self._synthesised = 0
        """The last reply whose synthesis is complete."""
        self._captures = captures
        self._committed: set[str] = set()
        self._transcript: JsonLinesWriter | None = None
        self._timeline: JsonLinesWriter | None = None
        if session.records_dir:
            folder = Path(session.records_dir)
            self._transcript = JsonLinesWriter(folder / "transcript.jsonl")
            self._timeline = JsonLinesWriter(folder / "timeline.jsonl")

    def greet(self, text: str) -> None:
        self._carry_out(self.machine.greet(text))

    def feed(self, frame: Frame) -> None:
        """One frame of the control inbox."""
        self._observe(frame)
        self._carry_out(self.machine.on_frame(frame))

    def tick(self) -> None:
        """Called when the inbox was quiet for a moment: let the machine act on time passing."""
        self._carry_out(self.machine.tick())

    def close(self) -> None:
        for request in self._requests.values():
            request.cancel.set()
        for writer in (self._transcript, self._timeline):
            if writer:
                writer.close()

    # -- what the pipeline itself learns from frames ----------------------
    def _observe(self, frame: Frame) -> None:
        if isinstance(frame, SpeechChunk):
            self.pacer.ready(frame.reply, frame.audio.duration_secs)
        elif isinstance(frame, SynthesisDone):
            self._synthesised = frame.reply
            self.pacer.release(frame.reply)
            self.s.playout.expecting = False
        elif isinstance(frame, PlayoutProgress) and isinstance(frame.tag, tuple):
            self.pacer.playing(frame.tag[0], frame.t_first_out)
        elif isinstance(frame, Transcript):
            log.debug("%s: partial %r (confidence %.2f)", self.machine.cfg.name, frame.text, frame.confidence)

    def _carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case StartReply():
                    self._start_reply(action)
                case Greet():
                    self._greet(action)
                case CancelReply():
                    self._cancel_reply(action)
                case Play():
                    self._play(action)
                case HoldPlayout():
                    self.s.playout.held = True
                case ResumePlayout():
                    self.s.playout.held = False
                case Interrupt():
                    self._interrupt(action)
                case Prepare():
                    self.to_dialog.put(ReplyRequest(0, "", action.history, prepare=True))
                    self.commit_captures(action.history)
                case EndCall():
                    self.s.hangup(action.reason)
                case CarryOut():
                    self._call_action(action)
                case WriteAction():
                    if "ok" in action.record:
                        METRICS.action(action.record["action"], "ok" if action.record["ok"] else "failed")
                    elif action.record["action"] == "decision":
                        METRICS.decision(action.record["by"], action.record["kind"])
                    self._action_done(action)
                case WriteTranscript():
                    self._write_transcript(action)
                case WriteTimeline():
                    METRICS.turn(action.record)
                    if self.s.on_turn is not None:
                        self.s.on_turn(action.record)
                    if self._timeline:
                        self._timeline.write(action.record)

    # -- actions ------------------------------------------------------------
    def _start_reply(self, action: StartReply) -> None:
        request = ReplyRequest(action.reply, action.text, action.history, unsure=action.unsure)
        self._requests = {action.reply: request}  # one reply at a time: older ones are over
        self._tags = []
        self.to_dialog.put(request)

    def _greet(self, action: Greet) -> None:
        """A fixed phrase: the TTS stage says it (from its cache) and ends the reply, as for any reply."""
        self._tags = []
        self.to_tts.put(SpokenPhrase(action.reply, action.text))

    def _cancel_reply(self, action: CancelReply) -> None:
        request = self._requests.pop(action.reply, None)
        if request is not None:
            request.cancel.set()
        self._flush(action.reply)

    def _play(self, action: Play) -> None:
        chunk = action.chunk
        tag = (action.reply, chunk.index)
        self._tags.append(tag)
        self.s.play(chunk.audio.samples, chunk.audio.rate, tag=tag)
        self.s.playout.expecting = action.reply != self._synthesised

    def _interrupt(self, action: Interrupt) -> None:
        """Barge-in or hang-up: the interrupt flushes everything downstream, then says what was heard."""
        request = self._requests.pop(action.reply, None)
        if request is not None:
            request.cancel.set()
        dropped = self.s.playout.clear()
        self._flush(action.reply)
        if action.speech_ms:
            METRICS.barge_in()
        progress = tuple(self.s.playout.progress(tag) for tag in self._tags)
        self.feed(PlayoutCleared(action.reply, progress, action.speech_ms, dropped))

    def _call_action(self, action: CarryOut) -> None:
        match action.action:
            case Transfer():
                self.s.transfer(action.action)
            case SendDigits():
                self.s.send_digits(action.action)
            case HangUp():
                self.s.hangup(action.action.reason)

    def _flush(self, reply: int) -> None:
        def of_reply(frame: object) -> bool:
            return getattr(frame, "reply", None) == reply

        self.to_dialog.flush(of_reply)
        self.to_tts.flush(of_reply)
        self.pacer.release(reply)

    def commit_captures(self, history: Sequence[Message], final: bool = False) -> None:
        """Commit to the outbox each message or booking the caller confirmed (called after each reply heard);
        ``final`` (the call is over): also one in progress, as a partial record (``confirmed`` false)."""
        if self._captures is None:
            return
        for capture in self._captures(history):
            key = f"capture{capture.index}"
            if capture.asking == "dropped" or key in self._committed or not (capture.confirmed or final):
                continue
            fields: dict[str, Any] = {"capture": capture.spec.kind, "fields": capture.record(),
                                      "complete": capture.complete, "confirmed": capture.confirmed}
            if capture.spec.what:
                fields["what"] = capture.spec.what
            stored = self.s.emit(capture.spec.event, key, **fields)
            self._committed.add(key)
            if capture.confirmed:
                self.s.outcomes.append(capture.spec.kind)
            log.info("%s: %s %d %s%s: %s", self.machine.cfg.name, capture.spec.kind, capture.index,
                     "confirmed" if capture.confirmed else "left half way",
                     ", in the outbox" if stored else ", NOT stored (no outbox)", fields["fields"])
            record = {"role": "action", "action": capture.spec.event, **fields,
                      "t_secs": round(time.monotonic() - self._t0, 3)}
            self.s.transcript.append(record)
            if self._transcript:
                self._transcript.write(record)

    def _action_done(self, action: WriteAction) -> None:
        record = {"role": "action", **action.record, "t_secs": round(action.t - self._t0, 3)}
        self.s.transcript.append(record)
        if self._transcript:
            self._transcript.write(record)
        fields = action.record
        if fields["action"] == "transfer" and "ok" in fields:
            if fields["ok"]:
                self.s.outcomes.append("transferred")
            self.s.emit("transfer", target=fields.get("target", ""), who=fields.get("who", ""), ok=fields["ok"],
                        detail=fields.get("result", ""))

    def _write_transcript(self, action: WriteTranscript) -> None:
        record = {"role": action.role, "text": action.text,
                  "start_secs": round(action.t_start - self._t0, 3),
                  "end_secs": round(action.t_end - self._t0, 3),
                  "interrupted": action.interrupted}
        if action.unsure:
            record["unsure"] = list(action.unsure)
        self.s.transcript.append(record)
        if self._transcript:
            self._transcript.write(record)
