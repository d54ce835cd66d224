"""One call's conversation: caller audio -> STT -> dialog -> chunker -> TTS -> playout.

Threads of a call: the handler thread forwards received frames to the STT
worker; the STT worker (VAD, endpointing, recognition) reports speech
activity and final transcripts; the dialog thread streams the brain's reply
through the chunker into the TTS worker, which queues audio for playout.
Barge-in is a control event decided on the media clock thread: while the
agent is audible the call's barge-in gate is armed; when the caller talks
over it long enough the port clears the playout in that same frame, and the
handler thread then cancels synthesis and generation.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import DEFAULT_GREETING, Config, SpeechConfig
from .dialog.base import Brain, Message
from .dialog.chunker import Chunker
from .frames import FRAME_MS, DtmfEvent, SpeechChunk, Transcript
from .records import JsonLinesWriter
from .session import CallHandler, CallSession
from .stt.base import SttEngine
from .stt.worker import FinalTranscript, SpeechActivity, SpeechPaused, SttFailed, SttWorker
from .timeline import TurnTimeline
from .tts.base import TtsEngine
from .tts.stream import ReplyEnd, StreamingTts
from .turn.endpointing import Endpointer

__all__ = ["Engines", "ConversationHandler", "CallConversation", "make_conversation_handler"]

log = logging.getLogger(__name__)

POLL_SECS = 0.02
JOIN_SECS = 2.0
PACE_AHEAD_SECS = 1.0
"""Below this much audio ready ahead of the caller, the brain waits while a chunk is synthesised."""


@dataclass
class Engines:
    """Models loaded once and shared by every call."""

    stt: SttEngine
    brain: Brain
    tts: TtsEngine

    def close(self) -> None:
        for engine in (self.brain, self.tts, self.stt):
            try:
                engine.close()
            except Exception:
                log.exception("closing %s failed", type(engine).__name__)


@dataclass
class _Reply:
    """The agent's reply in progress: its text, playout items and timing."""

    timeline: TurnTimeline | None
    cancel: threading.Event = field(default_factory=threading.Event)
    items: list[tuple[int, str]] = field(default_factory=list)
    text: str = ""
    t_start: float = 0.0
    generated: bool = False
    synth_done: bool = False
    interrupted: bool = False
    goodbye: bool = False
    held: bool = False
    """Speculative: generated on a pause before the endpoint; its audio waits in ``held_audio``."""
    spec_text: str = ""
    held_audio: list[tuple[Any, int, str]] = field(default_factory=list)
    discarded: bool = False
    pace: threading.Event = field(default_factory=threading.Event)
    """Cleared while the caller waits on a chunk's synthesis: the brain then holds its next token."""

    def __post_init__(self) -> None:
        self.pace.set()


