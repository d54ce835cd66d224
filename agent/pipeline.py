"""One call's conversation as a pipeline of stages joined by queues of typed frames.

    media port --AudioChunk--> turn (VAD, endpointing, barge-in) --speech--> stt
         ^                         |  activity, long speech                |  transcripts
         |                         v                                       v
      playout <--Play/flush-- conductor (turn state machine) <--------------+
                                   |  ReplyRequest          ^ deltas, chunks, speech, progress
                                   v                        |
                                dialog --TextChunk--> tts --+

Each stage is a :class:`~agent.worker.Worker` on its own thread; the
conductor runs on the call's handler thread.  Frames flow one way through the
stages; every stage also reports to the conductor's inbox, and only the
conductor acts: an interrupt jumps the queue, flushes what is downstream
(playout, TTS and dialog queues) and cancels generation.  No stage calls a
method of another.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import numpy as np

from agent.conductor import Conductor
from agent.config import SpeechConfig
from agent.dialog.pacer import Pacer
from agent.dialog.stage import DialogStage
from agent.engines import Engines, greeting_text
from agent.events import caller_number
from agent.frames import FinalTranscript, Frame, Hangup, InputEnded, StageFailed
from agent.media.priority import lower_thread_priority
from agent.queues import FrameQueue
from agent.scheduler import CallDemand, bind, bound
from agent.session import CallHandler, CallSession
from agent.stt.stage import SttStage
from agent.tts.stream import TtsStage
from agent.turn.end_of_turn import EndOfTurn, TurnHints
from agent.turn.endpointing import Endpointer
from agent.turn.listener import Listener, ListenerStage
from agent.turn.machine import TurnConfig, TurnMachine
from agent.worker import Worker

__all__ = ["CallPipeline", "ConversationHandler"]

log = logging.getLogger(__name__)

POLL_SECS = 0.1
LAST_WORDS_SECS = 6.0
"""How long a call that ended waits for the caller's last words to be decoded."""
DECODE_PAUSE_MS = 200
"""Silence mid-turn reported to the recogniser when there is no speculation to set it."""


def capture_question(transcript: list[dict[str, Any]]) -> str:
    """The agent's words since the caller's last turn when a message's or booking's rules said them (a question
    for a value, or a read-back), else "": the recogniser hears the answer with them (:class:`TurnHints`)."""
    said, capture = "", False
    for record in reversed(transcript[-8:]):
        if record.get("role") == "user":
            break
        if record.get("role") == "assistant" and not said:
            said = str(record.get("text", ""))
        capture = capture or (record.get("action") == "decision" and record.get("kind") == "capture")
    return said if capture else ""


