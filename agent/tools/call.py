"""``sip-agent call URI``: the built-in caller in a process of its own, a JSON summary per call.

It places calls, plays audio into them (a WAV file, a tone, or spoken turns
with waits for the agent's answer) and prints what happened as one JSON line
per call; the tests use it as the "second real caller".
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..frames import FRAME_SAMPLES, SAMPLE_RATE
from ..records import read_wav
from .caller import Caller, CallerResult

__all__ = ["run_caller_cli", "run_steps"]


def _load_audio(spec: str) -> np.ndarray:
    """'tone:440' or a 16-bit mono/stereo WAV path -> int16 at 16 kHz."""
    from ..handlers import tone
    from ..media.resample import resample

    if spec.startswith("tone:"):
        try:
            freq = float(spec.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"bad --play value '{spec}': expected tone:HZ or a WAV file") from None
        return tone(freq, 60.0)
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"--play file not found: {path}")
    try:
        rate, data = read_wav(path)
    except Exception as exc:
        raise ConfigError(f"cannot read WAV {path}: {exc}") from None
    return resample(data[:, 0], rate, SAMPLE_RATE)


def run_caller_cli(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.repeat < 1 or args.duration <= 0:
        raise ConfigError("--repeat must be at least 1 and --duration positive")
    audio = _load_audio(args.play)
    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    caller = Caller(bind=args.bind, codecs=codecs)
    caller.start()
    results = []
    try:
        for _ in range(args.repeat):
            results.append(_one_call(caller, args, audio))
    finally:
        caller.shutdown()
    for result in results:
        print(json.dumps(result.as_dict()), flush=True)
    return 0 if all(r.status // 100 == 2 for r in results) else 1


def _one_call(caller: Caller, args: argparse.Namespace, audio: np.ndarray) -> CallerResult:
    caller.reset()
    if args.steps:
        if caller.dial(args.uri):
            run_steps(caller, json.loads(args.steps))
        return caller.end_call()
    if caller.dial(args.uri):
        n = int(args.duration * SAMPLE_RATE) // FRAME_SAMPLES * FRAME_SAMPLES
        caller.say(audio[:n])
        if args.dtmf:
            caller.pump(0.3)
            caller.send_dtmf(args.dtmf)
        caller.pump_until(lambda: not caller.connected, args.duration)
        if not caller.connected:
            caller.result.hung_up_by = "agent"
        if args.record:
            write_wav(Path(args.record), caller.received()[1])
    return caller.end_call()


def run_steps(caller: Caller, steps: list[dict[str, Any]]) -> None:
    """Play a spoken script; each step's outcome is appended to ``caller.result.events``."""
    from ..tts.base import create_tts

    # the same words always sound the same: a run can be repeated
    voice = create_tts("piper", steady=True) if any("say" in step for step in steps) else None
    events = caller.result.events
    t_mark = time.monotonic()
    for step in steps:
        now = time.monotonic()
        if ("say" in step and voice is not None) or "play" in step:
            audio = voice.synthesize(str(step["say"])) if "say" in step and voice else _load_audio(str(step["play"]))
            t_start = time.monotonic() + caller.playout.pending_frames * 0.02
            t_mark = caller.say(audio)
            events.append({"say": step.get("say", step.get("play")), "t_start": t_start, "t_end": t_mark})
        elif "wait_audio" in step:
            t = caller.wait_agent_audio(t_mark, float(step["wait_audio"]))
            events.append({"audio_start": t, "after": t_mark, "latency_ms": (t - t_mark) * 1000 if t else None})
        elif "wait_quiet" in step:
            t = caller.wait_agent_quiet(float(step["wait_quiet"]), 120.0)
            events.append({"audio_end": t, "t": time.monotonic()})
        elif "sleep" in step:
            caller.pump(float(step["sleep"]))
            events.append({"slept": step["sleep"], "t": now})
        elif step.get("hangup"):
            caller.hangup()
            events.append({"hangup": now})
        if not caller.connected:
            events.append({"disconnected": time.monotonic()})
            caller.result.hung_up_by = caller.result.hung_up_by or "agent"
            break
    voiced = [float(t) for t in caller.voiced_times()]
    events.append({"voiced_times": voiced})


def write_wav(path: Path, pcm: np.ndarray) -> None:
    """16 kHz mono 16-bit WAV."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.astype(np.int16).tobytes())
