"""The turn as a pure state machine: frames in, actions out.

    listening --pause--> speculating --audio ready--> held --final matches--> speaking
        |                    \\__ caller goes on / final differs: discarded
        +--final--> thinking --audio queued--> speaking --all heard--> listening
                                                   |  \\__ goodbye said: goodbye (hang up)
                                                   +--caller talks over it--> interrupted

No threads, no clock reads of its own (``clock`` is injected), no I/O: the
conductor feeds it frames and carries out the actions it returns.  What the
caller heard comes from playout-progress frames.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from agent.dialog.base import Message
from agent.frames import (
    DtmfEvent,
    FinalTranscript,
    Frame,
    Hangup,
    LongSpeech,
    PlayoutProgress,
    ReplyGenerated,
    SpeechActivity,
    SpeechChunk,
    SpeechPaused,
    StageFailed,
    SynthesisDone,
    TextChunk,
    TextDelta,
)
from agent.timeline import TurnTimeline
from agent.turn.actions import (
    Action,
    CancelReply,
    EndCall,
    Greet,
    Interrupt,
    Play,
    PlayoutCleared,
    Prepare,
    StartReply,
    WriteTranscript,
)
from agent.turn.reply import Reply

__all__ = ["State", "TurnConfig", "TurnMachine"]

log = logging.getLogger(__name__)


class State(enum.Enum):
    LISTENING = "listening"
    SPECULATING = "speculating"
    HELD = "held"
    THINKING = "thinking"
    SPEAKING = "speaking"
    INTERRUPTED = "interrupted"
    DISCARDED = "discarded"
    GOODBYE = "goodbye"
    ENDED = "ended"


IDLE = (State.LISTENING, State.INTERRUPTED, State.DISCARDED)
"""States in which the caller's next words start a turn."""
SPECULATIVE = (State.SPECULATING, State.HELD)


@dataclass(frozen=True)
class TurnConfig:
    barge_in_ms: int = 250
    speculate: bool = True
    name: str = "call"
    is_goodbye: Callable[[str], bool] = lambda _text: False