class CallPipeline:
    """Builds one call's stages and queues, runs the conductor until the call ends, stops them all."""

    def __init__(self, session: CallSession, engines: Engines, cfg: SpeechConfig) -> None:
        self.s = session
        self.engines = engines
        self.cfg = cfg
        name = session.call_id
        self.inbox: FrameQueue = session.events
        self.to_stt = FrameQueue()
        self.to_dialog = FrameQueue()
        self.to_tts = FrameQueue()
        self.pacer = Pacer()
        speculate = 0 < cfg.speculate_ms < cfg.endpoint_ms
        # Pauses are reported even without speculation: a recogniser that decodes in stretches uses them.
        pause_ms = cfg.speculate_ms if speculate else min(DECODE_PAUSE_MS, cfg.endpoint_ms // 2)
        self.hints = hints = TurnHints()
        end_of_turn = None if cfg.end_of_turn == "silence" else EndOfTurn(
            cfg.endpoint_ms, cfg.endpoint_max_ms, engines.turn_model if cfg.end_of_turn == "smart-turn" else None,
            hints)
        listener = Listener(vad=engines.new_vad(), endpointer=Endpointer(endpoint_ms=cfg.endpoint_ms),
                            barge_in_ms=cfg.barge_in_ms, pause_ms=pause_ms, end_of_turn=end_of_turn)
        self.brain = engines.brain.for_call(caller_number(session.remote), session.facts)
        report, urgent = self.inbox.put, self.inbox.put_control  # control frames (failures, barge-in) jump
        self.stages: list[Worker] = [
            ListenerStage(f"turn-{name}", session.audio, listener, self.to_stt.put, report, urgent, urgent),
            SttStage(f"stt-{name}", engines.stt, self.to_stt, report, urgent, hints=hints),
            DialogStage(f"dialog-{name}", self.brain, self.to_dialog, self.to_tts.put, report, self.pacer,
                        pace=cfg.tts_mode == "streaming", on_failure=urgent),
            TtsStage(f"tts-{name}", engines.tts, self.to_tts, report, mode=cfg.tts_mode,  # type: ignore[arg-type]
                     on_failure=urgent),
        ]
        turn_cfg = TurnConfig(barge_in_ms=cfg.barge_in_ms, confirm_ms=cfg.barge_in_confirm_ms, speculate=speculate,
                              name=f"call {name}", is_goodbye=engines.brain.is_goodbye)
        self.machine = TurnMachine(turn_cfg, time.monotonic)
        self.conductor = Conductor(session, self.machine, self.to_dialog, self.to_tts, self.pacer, time.monotonic(),
                                   captures=self.brain.captures)
        self.demand = CallDemand(name, lambda: self.machine.state, self.pacer.audio_ahead_secs)
        for stage in self.stages:
            stage.demand = self.demand
        session.playout.on_progress = report

    def run(self) -> None:
        """On the call's handler thread: start the stages, conduct until hang-up, stop them."""
        bind(self.demand)
        for stage in self.stages:
            stage.start()
        try:
            greeting = self.s.greeting if self.s.greeting is not None else greeting_text(self.cfg, self.engines.brain)
            self.conductor.greet(greeting)
            while True:
                try:
                    frame = self.inbox.get(timeout=POLL_SECS)
                except queue.Empty:
                    self.conductor.tick()
                    continue
                if isinstance(frame, Frame):
                    self.conductor.feed(frame)
                    self.conductor.tick()
                    self.hints.can_join = self.machine.joinable
                    self.hints.asked = capture_question(self.s.transcript)
                if isinstance(frame, Hangup):
                    self._last_words()
                    return
                if isinstance(frame, StageFailed) and self.s.ended.is_set():
                    return
        finally:
            self.s.playout.on_progress = None
            self.conductor.commit_captures(self.machine.history, final=True)  # a caller who hung up half way
            self.conductor.close()
            for stage in reversed(self.stages):
                stage.stop()


    def _last_words(self) -> None:
        """The call ended: wait (up to ``LAST_WORDS_SECS``) for the words the caller said just before, which the
        turn and STT stages still pass on; they reach the transcript (and a message being taken)."""
        deadline = time.monotonic() + LAST_WORDS_SECS
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = self.inbox.get(timeout=min(left, POLL_SECS))
            except queue.Empty:
                continue
            if isinstance(frame, InputEnded):
                return
            if isinstance(frame, FinalTranscript):
                self.conductor.feed(frame)
            elif isinstance(frame, StageFailed):
                return
        log.info("%s: the caller's last words were not decoded within %.0f s of the hang-up", self.s.call_id,
                 LAST_WORDS_SECS)


class ConversationHandler(CallHandler):
    """Runs a :class:`CallPipeline` for each call, on shared engines."""

    def __init__(self, engines: Engines, cfg: SpeechConfig) -> None:
        self.engines = engines
        self.cfg = cfg

    def run(self, session: CallSession) -> None:
        CallPipeline(session, self.engines, self.cfg).run()

    @property
    def takes_facts(self) -> bool:
        return self.engines.brain.takes_facts

    hears = True

    def hear(self, audio: np.ndarray) -> str | None:
        """Decode ``audio`` whole with the calls' recogniser (it takes a compute slot as a turn's decode does), on
        a thread of low priority, as the pipeline's recogniser runs: the call's own thread is not lowered."""
        heard: list[str] = []
        failed: list[BaseException] = []
        demand = bound()

        def decode() -> None:
            lower_thread_priority()
            bind(demand)  # (for the call the calling thread works for)
            stream = self.engines.stt.new_stream()
            try:
                stream.accept(audio)
                heard.append(stream.finish().text)
            except BaseException as exc:  # handed to the call's thread
                failed.append(exc)
            finally:
                stream.close()

        worker = threading.Thread(target=decode, name="amd-words", daemon=True)
        worker.start()
        worker.join()
        if failed:
            raise failed[0]
        return heard[0] if heard else None

    def voicemail(self, session: CallSession, text: str) -> None:
        """Say ``text`` (synthesised on this call's thread), wait until it has been played, hang up."""
        audio = self.engines.tts.synthesize(text)
        session.play(audio, self.engines.tts.sample_rate)
        deadline = time.monotonic() + len(audio) / self.engines.tts.sample_rate + 5.0
        while session.playing and not session.ended.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the last frames on the wire
        session.hangup("voicemail left")

    def close(self) -> None:
        self.engines.close()
