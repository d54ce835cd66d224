"""The agent's reply in progress, as the turn state machine keeps it (pure).

It knows its chunks as they are synthesised, how much of each the caller
heard (from playout-progress frames), whether it was generated and
synthesised to the end, and its latency timeline; at the end it says what
to record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from agent.dialog.actions import action_record
from agent.frames import FinalTranscript, PlayoutProgress, SpeechChunk, TextChunk, TextDelta
from agent.timeline import TurnTimeline
from agent.turn.actions import Action, WriteTimeline, WriteTranscript

__all__ = ["Reply"]

log = logging.getLogger(__name__)


@dataclass
class Reply:
    """One reply: ``speculative`` while it was prepared at a pause and not yet released."""

    id: int
    user_text: str
    t_start: float
    timeline: TurnTimeline | None
    speculative: bool = False
    goodbye: bool = False
    text: str = ""
    generated: bool = False
    synthesised: bool = False
    chunks: dict[int, str] = field(default_factory=dict)
    progress: dict[int, PlayoutProgress] = field(default_factory=dict)
    held: list[SpeechChunk] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    """Its call actions (:mod:`agent.dialog.actions`), carried out once it is heard."""

    # -- what happened ------------------------------------------------------
    def first_token(self, frame: TextDelta) -> None:
        if self.timeline and not self.timeline.t_first_token:
            self.timeline.t_first_token = frame.t

    def first_chunk(self, frame: TextChunk) -> None:
        if self.timeline and not self.timeline.t_first_chunk_text:
            self.timeline.t_first_chunk_text = frame.t
            self.timeline.first_chunk = frame.text

    def audio_ready(self, frame: SpeechChunk) -> bool:
        """A chunk's speech is ready: True if it is to be played now (held while speculative)."""
        if self.timeline and not self.timeline.t_first_audio_ready:
            self.timeline.t_first_audio_ready = frame.t
        if self.speculative:
            self.held.append(frame)
            return False
        return True

    def playing(self, chunk: SpeechChunk) -> bool:
        """``chunk`` goes to the caller: False if it has no audio (then it counts as heard)."""
        self.chunks[chunk.index] = chunk.text
        if len(chunk.audio.samples) == 0:
            self.progress[chunk.index] = PlayoutProgress((self.id, chunk.index), 0, 0, t=chunk.t)
            return False
        return True

    def heard(self, progress: PlayoutProgress) -> None:
        tag = progress.tag
        if isinstance(tag, tuple) and tag[0] == self.id:
            self.progress[tag[1]] = progress

    def release(self, final: FinalTranscript, turn: int) -> list[SpeechChunk]:
        """The final words matched: it is a turn now; its held audio, to play."""
        assert self.timeline is not None
        timeline = self.timeline
        timeline.turn, timeline.speculative = turn, True
        timeline.t_end_of_speech, timeline.t_endpoint = final.t_end_of_speech, final.t_endpoint
        timeline.t_stt_final = final.t
        self.speculative = False
        held, self.held = self.held, []
        return held

    # -- where it stands ----------------------------------------------------
    def all_heard(self) -> bool:
        return all(index in self.progress and self.progress[index].done for index in self.chunks)

    @property
    def done(self) -> bool:
        return self.generated and self.synthesised and self.all_heard()

    def first_out(self) -> float:
        """When its first audio went to the caller (0.0: none yet)."""
        return min((p.t_first_out for p in self.progress.values() if p.t_first_out), default=0.0)

    def heard_text(self) -> str:
        words: list[str] = []
        for index in sorted(self.chunks):
            progress = self.progress.get(index)
            fraction = progress.heard_fraction if progress else 0.0
            chunk_words = self.chunks[index].split()
            words.extend(chunk_words[: int(round(fraction * len(chunk_words)))])
            if fraction < 1.0:
                break
        return " ".join(words)

    def records(self, interrupted: bool, now: float, name: str) -> tuple[str, list[Action]]:
        """At its end: what the caller heard, and the records to write (logged too)."""
        heard = self.heard_text() if interrupted else self.text
        actions: list[Action] = []
        if self.timeline is not None:
            first = self.progress.get(min(self.progress)) if self.progress else None
            self.timeline.t_first_audio_out = first.t_first_out if first else 0.0
            self.timeline.actions = [action_record(action) for action in self.actions]
            log.info("%s: %s", name, self.timeline.summary())
            actions.append(WriteTimeline(self.timeline.record()))
        if self.timeline is not None or interrupted:
            tag = " [interrupted]" if interrupted else ""
            log.info("%s: agent: %s%s", name, heard or "(nothing heard)", tag)
        actions.append(WriteTranscript("assistant", heard, self.t_start, now, interrupted))
        return heard, actions
