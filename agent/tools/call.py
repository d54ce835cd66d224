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
from .caller import Caller, CallerResult, speech_end_offset

__all__ = ["run_caller_cli", "run_steps", "spoken_steps"]


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
    # synthesised before any call: no heavy work while a call is up
    steps = spoken_steps(_parse_steps(args.steps)) if args.steps else None
    caller = Caller(bind=args.bind, codecs=codecs, user=args.from_user, refuse_transfers=args.refuse_transfer)
    caller.start()
    results = []
    try:
        for _ in range(args.repeat):
            results.append(_one_call(caller, args, audio, steps))
    finally:
        caller.shutdown()
    for result in results:
        print(json.dumps(result.as_dict()), flush=True)
    return 0 if all(r.status // 100 == 2 for r in results) else 1


def _one_call(caller: Caller, args: argparse.Namespace, audio: np.ndarray,
              steps: list[dict[str, Any]] | None) -> CallerResult:
    caller.reset()
    if steps is not None:
        if caller.dial(args.uri):
            run_steps(caller, steps)
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


STEP_KINDS = ("say", "play", "wait_audio", "wait_quiet", "wait_transfer", "sleep", "hangup", "dtmf")


def _parse_steps(text: str) -> list[dict[str, Any]]:
    """``--steps`` JSON -> its list of steps, or a ConfigError that says what is wrong."""
    try:
        steps = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"bad --steps JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(steps, list) or not all(isinstance(step, dict) for step in steps):
        raise ConfigError("bad --steps: expected a JSON list of objects such as {\"say\": \"Hello\"}")
    for step in steps:
        if not any(kind in step for kind in STEP_KINDS):
            raise ConfigError(f"bad --steps step {json.dumps(step)}: it needs one of {', '.join(STEP_KINDS)}")
    return steps


def spoken_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps with the audio of each ``say`` and ``play`` step ready (key ``audio``).

    Piper (a steady voice: the same words always sound the same, so a run can be
    repeated) and file reading run here, before the call, so that neither
    competes with the media clock while the call is up.
    """
    from ..tts.base import create_tts

    voice = create_tts("piper", steady=True) if any("say" in step for step in steps) else None
    ready = []
    for step in steps:
        if "say" in step and voice is not None:
            step = {**step, "audio": voice.synthesize(str(step["say"]))}
        elif "play" in step:
            step = {**step, "audio": _load_audio(str(step["play"]))}
        ready.append(step)
    return ready


def run_steps(caller: Caller, steps: list[dict[str, Any]]) -> None:
    """Play a spoken script (from :func:`spoken_steps`); each step's outcome goes to ``caller.result.events``."""
    events = caller.result.events
    t_mark, t_speech_end = time.monotonic(), 0.0
    for step in steps:
        now = time.monotonic()
        if "audio" in step:
            audio = step["audio"]
            t_start = time.monotonic() + caller.playout.pending_frames * 0.02
            t_mark = caller.say(audio)
            t_speech_end = t_mark - speech_end_offset(audio)
            events.append({"say": step.get("say", step.get("play")), "t_start": t_start, "t_end": t_mark,
                           "t_speech_end": t_speech_end})
        elif "wait_audio" in step:
            t = caller.wait_agent_audio(t_mark, float(step["wait_audio"]))
            # latency: from the last sample sent; voice to voice: from the end of the speech in it
            events.append({"audio_start": t, "after": t_mark, "latency_ms": (t - t_mark) * 1000 if t else None,
                           "v2v_ms": (t - t_speech_end) * 1000 if t and t_speech_end else None})
        elif "wait_quiet" in step:
            t = caller.wait_agent_quiet(float(step["wait_quiet"]), 120.0)
            events.append({"audio_end": t, "t": time.monotonic()})
        elif "sleep" in step:
            caller.pump(float(step["sleep"]))
            events.append({"slept": step["sleep"], "t": now})
        elif "wait_transfer" in step:  # the agent's REFER: until the call to its target is up
            t = caller.wait_transferred(float(step["wait_transfer"]))
            t_mark, t_speech_end = t or t_mark, 0.0
            events.append({"transfer_up": t, "t": time.monotonic()})
        elif "dtmf" in step:
            caller.send_dtmf(str(step["dtmf"]))
            t_mark, t_speech_end = time.monotonic() + 0.2 * len(str(step["dtmf"])), 0.0  # (~0.2 s a digit)
            events.append({"dtmf": step["dtmf"], "t": now})
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
