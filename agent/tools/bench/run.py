"""The benchmark's phases: the agent in its own process, the caller here, real SIP and RTP.

Both processes stamp ``time.monotonic()`` (one clock system-wide on Linux),
so an interval from an agent mark (its per-turn timeline) to a caller mark
(arrival of the first non-silent frame) is exact.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...frames import SAMPLE_RATE
from ...tts.base import TtsEngine
from ..caller import Caller, speech_end_offset, speech_start_offset
from ..harness import LOOPBACK, AgentProcess
from ..records import call_folders, timelines, user_texts
from .texts import INTERRUPTION, PATTERNS, QUESTIONS, TRIGGERS, UTTERANCES, write_script

__all__ = ["Turn", "Bench"]

log = logging.getLogger(__name__)

TTS_ATTEMPTS = 3
"""A TTS turn whose trigger the agent misheard (it then measures the wrong reply) is asked again."""
BARGE_IN_AFTER_SECS = 1.5
"""How long the agent's long reply plays before the caller talks over it."""
CALLER_RTP = range(42000, 43000)
AGENT_RTP = range(40000, 41000)


@dataclass
class Turn:
    """One measured turn: what the caller did and saw, and the agent's timeline for it."""

    phase: str
    kind: str
    t_speech_end: float = 0.0
    utterance_secs: float = 0.0
    voiced: list[float] = field(default_factory=list)
    timeline: dict[str, Any] | None = None
    t_onset: float = 0.0
    """Barge-in turns: when the caller's speech over the agent began."""

    def first_voiced_after(self, t: float) -> float | None:
        return next((v for v in self.voiced if v > t), None)


def _heard_since(records: Path, calls_before: int) -> list[str]:
    """What the agent heard the caller say in the calls it recorded after the first ``calls_before``."""
    return user_texts(call_folders(records)[calls_before:])