class TurnMachine:
    """One call's turn-taking (see the module docstring)."""

    def __init__(self, cfg: TurnConfig, clock: Callable[[], float]) -> None:
        self.cfg = cfg
        self.clock = clock
        self.state = State.LISTENING
        self.history: list[Message] = []
        self.turns = 0
        self.reply: Reply | None = None
        self._next_id = 0
        self._speech_start = 0.0
        self._ended = False

    # -- entry points -------------------------------------------------
    def greet(self, text: str) -> list[Action]:
        """Say ``text`` now (the conductor synthesises it and feeds its chunk back)."""
        if not text:
            return []
        reply = self._new_reply("", None)
        reply.text, reply.generated = text, True
        log.info("%s: agent: %s", self.cfg.name, text)
        return [Greet(reply.id, text)]

    def on_frame(self, frame: Frame) -> list[Action]:
        """Feed one frame; the actions it calls for, in order."""
        match frame:
            case SpeechActivity():
                return self._activity(frame)
            case LongSpeech():
                return self._long_speech(frame)
            case SpeechPaused():
                return self._paused(frame)
            case FinalTranscript():
                return self._final(frame)
            case TextDelta():
                if reply := self._current(frame.reply):
                    reply.first_token(frame)
            case TextChunk():
                if reply := self._current(frame.reply):
                    reply.first_chunk(frame)
            case ReplyGenerated():
                if reply := self._current(frame.reply):
                    reply.text, reply.generated = frame.text.strip(), True
                    return self._maybe_finish()
            case SpeechChunk():
                return self._speech(frame)
            case SynthesisDone():
                if reply := self._current(frame.reply):
                    reply.synthesised = True
                    return self._maybe_finish()
            case PlayoutProgress():
                if self.reply:
                    self.reply.heard(frame)
                    return self._maybe_finish()
            case PlayoutCleared():
                return self._cleared(frame)
            case DtmfEvent() if frame.digit == "#":
                log.info("%s: caller pressed #: hanging up", self.cfg.name)
                return [EndCall("caller pressed #")]
            case Hangup():
                return self._hangup(frame)
            case StageFailed():
                log.error("%s: %s failed (%s); hanging up", self.cfg.name, frame.stage, frame.reason)
                return [EndCall(f"{frame.stage} failed")]
        return []

    # -- the caller ---------------------------------------------------
    def _activity(self, frame: SpeechActivity) -> list[Action]:
        self._speech_start = frame.t_start_of_speech or frame.t
        reply = self.reply
        if reply is not None and self.state in SPECULATIVE and frame.t > reply.t_start:
            return self._discard("the caller went on speaking")
        return []

    def _long_speech(self, frame: LongSpeech) -> list[Action]:
        reply = self.reply
        if self.cfg.barge_in_ms <= 0 or reply is None or self.state is not State.SPEAKING:
            return []
        if reply.done:
            return []  # it had all been said already
        self.state = State.INTERRUPTED
        return [Interrupt(reply.id, frame.speech_ms)]

    def _paused(self, frame: SpeechPaused) -> list[Action]:
        text = frame.text.strip()
        if not self.cfg.speculate or not text or self.state not in IDLE or self._ended:
            return []
        log.debug("%s: pause after %r: starting on a reply", self.cfg.name, text)
        reply = self._new_reply(text, TurnTimeline(turn=0, user_text=text))
        reply.speculative = True
        self.state = State.SPECULATING
        return [StartReply(reply.id, text, tuple(self.history))]

    def _final(self, frame: FinalTranscript) -> list[Action]:
        actions: list[Action] = []
        if self.state in (State.GOODBYE, State.ENDED):
            return actions
        if self.state in SPECULATIVE:
            assert self.reply is not None
            if _normalise(frame.text) == _normalise(self.reply.user_text):
                return self._release(frame)
            actions += self._discard("the final transcript differs")
        text = frame.text.strip()
        if not text:
            log.info("%s: caller spoke, no words recognised", self.cfg.name)
            return actions
        if self.state in (State.THINKING, State.SPEAKING):
            log.info("%s: caller: %s (short, while the agent spoke: not a turn)", self.cfg.name, text)
            return actions
        self.turns += 1
        log.info("%s: caller: %s", self.cfg.name, text)
        actions.append(self._user_transcript(text, frame))
        timeline = TurnTimeline(turn=self.turns, t_end_of_speech=frame.t_end_of_speech,
                                t_endpoint=frame.t_endpoint, t_stt_final=frame.t, user_text=text)
        history = tuple(self.history)
        self.history.append(Message("user", text))
        reply = self._new_reply(text, timeline)
        self.state = State.THINKING
        return [*actions, StartReply(reply.id, text, history)]

    def _release(self, frame: FinalTranscript) -> list[Action]:
        """At the endpoint: the speculative reply answers the final words; let the caller hear it."""
        reply = self.reply
        assert reply is not None
        self.turns += 1
        held = reply.release(frame, self.turns)
        self.history.append(Message("user", reply.user_text))
        log.info("%s: caller: %s (reply prepared during the pause)", self.cfg.name, reply.user_text)
        actions: list[Action] = [self._user_transcript(reply.user_text, frame)]
        self.state = State.THINKING
        for chunk in held:
            actions += self._play(reply, chunk)
        return actions + self._maybe_finish()

    def _discard(self, why: str) -> list[Action]:
        reply = self.reply
        assert reply is not None
        self.reply = None
        self.state = State.DISCARDED
        log.debug("%s: speculative reply dropped: %s", self.cfg.name, why)
        return [CancelReply(reply.id)]

    # -- the agent's reply ----------------------------------------------
    def _speech(self, frame: SpeechChunk) -> list[Action]:
        reply = self._current(frame.reply)
        if reply is None or self.state in (State.INTERRUPTED, State.ENDED):
            return []
        if not reply.audio_ready(frame):
            self.state = State.HELD
            return []
        return self._play(reply, frame)

    def _play(self, reply: Reply, chunk: SpeechChunk) -> list[Action]:
        if not reply.playing(chunk):
            return []
        self.state = State.SPEAKING
        return [Play(reply.id, chunk)]

    def _cleared(self, frame: PlayoutCleared) -> list[Action]:
        """The conductor stopped the reply's audio (barge-in or hang-up): what was heard is final."""
        reply = self._current(frame.reply)
        if reply is None:
            return []
        for progress in frame.progress:
            reply.heard(progress)
        if frame.speech_ms:
            log.info("%s: barge-in after %d ms of caller speech; dropped %.2f s of queued audio",
                     self.cfg.name, frame.speech_ms, frame.dropped_frames * 0.02)
        return self._finish(reply, interrupted=bool(frame.speech_ms) or not reply.all_heard())

    def _maybe_finish(self) -> list[Action]:
        reply = self.reply
        if reply is None or reply.speculative or self.state in (State.INTERRUPTED, State.ENDED):
            return []
        return self._finish(reply, interrupted=False) if reply.done else []

    def _finish(self, reply: Reply, interrupted: bool) -> list[Action]:
        """Record the reply: what the caller heard of it, and its timing."""
        self.reply = None
        heard, actions = reply.records(interrupted, self.clock(), self.cfg.name)
        if heard:
            self.history.append(Message("assistant", heard, interrupted))
        if self._ended:
            return actions
        actions.append(Prepare(tuple(self.history)))
        if reply.goodbye and not interrupted:
            log.info("%s: goodbye said: hanging up", self.cfg.name)
            self.state = State.GOODBYE
            return [*actions, EndCall("agent said goodbye")]
        self.state = State.INTERRUPTED if interrupted else State.LISTENING
        return actions

    # -- the call -------------------------------------------------------
    def _hangup(self, frame: Hangup) -> list[Action]:
        self._ended, reply = True, self.reply
        actions: list[Action] = []
        if reply is not None:
            actions = self._discard("the call ended") if reply.speculative else [Interrupt(reply.id, 0)]
        self.state = State.ENDED
        return actions

    def _new_reply(self, user_text: str, timeline: TurnTimeline | None) -> Reply:
        self._next_id += 1
        goodbye = bool(user_text) and self.cfg.is_goodbye(user_text)
        self.reply = Reply(self._next_id, user_text, self.clock(), timeline, goodbye=goodbye)
        return self.reply

    def _current(self, reply_id: object) -> Reply | None:
        reply = self.reply
        return reply if reply is not None and reply.id == reply_id else None

    def _user_transcript(self, text: str, frame: FinalTranscript) -> WriteTranscript:
        return WriteTranscript("user", text, self._speech_start or frame.t_end_of_speech, frame.t_end_of_speech,
                               False)


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())
