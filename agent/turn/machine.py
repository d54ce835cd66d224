"""The turn as a pure state machine: frames in, actions out.

    listening --pause--> speculating --audio ready--> held --final matches--> speaking
        |                    \\__ caller goes on / final differs: discarded
        +--final--> thinking --audio queued--> speaking --all heard--> listening
                      \\__ caller goes on: reply held --words--> one turn, a new reply (a sound: it goes on)
                                                   |  \\__ goodbye said: goodbye (hang up)
                                                   +--caller talks over it--> paused --words--> interrupted
                                                   |                            \\__ "mm-hmm", a cough: speaking
                                                   +--all heard, it asked for a transfer--> transferring
                                                          --NOTIFY 2xx--> ended  \\__ refused, timed out: listening

A caller who went on just as the reply began (their speech started before
they could have heard it) cuts it off, and their words join the turn as if
it had still been thinking.

A run of the caller's speech over the agent pauses its audio at once (after
``barge_in_ms``); their words then decide.  A real word, or ``confirm_ms`` of
speech in the caller's turn (the gaps between words do not reset it),
interrupts the reply; a backchannel ("mm-hmm", "okay") or a sound with no
words resumes it where it stopped.  ``confirm_ms`` 0 stops
the reply at ``barge_in_ms`` without waiting for words.

Every final transcript reaches the records: words that are not a turn (over
the agent, during a transfer) follow the reply in the history too.

A reply's call actions (:mod:`agent.dialog.actions`) are carried out once
the caller has heard it all; a reply the caller talked over loses them.  DTMF
digits the caller keys become a turn of their own at ``#`` or after
``digits_secs`` without another (``#`` alone ends the call).

No threads, no clock reads of its own (``clock`` is injected), no I/O: the
conductor feeds it frames and carries out the actions it returns.  What the
caller heard comes from playout-progress frames.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from agent.dialog.base import Message
from agent.frames import (
    ActionRequested,
    ActionResult,
    DtmfEvent,
    FinalTranscript,
    Frame,
    Hangup,
    LongSpeech,
    PlayoutProgress,
    ReplyGenerated,
    SpeechActivity,
    SpeechChunk,
    SpeechOnset,
    SpeechPaused,
    StageFailed,
    SynthesisDone,
    TextChunk,
    TextDelta,
)
from agent.timeline import TurnTimeline
from agent.turn.acting import Acting
from agent.turn.actions import (
    Action,
    CancelReply,
    EndCall,
    Greet,
    HoldPlayout,
    Interrupt,
    Play,
    PlayoutCleared,
    Prepare,
    ResumePlayout,
    StartReply,
    WriteTranscript,
)
from agent.turn.backchannel import asks_to_stop, is_backchannel
from agent.turn.reply import Reply
from agent.turn.state import IDLE, SPECULATIVE, TRANSFER_FAILED, State

__all__ = ["State", "TRANSFER_FAILED", "TurnConfig", "TurnMachine"]

log = logging.getLogger(__name__)

REACTION_SECS = 0.3
"""Speech that began less than this after the reply's first audio went out was not a reaction to it."""
ONSET_HOLD_SECS = 0.3
"""A sound that began as the reply was about to be heard holds it this long at most, unless it grows into speech
(which takes the VAD's ``min_speech_ms`` and a frame or two)."""
"""Speech that began less than this after the reply's first audio went out was not a reaction to it."""


@dataclass(frozen=True)
class TurnConfig:
    barge_in_ms: int = 250
    confirm_ms: int = 1200
    min_confidence: float = 0.78
    """Words heard over the agent interrupt it only if the recogniser is at least this sure of them
    (Whisper makes words up from a "mm-hmm": "mm-on", "and anthem", "then")."""
    stop_confidence: float = 0.6
    """The bar for words that ask the agent to stop ("Stop.", "Wait."): short, so Whisper scores them lower."""
    speculate: bool = True
    digits_secs: float = 3.0
    """Keyed digits become a turn this long after the last one (or at ``#``)."""
    name: str = "call"
    is_goodbye: Callable[[str], bool] = lambda _text: False


