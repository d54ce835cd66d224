"""The ``overtalk`` phase: sounds over the agent's reply; which of them cut it off?

For each VAD and codec an agent of its own (scripted brain) is called once
per sound: the caller asks for the long reply, lets it play for a second,
then makes the sound (line and room noise, a cough, a hummed or spoken
"mm-hmm", or a real interruption such as "stop").  What the caller hears
afterwards decides, on the wire: the long reply still playing three
seconds after the sound means the agent went on; silence then means the
sound stopped the reply (its short answer to the caller's words is over by
then).  The largest silence in the agent's audio around the sound shows
a pause that was resumed.

``false_rate`` is the share of noises and non-words that stopped the reply;
``hit_rate`` the share of real interruptions that did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ...frames import SAMPLE_RATE
from .sounds import interruptions, noises, non_words
from .texts import TRIGGERS

__all__ = ["OVERTALK_CONFIGS", "overtalk_phase"]

OVERTALK_CONFIGS = (("silero", "G722"), ("silero", "PCMU"), ("energy", "G722"))
"""(VAD, codec) pairs measured; the energy VAD is the baseline."""
REPLY_PLAYS_SECS = 1.0
"""How long the long reply plays before the sound."""
CHECK_AFTER_SECS = (3.0, 4.0)
"""Window after the sound's end in which a reply that went on is still heard."""
PAUSED_MS = 600
"""A silence this long in a reply that went on is a pause (the reply's own gaps between sentences are ~300 ms)."""
QUICK = ("hiss -20 dBFS", "double cough", "hummed mm-hmm", "piper Stop.")


def _largest_gap_ms(voiced: list[float], start: float, end: float) -> float:
    times = [start, *[t for t in voiced if start < t < end], end]
    return round(max(b - a for a, b in zip(times, times[1:], strict=False)) * 1000.0, 0)


def _trial(bench: Any, uri: str, clip: np.ndarray) -> dict[str, Any] | None:
    caller = bench.caller
    result: dict[str, Any] | None = None
    if caller.dial(uri):
        t_asked = caller.say(bench.audio(TRIGGERS["long"]))
        caller.pump_until(lambda: not caller.playout.playing, 10.0)
        if caller.wait_agent_audio(t_asked, 20.0) is not None:
            caller.pump(REPLY_PLAYS_SECS)
            t_onset = time.monotonic() + caller.playout.pending_frames * 0.02
            t_end = caller.say(clip)
            caller.pump(t_end + CHECK_AFTER_SECS[1] - time.monotonic())
            voiced = caller.voiced_times()
            went_on = any(t_end + CHECK_AFTER_SECS[0] <= t <= t_end + CHECK_AFTER_SECS[1] for t in voiced)
            silence = _largest_gap_ms(voiced, t_onset, t_end + 1.5)
            result = {"stopped": not went_on, "paused": went_on and silence >= PAUSED_MS,
                      "secs": round(len(clip) / SAMPLE_RATE, 2), "largest_silence_ms": silence}
    bench.end_call()
    return result


def overtalk_phase(bench: Any, quick: bool, say: Callable[[str], None]) -> dict[str, Any]:
    """Per ``vad`` / ``codec``: each sound's outcome, the false-interruption and hit rates."""
    piper = bench.audio
    groups = {"noise": noises(), "non-word": non_words(piper), "interruption": interruptions(piper)}
    if quick:
        groups = {g: {k: v for k, v in clips.items() if k in QUICK} for g, clips in groups.items()}
    out: dict[str, Any] = {}
    for vad, codec in OVERTALK_CONFIGS[:1] if quick else OVERTALK_CONFIGS:
        agent, _records = bench.agent(f"overtalk-{vad}-{codec}", "--brain", "scripted", "--script",
                                      str(bench.script), "--vad", vad, "--codecs", codec)
        cell: dict[str, Any] = {"sounds": {}}
        try:
            for group, clips in groups.items():
                for name, clip in clips.items():
                    outcome = _trial(bench, agent.uri, clip)
                    if outcome is None:
                        say(f"overtalk {vad} {codec}: no call, or no long reply, before '{name}'; skipped")
                        continue
                    cell["sounds"][name] = {"group": group, **outcome}
                    what = "stopped" if outcome["stopped"] else "paused, went on" if outcome["paused"] else "went on"
                    say(f"overtalk {vad} {codec}: {name}: {what}")
        finally:
            agent.stop()
        for group, key in (("noise", "false_rate_noise"), ("non-word", "false_rate_non_words"),
                           ("interruption", "hit_rate")):
            stopped = [s["stopped"] for s in cell["sounds"].values() if s["group"] == group]
            cell[key] = round(sum(stopped) / len(stopped), 3) if stopped else None
            cell[f"n_{group.replace('-', '_')}"] = len(stopped)
        cell["paused_then_went_on"] = sum(s["paused"] for s in cell["sounds"].values())
        out.setdefault(vad, {})[codec] = cell
    return out
