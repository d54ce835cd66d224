"""Answering-machine detection over the wire: the agent dials the bench's user agent (through its API), which
answers with a generated greeting, a person's ("Hello?") or a machine's (a long greeting, mostly with a beep).

Greetings: seven a person says (two at length, as a business answers: a machine's shape, known by their words)
and five a machine plays (one as short as a person's answer, known only by its words), each in Piper's voice
and two espeak-ng voices, after 0.3-0.8 s of silence, on a -55 dBFS noise floor; over G.722 and PCMU.  The
agent runs the scripted brain, so that it has a recogniser to read the words with.
Per call: the agent's decision (from ``GET /v1/calls/{id}``) and how much audio it needed.  ``unsure`` is
right for a person (the agent talks, as to a person) and wrong for a machine.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np

from ...frames import SAMPLE_RATE
from ...handlers import tone
from .corpus import ESPEAK_VOICES, espeak_available, render_espeak

__all__ = ["PEOPLE", "FORMAL_PEOPLE", "MACHINES", "SHORT_MACHINES", "amd_phase"]

PEOPLE = ["Hello?", "Yes?", "Hello, who's this?", "Hi, Sarah speaking.", "Hello, this is Mark."]
FORMAL_PEOPLE = ["Good morning, Brighton Dental, Sarah speaking.",
                 "Hi, this is Sarah Jones speaking, how can I help you?"]
"""People who answer at length, with a machine's shape (voice for over 1.5 s): known by their words."""
MACHINES = [("Hi, you've reached John Smith. I can't take your call right now, please leave a message after the "
             "tone.", 1000.0),
            ("Hello, you have reached the voicemail of 0 1 2 7 3, 5 5 5, 3 8 1. Please leave your message after the "
             "beep.", 850.0),
            ("Thanks for calling. Leave a message.", 0.0),
            ("The person you are calling is not available. Please leave a message after the tone.", 1400.0)]
SHORT_MACHINES = [("Please leave a message.", 0.0)]
"""A greeting with a person's shape (a few words, then silence) and a machine's words."""
CODECS = ("G722", "PCMU")
TOKEN_ENV = "SIP_AGENT_API_TOKEN"


def _speech(bench: Any, voice: str, text: str) -> np.ndarray:
    if voice == "piper":
        return np.asarray(bench.audio(text))
    return render_espeak(text, ESPEAK_VOICES[voice])


def _greeting(bench: Any, kind: str, text: str, beep_hz: float, voice: str, index: int) -> np.ndarray:
    def silence(secs: float) -> np.ndarray:
        return np.zeros(int(secs * SAMPLE_RATE), dtype=np.int16)

    parts = [silence(0.3 + 0.1 * (index % 6)), _speech(bench, voice, text)]
    if kind == "machine":
        parts += [silence(0.4), tone(beep_hz, 0.5, -12.0) if beep_hz else silence(0.0)]
    parts.append(silence(6.0))
    audio = np.concatenate(parts).astype(np.float64)
    noise = np.random.default_rng(index).standard_normal(len(audio)) * 32768 * 10 ** (-55 / 20)
    return np.clip(audio + noise, -32768, 32767).astype(np.int16)


def _api(port: int, token: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST" if body else "GET",
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def amd_phase(bench: Any, quick: bool, say: Callable[[str], None]) -> dict[str, Any]:
    """Per greeting and codec: the decision and the audio it took; accuracy and time to decision."""
    voices = ["piper", *(ESPEAK_VOICES if espeak_available() else [])]
    cases = ([("human", text, 0.0) for text in PEOPLE + FORMAL_PEOPLE]
             + [("machine", text, hz) for text, hz in MACHINES + SHORT_MACHINES])
    if quick:
        cases, voices = [cases[0], cases[3], cases[5], cases[7], cases[9], cases[-1]], voices[:1]
    token = secrets.token_hex(16)
    os.environ[TOKEN_ENV] = token  # the agents the bench starts inherit it
    caller = bench.caller
    rows: list[dict[str, Any]] = []
    for codec in CODECS[:1] if quick else CODECS:
        port = _free_port()
        agent, _records = bench.agent(f"amd-{codec}", "--brain", "scripted", "--codecs", codec, "--api-port", str(port),
                                      "--dial-rate", "0")
        caller.answer_calls(True)
        try:
            for index, (kind, text, beep_hz) in enumerate(cases):
                for voice in voices:
                    audio = _greeting(bench, kind, text, beep_hz, voice, index)
                    status, call = _api(port, token, "/v1/calls", {"to": caller.uri, "on_machine": "hangup",
                                                                   "ring_timeout_secs": 10})
                    if status != 202:
                        say(f"amd: the agent refused the call ({status}): {call}")
                        continue
                    found: dict[str, Any] = {}
                    if caller.wait_answered(10.0):
                        caller.say(audio)
                        deadline = time.monotonic() + 12.0
                        while time.monotonic() < deadline and not found.get("amd"):
                            caller.pump(0.2)
                            found = _api(port, token, f"/v1/calls/{call['id']}")[1]
                    bench.end_call()
                    decision = (found.get("amd") or {}).get("decision", "none")
                    right = decision == kind or (kind == "human" and decision == "unsure")
                    rows.append({"codec": codec, "voice": voice, "kind": kind, "text": text, "beep_hz": beep_hz,
                                 "decision": decision, "cause": (found.get("amd") or {}).get("cause"),
                                 "after_ms": (found.get("amd") or {}).get("after_ms"),
                                 "words": (found.get("amd") or {}).get("words", ""),
                                 "words_ms": (found.get("amd") or {}).get("words_ms", 0), "right": right})
                    say(f"amd {codec} [{voice}] {kind}: {'ok' if right else 'WRONG'} {decision} "
                        f"({rows[-1]['cause']}, {rows[-1]['after_ms']} ms): {text[:40]}")
                    _wait_ended(port, token, call["id"])
        finally:
            caller.answer_calls(False)
            agent.stop()
    return _summary(rows)


def _wait_ended(port: int, token: str, call_id: str) -> None:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and _api(port, token, f"/v1/calls/{call_id}")[1].get("status") != "ended":
        time.sleep(0.1)


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def rate(chosen: list[dict[str, Any]]) -> float | None:
        return round(sum(r["right"] for r in chosen) / len(chosen), 3) if chosen else None

    times = [r["after_ms"] for r in rows if r["after_ms"] is not None]
    reads = [r["words_ms"] for r in rows if r.get("words_ms")]
    return {
        "calls": len(rows),
        "accuracy": rate(rows),
        "people_right": f"{sum(r['right'] for r in rows if r['kind'] == 'human')}/"
                        f"{sum(r['kind'] == 'human' for r in rows)}",
        "machines_right": f"{sum(r['right'] for r in rows if r['kind'] == 'machine')}/"
                          f"{sum(r['kind'] == 'machine' for r in rows)}",
        "by_codec": {codec: rate([r for r in rows if r["codec"] == codec]) for codec in CODECS},
        "decision_ms_p50": round(statistics.median(times)) if times else None,
        "words_ms_p50": round(statistics.median(reads)) if reads else None,
        "by_words": sum(r["cause"] == "WORDS" for r in rows),
        "decision_ms_p95": round(sorted(times)[min(len(times) - 1, int(0.95 * len(times)))]) if times else None,
        "rows": rows,
    }