class TurnMachine(Acting):
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
        self._heard_ms = 0
        """How long the caller had spoken when their sound paused the reply (0: it did not)."""
        self._after_clear: FinalTranscript | None = None
        """The final transcript whose words interrupted the reply: the next turn, once it is cleared."""
        self._went_on = False
        """The caller spoke again while the agent thought: its reply is held until their words come."""
        self._onset_t = 0.0
        """When a sound began that holds the reply (0: none, or it grew into speech)."""
        self._rejoin: str | None = None
        """The words of a turn whose reply the caller cut off before hearing any of it: their next words join
        them (they went on just as the agent began to speak)."""
        self._asides: list[Message] = []
        """The caller's words heard over the current reply (not a turn): they follow it in the history."""
        self._digits, self._digits_done, self._t_digit = "", False, 0.0
        """DTMF digits keyed so far, whether "#" ended them, and when the last one came."""

    @property
    def joinable(self) -> bool:
        """Would the caller's next words join their last turn (its reply not yet heard)?"""
        if self._rejoin is not None and not self._ended:
            return True
        reply = self.reply
        if reply is None or self._ended:
            return False
        return self._went_on or (self.state is State.THINKING and not reply.speculative)

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
            case SpeechOnset():
                return self._onset(frame)
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
            case ActionRequested():
                if reply := self._current(frame.reply):
                    reply.actions.append(frame.action)
            case ActionResult():
                return self._action_done(frame)
            case DtmfEvent():
                return self._digit(frame)
            case Hangup():
                return self._hangup(frame)
            case StageFailed():
                log.error("%s: %s failed (%s); hanging up", self.cfg.name, frame.stage, frame.reason)
                return [EndCall(f"{frame.stage} failed")]
        return []

    def tick(self) -> list[Action]:
        """Called a few times a second: a sound that held or paused the reply and did not grow into speech lets
        it go on; keyed digits become a turn (see :meth:`Acting.tick`)."""
        reply = self.reply
        if self._onset_t and self.clock() - self._onset_t >= ONSET_HOLD_SECS and reply is not None:
            log.debug("%s: the sound was not speech: the reply goes on", self.cfg.name)
            if self.state is State.PAUSED:
                self.state, self._onset_t = State.SPEAKING, 0.0
                return [ResumePlayout(reply.id)]
            if self._went_on:
                return self._go_on(reply)
            self._onset_t = 0.0
        return super().tick()

    # -- the caller ---------------------------------------------------
    def _onset(self, frame: SpeechOnset) -> list[Action]:
        """A sound began: a reply not yet heard waits a moment to learn whether the caller is going on, and one
        that has only just begun pauses (they cannot be answering it yet)."""
        reply = self.reply
        if reply is None or self._went_on or reply.speculative or frame.t <= reply.t_start:
            return []
        if self.state is State.THINKING:
            log.debug("%s: a sound as the reply is about to start: holding it", self.cfg.name)
            reply.speculative, self._went_on, self._onset_t = True, True, self.clock()
            return []
        first = reply.first_out()
        if self.state is State.SPEAKING and self.cfg.barge_in_ms > 0 and (not first or frame.t < first + REACTION_SECS):
            log.debug("%s: a sound as the reply begins: audio paused", self.cfg.name)
            self.state, self._heard_ms, self._onset_t = State.PAUSED, 0, self.clock()
            return [HoldPlayout(reply.id)]
        return []

    def _activity(self, frame: SpeechActivity) -> list[Action]:
        self._speech_start = frame.t_start_of_speech or frame.t
        reply = self.reply
        onset, self._onset_t = self._onset_t, 0.0  # a sound that held or paused the reply is speech
        if self._went_on:
            if onset:
                log.debug("%s: the caller went on before the reply: holding it until their words", self.cfg.name)
            return []
        if reply is not None and self.state is State.THINKING and not reply.speculative and frame.t > reply.t_start:
            log.debug("%s: the caller went on before the reply: holding it until their words", self.cfg.name)
            reply.speculative, self._went_on = True, True  # its audio is held (see Reply.audio_ready)
            return []
        if reply is not None and self.state in SPECULATIVE and frame.t > reply.t_start:
            return self._discard("the caller went on speaking")
        if reply is not None and self.state is State.PAUSED and 0 < self.cfg.confirm_ms <= frame.speech_ms:
            return self._interrupt(reply, frame.speech_ms, "the caller kept speaking, words not yet clear")
        return []

    def _long_speech(self, frame: LongSpeech) -> list[Action]:
        reply = self.reply
        if self.cfg.barge_in_ms <= 0 or reply is None or reply.done:
            return []  # (a reply done had all been said already)
        confirmed = self.cfg.confirm_ms <= 0 or frame.speech_ms >= self.cfg.confirm_ms
        if self.state is State.PAUSED and confirmed:
            return self._interrupt(reply, frame.speech_ms, "the caller went on speaking")
        if self.state is not State.SPEAKING:
            return []
        if confirmed:
            return self._interrupt(reply, frame.speech_ms, "")
        self.state, self._heard_ms = State.PAUSED, frame.speech_ms
        log.debug("%s: caller sound over the agent: audio paused", self.cfg.name)
        return [HoldPlayout(reply.id)]

    def _heard_over_reply(self, text: str, confidence: float, final: FinalTranscript | None) -> list[Action]:
        """Paused: the caller's words (at a pause or the endpoint) interrupt the reply or let it go on."""
        reply = self.reply
        assert reply is not None
        words = not is_backchannel(text)
        needed = self.cfg.stop_confidence if asks_to_stop(text) else self.cfg.min_confidence
        if words and confidence >= needed:
            self._after_clear = final
            since = self.clock() - self._speech_start
            speech_ms = self._heard_ms or (round(since * 1000) if 0 < since < 60 else 1)
            return self._interrupt(reply, speech_ms, f"the caller said {text.strip()!r} ({confidence:.2f})")
        if final is None:
            return []  # only a sound so far: wait for the endpoint
        what = "not sure of the words" if words else "not an interruption"
        log.info("%s: caller: %s (over the agent, %s, %.2f: going on)", self.cfg.name,
                 text.strip() or "a sound with no words", what, confidence)
        self._heard_ms, was_paused = 0, self.state is State.PAUSED
        self.state = State.SPEAKING
        aside: list[Action] = [self._heard_aside(text.strip(), final)] if text.strip() else []
        return [*aside, ResumePlayout(reply.id)] if was_paused else aside

    def _interrupt(self, reply: Reply, speech_ms: int, why: str) -> list[Action]:
        if why:
            log.debug("%s: interrupting: %s", self.cfg.name, why)
        self.state, self._heard_ms = State.INTERRUPTED, 0
        return [Interrupt(reply.id, max(speech_ms, 1))]

    def _over_reply(self) -> bool:
        """May the caller's words stop the reply now (it is being heard, or paused for their sound)?"""
        if self.cfg.barge_in_ms <= 0:
            return False
        return self.state is State.PAUSED or (self.state is State.SPEAKING and self.reply is not None
                                              and not self.reply.done)

    def _paused(self, frame: SpeechPaused) -> list[Action]:
        if self._over_reply():
            return self._heard_over_reply(frame.text, frame.confidence, None)
        text = frame.text.strip()
        if not self.cfg.speculate or not text or self.state not in IDLE or self._ended or self._rejoin is not None:
            return []  # (words that will join the last turn are not a turn to speculate on)
        log.debug("%s: pause after %r: starting on a reply", self.cfg.name, text)
        reply = self._new_reply(text, TurnTimeline(turn=0, user_text=text))
        reply.speculative = True
        self.state = State.SPECULATING
        return [StartReply(reply.id, text, tuple(self.history), frame.unsure)]

    def _final(self, frame: FinalTranscript) -> list[Action]:
        actions: list[Action] = []
        if self.state is State.ENDED and frame.text.strip():  # said just before the hang-up: kept, not answered
            log.info("%s: caller (before hanging up): %s", self.cfg.name, frame.text.strip())
            self.history.append(Message("user", frame.text.strip()))
            return [self._user_transcript(frame.text.strip(), frame)]
        if self.state in (State.GOODBYE, State.ENDED):
            return actions
        if self._went_on and self.reply is not None:
            return self._after_going_on(frame)
        if self.state is State.TRANSFERRING:
            log.info("%s: caller: %s (during the transfer: not a turn)", self.cfg.name, frame.text.strip())
            return [self._heard_aside(frame.text.strip(), frame)] if frame.text.strip() else actions
        if self._over_reply() and frame.text.strip():
            return self._heard_over_reply(frame.text, frame.confidence, frame)
        if self.state is State.PAUSED:
            return self._heard_over_reply("", 1.0, frame)  # no words at all: go on
        if self._rejoin is not None and self.state in IDLE:
            previous, self._rejoin = self._rejoin, None
            text = frame.text.strip()
            cut = 1 if self.history and self.history[-1].interrupted else 0  # the first word or two they heard
            if text and not is_backchannel(text) and self.history[-1 - cut:][:1] == [Message("user", previous)]:
                del self.history[len(self.history) - cut:]
                return self._join_turn(text, frame, previous)
        if self.state in SPECULATIVE:
            assert self.reply is not None
            if _normalise(frame.text) == _normalise(self.reply.user_text):
                return self._release(frame)
            actions += self._discard("the final transcript differs")
        text = frame.text.strip()
        if not text:
            log.info("%s: caller spoke, no words recognised", self.cfg.name)
            return actions
        if self.state is State.THINKING and self.reply is not None and not is_backchannel(text):
            return self._join_turn(text, frame, self.reply.user_text)
        if self.state is State.THINKING:
            log.info("%s: caller: %s (while the agent thinks: not a turn)", self.cfg.name, text)
            return [self._heard_aside(text, frame)]
        if self.state is State.SPEAKING:
            log.info("%s: caller: %s (short, while the agent spoke: not a turn)", self.cfg.name, text)
            return [self._heard_aside(text, frame)]
        self.turns += 1
        log.info("%s: caller: %s", self.cfg.name, text)
        actions.append(self._user_transcript(text, frame))
        timeline = TurnTimeline(turn=self.turns, t_end_of_speech=frame.t_end_of_speech,
                                t_endpoint=frame.t_endpoint, t_stt_final=frame.t, user_text=text)
        history = tuple(self.history)
        self.history.append(Message("user", text))
        reply = self._new_reply(text, timeline)
        self.state = State.THINKING
        return [*actions, StartReply(reply.id, text, history, frame.unsure)]

    def _join_turn(self, text: str, frame: FinalTranscript, previous: str) -> list[Action]:
        """The caller went on before hearing a word of the reply to ``previous``: what they added joins their
        turn, the reply (being prepared, or cut off at its first words) is dropped, and one new reply answers
        all of it."""
        reply = self.reply
        merged = f"{previous} {text}"
        if frame.whole and _overlap(frame.whole, previous) >= 0.5:
            merged = frame.whole  # all of it decoded again as one piece
        log.info("%s: caller: %s (went on before the reply: one turn with %r)", self.cfg.name, text, previous)
        self.reply = None
        timeline = TurnTimeline(turn=self.turns, t_end_of_speech=frame.t_end_of_speech, t_endpoint=frame.t_endpoint,
                                t_stt_final=frame.t, user_text=merged)
        self.history[-1] = Message("user", merged)  # this turn's words, so far the last message
        new = self._new_reply(merged, timeline)
        self.state = State.THINKING
        cancel: list[Action] = [CancelReply(reply.id)] if reply is not None else []
        return [*cancel, self._user_transcript(text, frame),
                StartReply(new.id, merged, tuple(self.history[:-1]), frame.unsure)]

    def _after_going_on(self, frame: FinalTranscript) -> list[Action]:
        """The words of a caller who went on speaking while the agent thought: they join the turn, or (a sound,
        a backchannel) the held reply goes on."""
        reply = self.reply
        assert reply is not None
        self._went_on, self._onset_t = False, 0.0
        text = frame.text.strip()
        if text and not is_backchannel(text):
            return self._join_turn(text, frame, reply.user_text)
        actions: list[Action] = [self._heard_aside(text, frame)] if text else []
        return actions + self._go_on(reply)

    def _go_on(self, reply: Reply) -> list[Action]:
        """The held reply goes on: its audio is played."""
        self._went_on, self._onset_t = False, 0.0
        reply.speculative, held, reply.held = False, reply.held, []
        self.state = State.THINKING
        actions: list[Action] = []
        for chunk in held:
            actions += self._play(reply, chunk)
        return actions + self._maybe_finish()

    def _heard_aside(self, text: str, frame: FinalTranscript) -> WriteTranscript:
        """Words that are not a turn of their own (over the agent, during a transfer): in the records, and in
        the history once the reply they came over is in it."""
        (self._asides if self.reply is not None else self.history).append(Message("user", text))
        return self._user_transcript(text, frame)

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
        if self.state is not State.PAUSED:
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
        went_on = self._went_on_as_it_began(reply)
        actions = self._finish(reply, interrupted=bool(frame.speech_ms) or not reply.all_heard())
        if frame.speech_ms and went_on and reply.user_text and self.state is State.INTERRUPTED:
            self._rejoin = reply.user_text  # their words join that turn
        final, self._after_clear = self._after_clear, None
        return actions + self._final(final) if final is not None else actions

    def _went_on_as_it_began(self, reply: Reply) -> bool:
        """Did the caller's speech that stopped ``reply`` begin before they could have heard it?"""
        if not reply.heard_text():
            return True
        first = reply.first_out()
        return bool(first) and 0.0 < self._speech_start < first + REACTION_SECS

    def _maybe_finish(self) -> list[Action]:
        reply = self.reply
        if reply is None or reply.speculative or self.state in (State.INTERRUPTED, State.ENDED):
            return []
        return self._finish(reply, interrupted=False) if reply.done else []

    def _finish(self, reply: Reply, interrupted: bool) -> list[Action]:
        """Record the reply: what the caller heard of it, and its timing."""
        self.reply = None
        heard, actions = reply.records(interrupted, self.clock(), self.cfg.name)
        if self.state is State.PAUSED:  # its last frame had gone out as the caller spoke
            actions.append(ResumePlayout(reply.id))
        if heard:
            self.history.append(Message("assistant", heard, interrupted))
        self.history += self._asides
        self._asides = []
        if self._ended:
            return actions
        actions.append(Prepare(tuple(self.history)))
        if reply.actions:
            actions += self._carry_out(reply, interrupted)
            if self.state in (State.TRANSFERRING, State.GOODBYE):
                return actions
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
                               False, frame.unsure)


def _overlap(whole: str, part: str) -> float:
    """The share of ``part``'s words found in ``whole``."""
    words = _normalise(part).replace(",", "").replace(".", "").split()
    found = set(_normalise(whole).replace(",", "").replace(".", "").split())
    return sum(word in found for word in words) / len(words) if words else 0.0


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())