class Bench:
    """Runs the phases; ``say`` synthesises the caller's words with Piper."""

    def __init__(self, workdir: Path, voice: TtsEngine, progress: Callable[[str], None],
                 agent_args: list[str] | None = None) -> None:
        self.workdir = workdir
        self.agent_args = agent_args or []
        self.voice = voice
        self.progress = progress
        # the agent picks the codec (--codecs); no transfer target on loopback: REFER gets 603
        self.caller = Caller(codecs=["G722", "PCMU"], refuse_transfers=True)
        self.caller.start()
        self.turns: list[Turn] = []
        self._audio: dict[str, np.ndarray] = {}
        self.script = write_script(workdir / "bench_script.toml")
        self.on_call_end: Callable[[], None] = lambda: None

    def close(self) -> None:
        self.caller.shutdown()

    def audio(self, text: str) -> np.ndarray:
        if text not in self._audio:
            self._audio[text] = self.voice.synthesize(text)
        return self._audio[text]

    # -- one agent per configuration ----------------------------------
    def agent(self, name: str, *args: str) -> tuple[AgentProcess, Path]:
        records = self.workdir / name
        agent = AgentProcess(self.workdir, [*LOOPBACK, "--greeting", "", "--records-dir", str(records),
                                            "--log-level", "info", *self.agent_args, *args], name=name)
        return agent.start(timeout=120.0), records

    def _say(self, turn: Turn, text: str) -> None:
        audio = self.audio(text)
        t_end = self.caller.say(audio)
        turn.t_speech_end = t_end - speech_end_offset(audio)
        turn.utterance_secs = len(audio) / SAMPLE_RATE
        self.caller.pump_until(lambda: not self.caller.playout.playing, turn.utterance_secs + 5.0)

    def _collect_voiced(self, turn: Turn) -> None:
        turn.voiced = [t for t in self.caller.voiced_times() if t > turn.t_speech_end][:200]

    def end_call(self) -> None:
        self.caller.end_call()
        self.on_call_end()
        self.caller.reset()

    # -- phases --------------------------------------------------------
    def tts_phase(self, mode: str, per_length: int) -> list[Turn]:
        """One call per turn: ask for a reply of a given length, measure its first audio."""
        # no speculation: the reply text must be available before its audio may start
        agent, records = self.agent(f"tts-{mode}", "--brain", "scripted", "--script", str(self.script),
                                     "--tts-mode", mode, "--speculate-ms", "0")
        turns = []
        try:
            for _ in range(per_length):
                for kind in ("short", "medium", "long"):
                    for attempt in range(1, TTS_ATTEMPTS + 1):
                        turn = Turn(f"tts-{mode}", kind)
                        calls_before = len(call_folders(records))
                        if self.caller.dial(agent.uri):
                            self._say(turn, TRIGGERS[kind])
                            self.caller.wait_agent_audio(turn.t_speech_end, 20.0)
                            self.caller.pump(0.3)
                            self._collect_voiced(turn)
                        self.end_call()
                        turns.append(turn)
                        heard = _heard_since(records, calls_before)
                        if any(re.search(PATTERNS[kind], line) for line in heard):
                            break
                        again = "once more" if attempt < TTS_ATTEMPTS else "giving up on this turn"
                        self.progress(f"tts {mode}: the agent misheard the {kind} trigger ({heard}); {again}")
                self.progress(f"tts {mode}: {len(turns)} turns")
        finally:
            agent.stop()
        return self._match(turns, records)

    def stt_phase(self, per_length: int) -> list[Turn]:
        """One call, utterances of about 2, 10 and 30 s; the agent's final transcript times."""
        agent, records = self.agent("stt", "--brain", "scripted", "--script", str(self.script))
        turns = []
        try:
            if self.caller.dial(agent.uri):
                for i in range(per_length):
                    for kind in ("short", "medium", "long"):
                        turn = Turn("stt", kind)
                        self._say(turn, UTTERANCES[kind][i % len(UTTERANCES[kind])])
                        self.caller.wait_agent_audio(turn.t_speech_end, 15.0)
                        self.caller.wait_agent_quiet(0.8, 10.0)
                        turns.append(turn)
                    self.progress(f"stt: {len(turns)} utterances")
            self.end_call()
        finally:
            agent.stop()
        return self._match(turns, records)

    def v2v_phase(self, count: int) -> list[Turn]:
        """One call with the default LLM: questions, first answer audio at the caller."""
        agent, records = self.agent("v2v", "--brain", "llm")
        turns = []
        try:
            if self.caller.dial(agent.uri):
                for i in range(count):
                    turn = Turn("v2v", "question")
                    self._say(turn, QUESTIONS[i % len(QUESTIONS)])
                    self.caller.wait_agent_audio(turn.t_speech_end, 30.0)
                    self.caller.pump(0.3)
                    self._collect_voiced(turn)
                    self.caller.wait_agent_quiet(1.0, 10.0)
                    turns.append(turn)
                    self.progress(f"voice to voice: {len(turns)} turns")
            self.end_call()
        finally:
            agent.stop()
        return self._match(turns, records)

    def bargein_phase(self, count: int) -> list[Turn]:
        """One call: the agent's long reply, the caller talks over it; onset -> agent silent at the caller."""
        agent, records = self.agent("bargein", "--brain", "scripted", "--script", str(self.script))
        turns = []
        try:
            if self.caller.dial(agent.uri):
                for _ in range(count):
                    turn = Turn("bargein", "interrupt")
                    self._say(turn, TRIGGERS["long"])
                    if self.caller.wait_agent_audio(turn.t_speech_end, 20.0) is None:
                        self.progress("barge-in: no reply to the long trigger (misheard?)")
                        continue
                    self.caller.pump(BARGE_IN_AFTER_SECS)
                    audio = self.audio(INTERRUPTION)
                    t_first_sample = time.monotonic() + self.caller.playout.pending_frames * 0.02
                    turn.t_onset = t_first_sample + speech_start_offset(audio)
                    self._say(turn, INTERRUPTION)
                    self.caller.pump(2.0)  # the agent's answer to the interruption
                    self.caller.wait_agent_quiet(1.0, 20.0)
                    turn.voiced = [t for t in self.caller.voiced_times() if t > turn.t_onset - 1.0]
                    turns.append(turn)
                    self.progress(f"barge-in: {len(turns)} turns")
            self.end_call()
        finally:
            agent.stop()
        self.turns.extend(turns)
        return turns

    # -- matching the caller's turns to the agent's timelines ------------
    def _match(self, turns: list[Turn], records: Path) -> list[Turn]:
        recorded = timelines(records)
        for turn in turns:
            near = [t for t in recorded if abs(t["t_end_of_speech"] - turn.t_speech_end) < 3.0]
            if near:
                turn.timeline = min(near, key=lambda t: abs(t["t_end_of_speech"] - turn.t_speech_end))
        self.turns.extend(turns)
        return turns