class CallConversation:
    """Runs the speech pipeline of one call (see the module docstring)."""

    def __init__(self, session: CallSession, engines: Engines, cfg: SpeechConfig) -> None:
        self.s = session
        self.engines = engines
        self.cfg = cfg
        self.name = f"call {session.call_id}"
        self.history: list[Message] = []
        self.reply: _Reply | None = None
        self.turns = 0
        self._lock = threading.Lock()
        self._finals: queue.Queue[FinalTranscript | SpeechPaused] = queue.Queue()
        self._frames: queue.Queue[Any] = queue.Queue()
        self._speech_start = 0.0
        self._t0 = time.monotonic()
        self.stt = SttWorker(engines.stt, self._frames, self._on_stt,
                             endpointer=Endpointer(endpoint_ms=cfg.endpoint_ms), name=f"stt-{session.call_id}",
                             pause_ms=cfg.speculate_ms if 0 < cfg.speculate_ms < cfg.endpoint_ms else 0)
        self.tts = StreamingTts(engines.tts, mode=cfg.tts_mode,  # type: ignore[arg-type]
                                on_chunk=self._on_chunk, on_reply_end=self._on_reply_end,
                                name=f"tts-{session.call_id}")
        self.gate = session.gate
        self.gate.configure(cfg.barge_in_ms)
        self._transcript: JsonLinesWriter | None = None
        self._timeline: JsonLinesWriter | None = None
        if session.records_dir:
            folder = Path(session.records_dir)
            self._transcript = JsonLinesWriter(folder / "transcript.jsonl")
            self._timeline = JsonLinesWriter(folder / "timeline.jsonl")

    # -- the handler thread -------------------------------------------
    def run(self) -> None:
        self.stt.start()
        self.tts.start()
        dialog = threading.Thread(target=self._dialog_loop, name=f"dialog-{self.s.call_id}", daemon=True)
        dialog.start()
        try:
            for frame in self.s.frames():
                self._frames.put(frame)
                if self.gate.fired.is_set():  # the media thread already stopped the playout
                    self.gate.fired.clear()
                    self._barge_in(self.gate.speech_ms)
        finally:
            dialog.join(JOIN_SECS)
            self.stt.stop()
            self.tts.stop()
            for writer in (self._transcript, self._timeline):
                if writer:
                    writer.close()

    # -- STT thread ---------------------------------------------------
    def _on_stt(self, event: object) -> None:
        if isinstance(event, SpeechActivity):
            self._speech_start = event.t_start_of_speech or event.t
            with self._lock:
                reply = self.reply
                if reply is not None and reply.held and event.t > reply.t_start:
                    self._discard(reply, "the caller went on speaking")
        elif isinstance(event, SpeechPaused):
            self._finals.put(event)
        elif isinstance(event, FinalTranscript):
            if not self._resolve_speculation(event):
                self._finals.put(event)
        elif isinstance(event, Transcript):
            log.debug("%s: partial %r", self.name, event.text)
        elif isinstance(event, SttFailed):
            log.error("%s: speech recognition failed (%s); hanging up", self.name, event.reason)
            self.s.hangup("speech recognition failed")

    def _arm(self) -> None:
        if self.cfg.barge_in_ms > 0:
            self.gate.arm()

    def _barge_in(self, speech_ms: int) -> None:
        """Control path: the media thread has stopped the playout; cancel what is queued."""
        with self._lock:
            self.gate.disarm()
            reply = self.reply
            if reply is None or reply.held or reply.interrupted:
                return
            last = reply.items[-1][0] if reply.items else 0
            if reply.synth_done and last and self.s.playout.heard_fraction(last) >= 1.0:
                return  # it had all been said already
            reply.interrupted = True
            reply.cancel.set()
            reply.pace.set()
            dropped = self.s.clear() + self.gate.dropped_frames
            self.tts.cancel()
        log.info("%s: barge-in after %d ms of caller speech; dropped %.2f s of queued audio",
                 self.name, speech_ms, dropped * 0.02)

    # -- TTS thread ---------------------------------------------------
    def _on_chunk(self, chunk: SpeechChunk) -> None:
        with self._lock:
            reply = self.reply
            if reply is None or reply.interrupted or reply.discarded or self.s.ended.is_set():
                return
            if self.gate.fired.is_set():
                return  # barge-in under way
            reply.pace.set()
            if reply.held:
                reply.held_audio.append((chunk.audio.samples, chunk.audio.rate, chunk.text))
                if reply.timeline and not reply.timeline.t_first_audio_ready:
                    reply.timeline.t_first_audio_ready = chunk.t_monotonic or time.monotonic()
                return
            item = self.s.play(chunk.audio.samples, chunk.audio.rate)
            reply.items.append((item, chunk.text))
            self._arm()
            if reply.timeline and not reply.timeline.t_first_audio_ready:
                reply.timeline.t_first_audio_ready = chunk.t_monotonic or time.monotonic()

    def _on_reply_end(self, _end: ReplyEnd) -> None:
        reply = self.reply
        if reply is not None:
            reply.synth_done = True
            reply.pace.set()

    # -- dialog thread ------------------------------------------------
    def _dialog_loop(self) -> None:
        try:
            self._greet()
            while not self.s.ended.is_set():
                self._handle_events()
                try:
                    item = self._finals.get(timeout=POLL_SECS)
                except queue.Empty:
                    self._maybe_finish_reply()
                    continue
                if isinstance(item, SpeechPaused):
                    self._speculate(item)
                else:
                    self._on_final(item)
        except Exception:
            log.exception("%s: dialog failed; hanging up", self.name)
            self.s.hangup("dialog error")
        finally:
            self._finish_reply(hung_up=True)

    def _greet(self) -> None:
        text = greeting_text(self.cfg, self.engines.brain)
        if not text:
            return
        audio = self.engines.tts.synthesize_cached(text)
        reply = _Reply(timeline=None, text=text, t_start=time.monotonic(), generated=True, synth_done=True)
        with self._lock:
            self.reply = reply
            reply.items.append((self.s.play(audio), text))
            self._arm()
        log.info("%s: agent: %s", self.name, text)

    def _handle_events(self) -> None:
        while True:
            try:
                event = self.s.events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, DtmfEvent) and event.digit == "#":
                log.info("%s: caller pressed #: hanging up", self.name)
                self.s.hangup("caller pressed #")

    def _on_final(self, final: FinalTranscript) -> None:
        if self._resolve_speculation(final):
            return
        text = final.text.strip()
        if not text:
            log.info("%s: caller spoke, no words recognised", self.name)
            return
        reply = self.reply
        if reply is not None and not reply.interrupted:
            log.info("%s: caller: %s (short, while the agent spoke: not a turn)", self.name, text)
            return
        self._finish_reply()
        self.turns += 1
        log.info("%s: caller: %s", self.name, text)
        self._write_transcript("user", text, self._speech_start or final.t_end_of_speech,
                               final.t_end_of_speech, False)
        timeline = TurnTimeline(turn=self.turns, t_end_of_speech=final.t_end_of_speech,
                                t_endpoint=final.t_endpoint, t_stt_final=final.t_ready, user_text=text)
        self._generate(text, timeline)

    # -- speculation: start on the reply at a pause, release it at the endpoint
    def _speculate(self, pause: SpeechPaused) -> None:
        text = pause.text.strip()
        if not text or self.reply is not None or not self._finals.empty() or self.s.ended.is_set():
            return
        log.debug("%s: pause after %r: starting on a reply", self.name, text)
        self._generate(text, TurnTimeline(turn=0, user_text=text), held=True)

    def _resolve_speculation(self, final: FinalTranscript) -> bool:
        """At the endpoint: release the speculative reply if the words did not change."""
        with self._lock:
            reply = self.reply
            if reply is None or not reply.held:
                return False
            if _normalise(final.text) != _normalise(reply.spec_text):
                self._discard(reply, "the final transcript differs")
                return False
            self.turns += 1
            timeline = reply.timeline
            assert timeline is not None
            timeline.turn, timeline.speculative = self.turns, True
            timeline.t_end_of_speech, timeline.t_endpoint = final.t_end_of_speech, final.t_endpoint
            timeline.t_stt_final = final.t_ready
            reply.held = False
            for samples, rate, chunk_text in reply.held_audio:
                reply.items.append((self.s.play(samples, rate), chunk_text))
            if reply.held_audio:
                self._arm()
            reply.held_audio.clear()
            self.history.append(Message("user", reply.spec_text))
        log.info("%s: caller: %s (reply prepared during the pause)", self.name, reply.spec_text)
        self._write_transcript("user", reply.spec_text, self._speech_start or final.t_end_of_speech,
                               final.t_end_of_speech, False)
        return True

    def _discard(self, reply: _Reply, why: str) -> None:
        """Drop a speculative reply nobody heard (lock held)."""
        reply.discarded = True
        reply.cancel.set()
        reply.pace.set()
        self.tts.cancel()
        if self.reply is reply:
            self.reply = None
        log.debug("%s: speculative reply dropped: %s", self.name, why)

    def _generate(self, text: str, timeline: TurnTimeline, held: bool = False) -> None:
        brain = self.engines.brain
        reply = _Reply(timeline=timeline, t_start=time.monotonic(), goodbye=brain.is_goodbye(text),
                       held=held, spec_text=text if held else "")
        history = list(self.history)
        if not held:
            self.history.append(Message("user", text))
        with self._lock:
            self.reply = reply
        chunker = Chunker()
        parts: list[str] = []
        for delta in brain.reply(history, text, reply.cancel, reply.pace):
            if reply.cancel.is_set() or self.s.ended.is_set():
                break
            if not timeline.t_first_token:
                timeline.t_first_token = time.monotonic()
            parts.append(delta)
            for chunk in chunker.push(delta):
                self._push_chunk(reply, chunk)
        if not reply.cancel.is_set():
            for chunk in chunker.flush():
                self._push_chunk(reply, chunk)
            self.tts.end_reply()
        reply.text = "".join(parts).strip()
        reply.generated = True

    def _push_chunk(self, reply: _Reply, chunk: str) -> None:
        if reply.timeline and not reply.timeline.t_first_chunk_text:
            reply.timeline.t_first_chunk_text = time.monotonic()
            reply.timeline.first_chunk = chunk
        if self.tts.mode == "streaming" and self._audio_ahead_secs(reply) < PACE_AHEAD_SECS:
            # The caller is (nearly) waiting on this chunk: let synthesis have the CPU.
            if reply.pace.is_set():
                log.debug("%s: brain held while %r is synthesised", self.name, chunk)
            reply.pace.clear()
        self.tts.push_text(chunk)

    def _audio_ahead_secs(self, reply: _Reply) -> float:
        """Audio of this reply ready for the caller and not yet played."""
        with self._lock:
            if reply.held:
                return sum(len(samples) / rate for samples, rate, _text in reply.held_audio)
        return self.s.playout.pending_frames * FRAME_MS / 1000.0

    def _maybe_finish_reply(self) -> None:
        reply = self.reply
        if reply and reply.generated and not reply.held and (reply.interrupted or reply.synth_done
                                                             and not self.s.playing):
            self._finish_reply()

    def _finish_reply(self, hung_up: bool = False) -> None:
        """Record the reply in progress: what the caller heard of it, and its timing."""
        with self._lock:
            reply, self.reply = self.reply, None
            self.gate.disarm()
            if reply is not None and reply.held:
                self._discard(reply, "the call ended")
                return
        if reply is None or not (reply.generated or hung_up):
            return
        interrupted = reply.interrupted or (hung_up and self.s.playing)
        heard = self._heard_text(reply) if interrupted else reply.text
        if reply.timeline is not None:
            self._record_timeline(reply)
        if heard:
            self.history.append(Message("assistant", heard, interrupted))
        if not hung_up:
            self.engines.brain.prepare(list(self.history))
        tag = " [interrupted]" if interrupted else ""
        if reply.timeline is not None or interrupted:
            log.info("%s: agent: %s%s", self.name, heard or "(nothing heard)", tag)
        self._write_transcript("assistant", heard, reply.t_start, time.monotonic(), interrupted)
        if reply.goodbye and not interrupted and not hung_up:
            log.info("%s: goodbye said: hanging up", self.name)
            self.s.hangup("agent said goodbye")

    def _heard_text(self, reply: _Reply) -> str:
        playout = self.s.playout
        words: list[str] = []
        for item, text in reply.items:
            fraction = playout.heard_fraction(item)
            chunk_words = text.split()
            words.extend(chunk_words[: int(round(fraction * len(chunk_words)))])
            if fraction < 1.0:
                break
        return " ".join(words)

    def _record_timeline(self, reply: _Reply) -> None:
        timeline = reply.timeline
        assert timeline is not None
        if reply.items:
            timeline.t_first_audio_out = self.s.playout.first_out.get(reply.items[0][0], 0.0)
        log.info("%s: %s", self.name, timeline.summary())
        if self._timeline:
            self._timeline.write(timeline.record())

    def _write_transcript(self, role: str, text: str, t_start: float, t_end: float, interrupted: bool) -> None:
        if self._transcript:
            self._transcript.write({"role": role, "text": text, "start_secs": round(t_start - self._t0, 3),
                                    "end_secs": round(t_end - self._t0, 3), "interrupted": interrupted})


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def greeting_text(cfg: SpeechConfig, brain: Brain) -> str:
    """The greeting: ``--greeting`` text, "" for none, or auto (the brain's, else the default)."""
    if cfg.greeting != "auto":
        return cfg.greeting.strip()
    return (brain.greeting() or DEFAULT_GREETING).strip()


class ConversationHandler(CallHandler):
    """Runs a :class:`CallConversation` for each call, on shared engines."""

    def __init__(self, engines: Engines, cfg: SpeechConfig) -> None:
        self.engines = engines
        self.cfg = cfg

    def run(self, session: CallSession) -> None:
        CallConversation(session, self.engines, self.cfg).run()

    def close(self) -> None:
        self.engines.close()


def make_conversation_handler(cfg: Config) -> ConversationHandler:
    """Load the models named by ``cfg`` (ModelError if one is missing or broken)."""
    from .engines import load_engines

    return ConversationHandler(load_engines(cfg.speech), cfg.speech)
