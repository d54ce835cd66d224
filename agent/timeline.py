"""Per-turn latency timeline: when each stage of a turn happened.

Pure: times are monotonic seconds given by the caller; nothing here reads a
clock.  ``stages_ms()`` breaks end-of-speech -> first-audio-out into stages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["TurnTimeline", "STAGES"]

STAGES = ("endpoint_wait", "stt_final", "first_token", "first_chunk_text", "synthesis", "playout")
"""Stage names, in order; each is the time from the previous mark to its own."""


@dataclass
class TurnTimeline:
    """Marks of one turn (monotonic seconds; 0.0 = did not happen)."""

    turn: int
    t_end_of_speech: float = 0.0
    t_endpoint: float = 0.0
    t_stt_final: float = 0.0
    t_first_token: float = 0.0
    t_first_chunk_text: float = 0.0
    t_first_audio_ready: float = 0.0
    t_first_audio_out: float = 0.0
    user_text: str = ""
    first_chunk: str = ""
    actions: list[dict[str, Any]] = field(default_factory=list)
    """The call actions the reply carried (transfer, digits, hang-up, facts looked up)."""
    speculative: bool = False
    """The reply was prepared during a pause, before the endpoint: marks after the
    final transcript that happened earlier count as zero-length stages."""

    def stages_ms(self) -> dict[str, float]:
        marks = [self.t_end_of_speech, self.t_endpoint, self.t_stt_final, self.t_first_token,
                 self.t_first_chunk_text, self.t_first_audio_ready, self.t_first_audio_out]
        for i in range(1, len(marks)):
            if marks[i] and marks[i - 1]:
                marks[i] = max(marks[i], marks[i - 1])
        stages: dict[str, float] = {}
        for name, start, end in zip(STAGES, marks, marks[1:], strict=False):
            if start and end:
                stages[name] = round((end - start) * 1000.0, 1)
        return stages

    @property
    def voice_to_voice_ms(self) -> float | None:
        """End of the caller's speech to the agent's first audio frame out."""
        if self.t_end_of_speech and self.t_first_audio_out:
            return round((self.t_first_audio_out - self.t_end_of_speech) * 1000.0, 1)
        return None

    @property
    def text_to_audio_ms(self) -> float | None:
        """Reply text available (first chunk's text) to first audio frame out."""
        if self.t_first_chunk_text and self.t_first_audio_out:
            return round((self.t_first_audio_out - self.t_first_chunk_text) * 1000.0, 1)
        return None

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict: the marks, the stages and the totals."""
        data = asdict(self)
        data["stages_ms"] = self.stages_ms()
        data["voice_to_voice_ms"] = self.voice_to_voice_ms
        data["text_to_audio_ms"] = self.text_to_audio_ms
        return data

    def summary(self) -> str:
        """One log line: the total and the stages."""
        stages = ", ".join(f"{k.replace('_', ' ')} {v:.0f}" for k, v in self.stages_ms().items())
        total = self.voice_to_voice_ms
        head = f"end of speech -> first audio {total:.0f} ms" if total is not None else "no audio"
        return f"turn {self.turn}: {head} ({stages})"
